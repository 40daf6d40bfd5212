"""Errors meant for people. The CLI is the only place that prints them.

Every error carries a message (what went wrong) and, where there is one, a
hint (how to fix it). `exit_code` follows the documented convention:
1 failure, 2 bad usage or invalid input.
"""

from __future__ import annotations


class GostarterError(Exception):
    """Root of every error gostarter reports to a person."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(GostarterError):
    """The command line, an answer or a preset is wrong."""

    exit_code = 2


class InvalidAnswerError(UsageError):
    """An answer (from --data, a preset or the answers file) fails its validator."""


class PresetError(UsageError):
    """An organisation preset file cannot be used."""


class DestinationError(UsageError):
    """The destination directory cannot receive a new project."""


class RenderError(GostarterError):
    """Copier could not render or update the project."""


class EnvironmentProblem(GostarterError):
    """Something the machine lacks: a Docker engine, BuildKit, a Go toolchain."""


class VerificationFailed(GostarterError):
    """The generated project did not build, start or answer as it should."""
