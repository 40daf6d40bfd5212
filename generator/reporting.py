"""The words a verification reports in: its phases and outcomes (enums) and the Reporter protocol.

Two reporters implement the protocol: the terminal's (console.Progress: one
live line, or plain lines in a log) and the web initializr's event stream
(web/verify_process.EventStream: a JSON line per event). The verification
calls one of them without knowing which; a failing step is named by the
phase it was in (verify/docker.py), never by a reporter's text.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class Phase(StrEnum):
    """A phase of a verification, by the name the terminal shows (the web shows some otherwise)."""

    RENDER = "render"  # the web's: the project for the answers, before it is verified
    BUILD = "build"
    START = "start"
    SMOKE = "smoke"  # until GET / first answers
    HEALTHY = "healthy"  # /healthz, the HEALTHCHECK and the user, after the first answer
    STOP = "stop"


class Outcome(StrEnum):
    """How a verification (or one platform's) ended: the `result` of the TOML report and the web's result."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"  # the web's only: the client left, the server stopped


class Reporter(Protocol):
    """What a verification tells as it goes. `platform` names the platform whose phases follow,
    when a verification runs on several ("" otherwise)."""

    platform: str

    def phase(self, name: Phase, detail: str = "") -> None:
        """A new phase begins."""

    def step(self, detail: str) -> None:
        """A new step inside the phase (a build instruction, a check)."""

    def raw(self, line: str) -> None:
        """A raw log line (the build's)."""

    def note(self, message: str) -> None:
        """A message for the person, whatever the phase."""

    def close(self) -> None:
        """The verification is over: nothing more follows."""
