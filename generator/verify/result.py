"""The result of a verification: the TOML report, the one-line summary, and the one printer."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import tomli_w

from generator import __version__, outputs
from generator.verify.checks import HELLO, Build, Run


@dataclass
class Result:
    """What one verification found; also the content of the TOML report."""

    result: str = "skipped"  # passed | failed | skipped
    mode: str = "none"
    project: str = ""
    image: str = ""
    image_size_bytes: int = 0
    binary_size_bytes: int = 0
    build_seconds: float = 0.0
    first_response_seconds: float = 0.0
    healthy_seconds: float = 0.0
    stop_seconds: float = 0.0
    stop_exit_code: int = -1
    user: str = ""
    reason: str = ""
    checks: list[str] = field(default_factory=list)
    log_tail: str = ""
    build_command: list[str] = field(default_factory=list)
    # Not in the report: the docker client that built the image, for the next steps.
    docker: str = field(default="", metadata={"report": False})

    @property
    def passed(self) -> bool:
        return self.result == "passed"

    @property
    def failed(self) -> bool:
        return self.result == "failed"

    def built(self, build: Build, what: str) -> None:
        """Record a finished build of the image or the binary."""
        self.build_seconds = build.seconds
        self.build_command = list(build.command)
        self.checks.append(f"{what} built in {build.seconds:.1f} s")

    def ran(self, run: Run) -> None:
        """Record what running the service measured."""
        self.first_response_seconds = run.first_response_seconds
        self.healthy_seconds = run.healthy_seconds
        self.user = run.user
        self.stop_seconds, self.stop_exit_code = run.stop_seconds, run.stop_exit_code

    def report(self) -> dict[str, Any]:
        data = asdict(self)
        for item in fields(self):
            if item.metadata.get("report") is False:
                data.pop(item.name)
        for key, value in data.items():
            if isinstance(value, float):
                data[key] = round(value, 4)
        if not self.failed:
            data.pop("log_tail")
        data["generated_by"] = f"gostarter {__version__}"
        data["finished_at"] = datetime.now(UTC).replace(microsecond=0)
        return data


def write_report(result: Result, path: Path, *, project: Path | None = None) -> None:
    """Write the TOML report as a regular file, replaced atomically (generator/outputs.py); a path
    inside `project` or that is not a regular file is refused (UsageError), a failed write is a
    GostarterError."""
    inside = [project] if project is not None else []
    outputs.write_file(path, tomli_w.dumps(result.report()).encode(), what="report", inside=inside)


def summary(result: Result) -> str:
    """A short human summary of a result."""
    if result.passed:
        if result.mode == "docker":
            what = f"image {result.image} ({result.image_size_bytes / 1e6:.1f} MB)"
        else:
            what = f"binary ({result.binary_size_bytes / 1e6:.1f} MB)"
        built = f"{what} built in {result.build_seconds:.1f} s"
        return (
            f"verification passed ({result.mode}): {built}; "
            f"GET / answered {HELLO!r} {result.first_response_seconds:.2f} s after start; "
            f"healthy; stopped with exit 0 in {result.stop_seconds:.2f} s"
        )
    if result.failed:
        return f"verification failed ({result.mode}): {result.reason}"
    return f"verification skipped: {result.reason}"


def print_result(
    result: Result,
    *,
    shown_as: str,
    kept: bool = False,
    quiet: bool = False,
    loud: bool = False,
    out: TextIO | None = None,
) -> None:
    """The one way a result reaches a person, from the CLI and from the Copier task alike.

    A pass or a skip is one line on `out` (stdout for the CLI); a failure goes
    to stderr with the log tail and what to do next (`shown_as` names the
    project; `kept` says it was kept after a new one failed). `loud` frames
    a failure in bars, so that it stands out among Copier's own output.
    """
    if not result.failed:
        print(summary(result) if out is not None else f"gostarter: {summary(result)}", file=out or sys.stderr)
        return
    bar = "!" * 72
    lines = [f"\n{bar}"] if loud else []
    lines.append(f"gostarter: {summary(result)}")
    if result.log_tail and not quiet:
        lines.append(result.log_tail)
    if not quiet:
        then = f"fix what failed, then run `gostarter verify {shown_as}` or `make smoke`"
        lines.append(
            f"gostarter: the project at {shown_as} was kept; {then}" if kept else f"gostarter: {then}"
        )
    if loud:
        lines.append(bar)
    print("\n".join(lines), file=sys.stderr)
