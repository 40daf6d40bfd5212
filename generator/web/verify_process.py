"""One verification, in a process of its own: render the answers, verify the project, report events.

The server starts `python -m generator.web.verify_process` per verification, sends
the job as JSON on stdin and reads JSON lines on stdout: the phases (render,
build with its log lines, start, first response, healthy, stop) with the
seconds since the job began, then the result. To cancel (a client that went
away, the deadline, the server stopping) it sends SIGTERM: inside
`terminations_interrupt` that takes the CLI's path of Ctrl-C, so the same
`finally` blocks stop the build client and remove the containers, the run's
image tag and the rendered project, and the process exits 143.

Nothing here verifies anything itself: it calls generator.verify.verify, with
a reporter that writes events instead of a terminal line.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

import tomli_w

from generator import verify
from generator.errors import ExitCode, GostarterError, Terminated, terminations_interrupt
from generator.reporting import Outcome, Phase
from generator.web import jobs
from generator.web.prepare import Prepared

# The page's names for the phases it calls otherwise than the terminal does.
SHOWN = {Phase.SMOKE: "first response"}


class Event(StrEnum):
    """What a line of the stream tells (`event:` of the server-sent events)."""

    QUEUED = "queued"  # the stream's own first event: the place in the queue
    PHASE = "phase"
    STEP = "step"
    LOG = "log"
    NOTE = "note"
    RESULT = "result"  # the last event
    CANCELLED = "cancelled"  # the verification was stopped (SIGTERM): no result follows from it


# Build log lines that say nothing to a person: layer digests and blank lines.
_NOISE = re.compile(r"^#\d+ sha256:|^\s*$")
FIGURES = (
    "image_size_bytes", "build_seconds", "first_response_seconds", "healthy_seconds",
    "stop_seconds", "stop_exit_code",
)  # fmt: skip


class EventStream:
    """A reporting.Reporter as JSON lines: one event per phase, step and build log line, with the
    elapsed time."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.began = time.monotonic()
        self.platform = ""

    def emit(self, event: Event, **fields: Any) -> None:
        record = {"event": event, "t": round(time.monotonic() - self.began, 3), **fields}
        self.out.write(json.dumps(record) + "\n")
        self.out.flush()

    def phase(self, name: Phase, detail: str = "") -> None:
        # With several platforms, each phase names the platform it belongs to.
        where = {"platform": self.platform} if self.platform else {}
        self.emit(Event.PHASE, name=SHOWN.get(name, name.value), detail=detail, **where)

    def step(self, detail: str) -> None:
        self.emit(Event.STEP, detail=detail)

    def raw(self, line: str) -> None:
        if not _NOISE.search(line):
            self.emit(Event.LOG, line=line)

    def note(self, message: str) -> None:
        self.emit(Event.NOTE, message=message)

    def close(self) -> None:
        """Nothing to close: every event is written as it comes."""


def result_event(result: verify.Result, app: str) -> dict[str, Any]:
    """The result as the page shows it: passed or failed, the summary, the figures, and after a
    pass the TOML report (naming the project by its app, not the server's temporary path)."""
    result.project = app
    event: dict[str, Any] = {
        "result": result.result,
        "summary": verify.summary(result),
        "figures": {name: getattr(result, name) for name in FIGURES},
    }
    if result.passed:
        event["report"] = tomli_w.dumps(result.report())
    else:
        event["reason"], event["log_tail"] = result.reason, result.log_tail
    return event


def run(job: jobs.Job, answers: dict[str, Any], progress: EventStream) -> None:
    progress.phase(Phase.RENDER, "the project for these answers")
    with jobs.rendered(job, answers) as project:
        result = verify.verify(project, mode="docker", progress=progress, remove_image=True)
        progress.emit(Event.RESULT, **result_event(result, str(answers.get("app_name") or project.name)))


def main() -> int:
    # The events get stdout to themselves: whatever else prints (Copier, a note) goes to stderr.
    events = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    progress = EventStream(events)
    try:
        with terminations_interrupt():
            request = json.load(sys.stdin)
            prepared = Prepared(Path(request["tree"]), request["version"], request["source"])
            job = jobs.Job(prepared, request["preset"], request["preset_source"])
            run(job, request["answers"], progress)
    except GostarterError as err:
        failed = {"result": Outcome.FAILED, "summary": err.message, "reason": err.message, "figures": {}}
        progress.emit(Event.RESULT, **failed)
        return err.exit_code
    except KeyboardInterrupt as interrupt:
        progress.emit(Event.CANCELLED)
        signum = interrupt.signum if isinstance(interrupt, Terminated) else 2
        return 128 + signum
    return ExitCode.SUCCESS


if __name__ == "__main__":
    sys.exit(main())
