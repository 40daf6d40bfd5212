"""`python -m bench --platforms`: what a second, emulated platform costs.

Two ratios from one run, each the median of paired runs after one warm-up of each (so that both
sides find BuildKit's caches as a second service does):
- the arm64 (emulated) verification of a generated service over its native one: `gostarter
  verify --platform linux/arm64` against `--platform linux/amd64` of the same project, whole
  processes (target: under 4x; the build cross-compiles on the host, only the service runs
  emulated);
- `gostarter new --platform linux/amd64,linux/arm64` over `gostarter new` (the engine's own
  platform only), whole processes to a passed verification (target: at most 2x).

The runtime image must have both platforms (a registry's manifest list: Docker Hub's distroless
has; the test suite's stand-in is `python -m tests.standin --platforms`), and the engine must
run arm64 (README, "Every platform").
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from generator.errors import GostarterError

BOTH = "linux/amd64,linux/arm64"
EMULATED_LIMIT = 4.0
TWO_PLATFORM_LIMIT = 2.0


@dataclass(frozen=True)
class PlatformFigures:
    native_verify_seconds: float
    emulated_verify_seconds: float
    emulated_over_native: float
    one_platform_new_seconds: float
    two_platform_new_seconds: float
    two_over_one: float
    repeat: int

    def targets_met(self) -> dict[str, bool]:
        emulated = f"arm64 (emulated) verification under {EMULATED_LIMIT:g}x the native one"
        two = f"two-platform new at most {TWO_PLATFORM_LIMIT:g}x the one-platform one"
        return {
            emulated: self.emulated_over_native < EMULATED_LIMIT,
            two: self.two_over_one <= TWO_PLATFORM_LIMIT,
        }

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "targets": self.targets_met()}


def _timed(argv: list[str], what: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise GostarterError(f"{what} failed (exit {done.returncode}): {done.stderr.strip()[-800:]}")
    return elapsed


def _gostarter(*args: str) -> list[str]:
    return [sys.executable, "-m", "generator", *args]


def _new(dest: Path, name: str, answers: dict[str, str], platforms: str | None) -> float:
    argv = _gostarter("new", str(dest), "--defaults", "--verify", "docker", "--quiet", "--rm-image")
    argv += ["--data", f"app_name={name}"]
    for key, value in answers.items():
        argv += ["--data", f"{key}={value}"]
    if platforms:
        argv += ["--platform", platforms]
    return _timed(argv, f"gostarter new {name}")


def _verify(project: Path, platform: str) -> float:
    argv = _gostarter(
        "verify", str(project), "--verify", "docker", "--quiet", "--rm-image", "--platform", platform
    )
    return _timed(argv, f"gostarter verify --platform {platform}")


def run_platforms(*, builder_image: str, runtime_image: str, repeat: int) -> PlatformFigures:
    """Time both ratios; each pair's sides alternate which goes first."""
    answers = {"builder_image": builder_image, "runtime_image": runtime_image}
    with tempfile.TemporaryDirectory(prefix="gostarter-bench-platforms-") as tmp:
        work = Path(tmp)
        # One service to verify on each platform; the first new of each kind warms the caches.
        project = work / "verified"
        _new(project, "benchplat", answers, BOTH)
        _new(work / "warm-one", "benchwarm1", answers, None)
        native, emulated = [], []
        for _ in range(repeat):
            native.append(_verify(project, "linux/amd64"))
            emulated.append(_verify(project, "linux/arm64"))
        one, two = [], []
        for index in range(repeat):
            one.append(_new(work / f"one-{index}", f"benchone{index}", answers, None))
            two.append(_new(work / f"two-{index}", f"benchtwo{index}", answers, BOTH))
    return PlatformFigures(
        native_verify_seconds=statistics.median(native),
        emulated_verify_seconds=statistics.median(emulated),
        emulated_over_native=statistics.median(e / n for e, n in zip(emulated, native, strict=True)),
        one_platform_new_seconds=statistics.median(one),
        two_platform_new_seconds=statistics.median(two),
        two_over_one=statistics.median(t / o for t, o in zip(two, one, strict=True)),
        repeat=repeat,
    )


def platforms_table(figures: PlatformFigures) -> str:
    met = figures.targets_met()
    lines = [
        "| | seconds (median) | ratio | target |",
        "|---|---|---|---|",
        f"| gostarter verify --platform linux/amd64 (native) | {figures.native_verify_seconds:.2f} | | |",
        f"| gostarter verify --platform linux/arm64 (emulated) | {figures.emulated_verify_seconds:.2f} "
        f"| {figures.emulated_over_native:.2f}x | < {EMULATED_LIMIT:g}x |",
        f"| gostarter new (one platform) | {figures.one_platform_new_seconds:.2f} | | |",
        f"| gostarter new --platform {BOTH} | {figures.two_platform_new_seconds:.2f} "
        f"| {figures.two_over_one:.2f}x | <= {TWO_PLATFORM_LIMIT:g}x |",
    ]
    lines += [f"\n{'met' if ok else 'MISSED'}: {name}" for name, ok in met.items()]
    return "\n".join(lines)
