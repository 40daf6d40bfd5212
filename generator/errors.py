"""Errors meant for people, and the exit codes they map to. The CLI is the only place that prints them.

Every error carries a message (what went wrong) and, where there is one, a
hint (how to fix it). `exit_code` is one of `ExitCode`, the single list of
exit codes: `--help` is made from it and a test checks README against it.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """What a gostarter process exits with."""

    SUCCESS = 0
    FAILURE = 1
    USAGE = 2
    HANGUP = 128 + 1
    INTERRUPTED = 128 + 2
    TERMINATED = 128 + 15

    @property
    def meaning(self) -> str:
        return _MEANINGS[self]


_MEANINGS = {
    ExitCode.SUCCESS: "success",
    ExitCode.FAILURE: "failure, including a failed verification",
    ExitCode.USAGE: "bad usage or invalid input (an answer, a preset, a destination, an unreadable project, "
    "a template that cannot be reached)",
    ExitCode.HANGUP: "hung up (SIGHUP, a closed terminal); cleaned up as for 130",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C); whatever was started is removed",
    ExitCode.TERMINATED: "terminated (SIGTERM: a timeout, a cancelled CI job); cleaned up as for 130",
}


def exit_codes_help() -> str:
    """The exit-code table that ends every `--help`."""
    return "exit codes:\n" + "\n".join(f"  {code.value:<4} {code.meaning}" for code in ExitCode)


class Terminated(KeyboardInterrupt):
    """A termination signal, raised where the program is so that every `finally` cleans up."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


TERMINATION_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
_HANDLED = (signal.SIGINT, *TERMINATION_SIGNALS)
_received: list[int] = []  # the signals taken by _terminate in this process, first first


def _terminate(signum: int, _frame: object) -> None:
    for other in _HANDLED:
        signal.signal(other, signal.SIG_IGN)  # a second signal must not cut the clean-up short
    _received.append(signum)
    raise Terminated(signum)


@contextmanager
def terminations_interrupt() -> Iterator[None]:
    """Inside, SIGINT, SIGTERM and SIGHUP raise Terminated, a KeyboardInterrupt: they take the path
    of Ctrl-C, so every `finally` removes what was started (containers, staging, clones). After the
    first, the others are ignored until the process exits."""
    _received.clear()
    saved = {sig: signal.signal(sig, _terminate) for sig in _HANDLED}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            # once one was taken, the process is on its way out: the others stay ignored
            signal.signal(sig, signal.SIG_IGN if _received else handler)


def interrupting_signal(interrupt: KeyboardInterrupt) -> int:
    """The signal behind `interrupt`: its own, else the first one received (a library may re-raise
    it as a plain KeyboardInterrupt: Copier does at a question), else SIGINT (Ctrl-C at a prompt,
    read as a key)."""
    if isinstance(interrupt, Terminated):
        return interrupt.signum
    return _received[0] if _received else int(signal.SIGINT)


class GostarterError(Exception):
    """Root of every error gostarter reports to a person."""

    exit_code = ExitCode.FAILURE

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(GostarterError):
    """The command line, an answer or a preset is wrong."""

    exit_code = ExitCode.USAGE


class InvalidAnswerError(UsageError):
    """An answer (from --data, a preset or the answers file) fails its validator.

    Its data are fields, the message is made from them: `key` the question ("" when nobody can
    tell which: "invalid answer"), `detail` the validator's own words, `source` where the answer
    came from ("from --data", "in preset.toml"; "" for none)."""

    def __init__(self, key: str = "", detail: str = "", source: str = "", *, hint: str = "") -> None:
        self.key = key
        self.detail = detail
        self.source = source
        super().__init__(self._said(), hint=hint)

    def _said(self) -> str:
        return f"invalid {self.key or 'answer'}{_within(self.source)}: {self.detail}"

    def __reduce__(self) -> tuple[Any, ...]:
        # A fleet check's worker sends errors back through a process pool: rebuilt from its fields.
        return (_rebuilt, (type(self), self.__dict__))


class UnknownQuestionsError(InvalidAnswerError):
    """Answers to questions the template does not ask (or Copier's own `_` names): `keys`, in order."""

    def __init__(self, keys: Sequence[str] = (), source: str = "", *, hint: str = "") -> None:
        self.keys = tuple(keys)
        super().__init__("", "", source, hint=hint)

    def _said(self) -> str:
        listed = ", ".join(self.keys)
        return f"unknown question{'s' if len(self.keys) > 1 else ''} {listed}{_within(self.source)}"


def _within(source: str) -> str:
    return f" ({source})" if source else ""


def _rebuilt(cls: type[GostarterError], state: dict[str, Any]) -> GostarterError:
    """An error as it was pickled: its attributes, its message as its text, no constructor run."""
    error = cls.__new__(cls, state["message"])
    error.__dict__.update(state)
    return error


class PresetError(UsageError):
    """An organisation preset file cannot be used."""


class DestinationError(UsageError):
    """The destination directory cannot receive a new project."""


class RenderError(GostarterError):
    """Copier could not render or update the project. `os_error`: the OSError behind it, if one
    (the caller decides whose filesystem failed: the destination's, or the template's)."""

    def __init__(self, message: str, *, hint: str = "", os_error: OSError | None = None) -> None:
        super().__init__(message, hint=hint)
        self.os_error = os_error


class RenderBoundError(RenderError):
    """A rendering went past a bound (memory, CPU time): the same rendering would again, so nothing
    renders it a second time (check's fallback to a real update included)."""


class GitDirectoryError(UsageError):
    """A template would write into a git directory (`.git` at any depth): refused, nothing run."""

    def __init__(self, message: str, *, path: str = "", hint: str = "") -> None:
        # `path` has a default so that a fleet check's worker can send the error back (unpickled as
        # cls(message), then its attributes).
        super().__init__(message, hint=hint)
        self.path = path


class TemplateUnreachableError(UsageError):
    """The template's source cannot be reached (a wrong URL or path, the network, git refusing it):
    exit 2 wherever it is met, since the source is the user's to correct."""

    def __init__(self, message: str = "", *, source: str = "", reason: str = "", hint: str = "") -> None:
        # Defaults, so that a fleet check's worker can send the error back (unpickled as cls(message)).
        super().__init__(message or f"cannot reach the template {source}: {reason}", hint=hint)
        self.source = source
        self.reason = reason


class EnvironmentProblem(GostarterError):
    """Something the machine lacks: a Docker engine, BuildKit, a Go toolchain."""
