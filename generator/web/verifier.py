"""One verification, in a process of its own: render the answers, verify the project, report events.

The server starts `python -m generator.web.verifier` per verification, sends
the job as JSON on stdin and reads JSON lines on stdout: the phases (render,
build with its log lines, start, first response, healthy, stop) with the
seconds since the job began, then the result. To cancel (a client that went
away, the deadline, the server stopping) it sends SIGTERM: inside
`terminations_interrupt` that takes the CLI's path of Ctrl-C, so the same
`finally` blocks stop the build client and remove the containers, the run's
image tag and the rendered project, and the process exits 143.

Nothing here verifies anything itself: it calls generator.verify.verify, with
a Progress that writes events instead of a terminal line.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import tomli_w

from generator import verify
from generator.console import Progress
from generator.errors import ExitCode, GostarterError, Terminated, terminations_interrupt
from generator.verify.docker import AFTER_FIRST_ANSWER
from generator.web import jobs
from generator.web.prepare import Prepared

# Verification's own names for its phases, as the page shows them.
PHASES = {"smoke": "first response"}
# The step after the first response: from here on the HEALTHCHECK is awaited.
HEALTH_STEP = AFTER_FIRST_ANSWER
# Build log lines that say nothing to a person: layer digests and blank lines.
_NOISE = re.compile(r"^#\d+ sha256:|^\s*$")
FIGURES = (
    "image_size_bytes", "build_seconds", "first_response_seconds", "healthy_seconds",
    "stop_seconds", "stop_exit_code",
)  # fmt: skip


class EventProgress(Progress):
    """Progress as JSON lines: one event per phase, step and build log line, with the elapsed time."""

    def __init__(self, out: TextIO) -> None:
        super().__init__(quiet=True)
        self.out = out
        self.began = time.monotonic()

    def emit(self, event: str, **fields: Any) -> None:
        record = {"event": event, "t": round(time.monotonic() - self.began, 3), **fields}
        self.out.write(json.dumps(record) + "\n")
        self.out.flush()

    def phase(self, name: str, detail: str = "") -> None:
        super().phase(name, detail)  # the current phase, which names a failing smoke step (quiet: no output)
        self.emit("phase", name=PHASES.get(name, name), detail=detail, **self._where())

    def step(self, detail: str) -> None:
        if detail == HEALTH_STEP:
            self.emit("phase", name="healthy", detail=detail, **self._where())
        else:
            self.emit("step", detail=detail)

    def _where(self) -> dict[str, str]:
        """With several platforms, each phase names the platform it belongs to."""
        return {"platform": self.platform} if self.platform else {}

    def raw(self, line: str) -> None:
        if not _NOISE.search(line):
            self.emit("log", line=line)

    def note(self, message: str) -> None:
        self.emit("note", message=message)

    def close(self) -> None:
        super().close()  # between phases again; quiet, so nothing to clear


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


def run(job: jobs.Job, answers: dict[str, Any], progress: EventProgress) -> None:
    progress.phase("render", "the project for these answers")
    with jobs.rendered(job, answers) as project:
        result = verify.verify(project, mode="docker", progress=progress, remove_image=True)
        progress.emit("result", **result_event(result, str(answers.get("app_name") or project.name)))


def main() -> int:
    # The events get stdout to themselves: whatever else prints (Copier, a note) goes to stderr.
    events = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    progress = EventProgress(events)
    try:
        with terminations_interrupt():
            request = json.load(sys.stdin)
            prepared = Prepared(Path(request["tree"]), request["version"], request["source"])
            job = jobs.Job(prepared, request["preset"], request["preset_source"])
            run(job, request["answers"], progress)
    except GostarterError as err:
        progress.emit("result", result="failed", summary=err.message, reason=err.message, figures={})
        return err.exit_code
    except KeyboardInterrupt as interrupt:
        progress.emit("cancelled")
        signum = interrupt.signum if isinstance(interrupt, Terminated) else 2
        return 128 + signum
    return ExitCode.SUCCESS


if __name__ == "__main__":
    sys.exit(main())
