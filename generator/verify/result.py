"""The result of a verification: the TOML report, the one-line summary, and the one printer."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import tomli_w

from generator import __version__, outputs
from generator.reporting import Outcome
from generator.verify.checks import HELLO, Build, Run
from generator.verify.modes import Mode


@dataclass
class _Verdict:
    result: Outcome = Outcome.SKIPPED

    @property
    def passed(self) -> bool:
        return self.result == Outcome.PASSED

    @property
    def failed(self) -> bool:
        return self.result == Outcome.FAILED


@dataclass
class _RunHead(_Verdict):
    mode: Mode = Mode.NONE
    project: str = ""


@dataclass
class _PlatformHead(_Verdict):
    emulated: bool = False
    deadline_factor: float = 1.0  # the first-answer and health deadlines, times the native ones


@dataclass
class Findings:
    """What verifying found: the figures it measured, the checks passed, why it failed.

    A run's Result and each of its PlatformResults hold them; a dataclass's fields
    follow its bases' from the last base on, so a result's are its head's (the verdict
    first), then these: the TOML report's order.
    """

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

    def built(self, build: Build, what: str) -> None:
        """Record a finished build of the image or the binary."""
        self.build_seconds = build.seconds
        self.build_command = list(build.command)
        if build.size_bytes:
            self.binary_size_bytes = build.size_bytes
        self.checks.append(f"{what} built in {build.seconds:.1f} s")

    def ran(self, run: Run) -> None:
        """Record what running the service measured."""
        self.first_response_seconds = run.first_response_seconds
        self.healthy_seconds = run.healthy_seconds
        self.user = run.user
        self.stop_seconds, self.stop_exit_code = run.stop_seconds, run.stop_exit_code


# The figures of a platform's findings; the report's top level repeats those of the primary
# platform (the engine's own when it was verified, else the first), as before platforms.
FIGURES = tuple(item.name for item in fields(Findings) if item.name not in {"reason", "checks", "log_tail"})


@dataclass
class PlatformResult(Findings, _PlatformHead):
    """What verifying one platform found: `[platforms."linux/arm64"]` in the TOML report."""

    def line(self, platform: str, mode: str) -> str:
        """One line on this platform's result, for the summary."""
        how = f"emulated, deadlines x{self.deadline_factor:g}" if self.emulated else "native"
        if self.failed:
            return f"{platform} ({how}): failed: {self.reason}"
        if not self.passed:
            return f"{platform} ({how}): {self.result}"
        what = "image" if mode == Mode.DOCKER else "binary"
        return (
            f"{platform} ({how}): passed: {what} built in {self.build_seconds:.1f} s, GET / answered "
            f"{self.first_response_seconds:.2f} s after start, healthy at {self.healthy_seconds:.2f} s, "
            f"stopped with exit 0 in {self.stop_seconds:.2f} s"
        )


@dataclass
class Result(Findings, _RunHead):
    """What one verification found; also the content of the TOML report."""

    # Each platform verified, in order; the figures above are the primary platform's.
    platforms: dict[str, PlatformResult] = field(default_factory=dict)
    # Not in the report: the docker client that built the image, for the next steps.
    docker: str = field(default="", metadata={"report": False})

    def assemble(self, primary: str) -> None:
        """The run's result from its platforms': failed when any failed (the reason names each
        failed platform when several were verified or the failed one is not the primary), and the
        top-level figures and checks those of the `primary` platform."""
        first = self.platforms[primary]
        for name in FIGURES:
            setattr(self, name, getattr(first, name))
        self.checks = list(first.checks)
        failed = {name: item for name, item in self.platforms.items() if item.failed}
        if not failed:
            passed = all(item.passed for item in self.platforms.values())
            self.result = Outcome.PASSED if passed else Outcome.SKIPPED
            return
        self.result = Outcome.FAILED
        if list(failed) == [primary] and len(self.platforms) == 1:
            self.reason, self.log_tail = first.reason, first.log_tail
            return
        self.reason = "; ".join(f"{name}: {item.reason}" for name, item in failed.items())
        self.log_tail = "\n".join(
            f"--- {name}\n{item.log_tail}" for name, item in failed.items() if item.log_tail
        )

    def report(self) -> dict[str, Any]:
        data = asdict(self)
        for item in fields(self):
            if item.metadata.get("report") is False:
                data.pop(item.name)
        _rounded(data)
        if not self.failed:
            data.pop("log_tail")
        for name, platform in data["platforms"].items():
            _rounded(platform)
            if not self.platforms[name].failed:
                platform.pop("log_tail")
        if not data["platforms"]:
            data.pop("platforms")
        data["generated_by"] = f"gostarter {__version__}"
        data["finished_at"] = datetime.now(UTC).replace(microsecond=0)
        return data


def _rounded(data: dict[str, Any]) -> None:
    for key, value in data.items():
        if isinstance(value, float):
            data[key] = round(value, 4)


def write_report(result: Result, path: Path, *, project: Path | None = None) -> None:
    """Write the TOML report as a regular file, replaced atomically (generator/outputs.py); a path
    inside `project` or that is not a regular file is refused (UsageError), a failed write is a
    GostarterError."""
    inside = [project] if project is not None else []
    outputs.write_file(path, tomli_w.dumps(result.report()).encode(), what="report", inside=inside)


def summary(result: Result) -> str:
    """A short human summary of a result: one line, and one more on each platform when several
    (or another than the engine's own) were verified."""
    several = len(result.platforms) > 1 or any(item.emulated for item in result.platforms.values())
    on = f" on {', '.join(result.platforms)}" if several else ""
    if result.passed:
        if result.mode == Mode.DOCKER:
            what = f"image {result.image} ({result.image_size_bytes / 1e6:.1f} MB)"
        else:
            what = f"binary ({result.binary_size_bytes / 1e6:.1f} MB)"
        built = f"{what} built in {result.build_seconds:.1f} s"
        line = (
            f"verification passed ({result.mode}){on}: {built}; "
            f"GET / answered {HELLO!r} {result.first_response_seconds:.2f} s after start; "
            f"healthy; stopped with exit 0 in {result.stop_seconds:.2f} s"
        )
    elif result.failed and several:
        failed = [name for name, item in result.platforms.items() if item.failed]
        named = (
            f"{', '.join(failed)} of {', '.join(result.platforms)}" if failed else ", ".join(result.platforms)
        )
        line = f"verification failed ({result.mode}) on {named}" + ("" if failed else f": {result.reason}")
    elif result.failed:
        line = f"verification failed ({result.mode}): {result.reason}"
    else:
        return f"verification skipped: {result.reason}"
    if several:
        line += "".join(f"\n  {item.line(name, result.mode)}" for name, item in result.platforms.items())
    return line


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
