"""Rehearsal and fleet-check timings (issue 29's targets).

- rehearsal: `gostarter rehearse --verify native` over N services, per service, against one
  `update --dry-run` plus one `verify --verify native` of a service of the same fleet (target:
  at most 1.2: the fan-out pays for its own overhead);
- check over several fleet sizes (20, 100, 200): seconds per service, the largest over the
  smallest (target: at most 1.3: the cost grows linearly), and the check process's own peak
  memory (max RSS, workers aside) at each size.

A throwaway git repository made from this checkout stands for the template: services are
generated at 1.0.0, then 1.1.0 is tagged, so every service has an update to rehearse and check.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.fleet import fleet
from generator.errors import GostarterError

REHEARSAL_LIMIT = 1.2
CHECK_FLAT_LIMIT = 1.3
# Runs gostarter's main in this process and says its own peak memory (KiB) on stderr's last line.
_MEASURED = (
    "import resource, sys\nfrom generator.cli import main\ncode = main(sys.argv[1:])\n"
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\nsys.exit(code)\n"
)


@dataclass
class RehearseFigures:
    services: int
    rehearsal_seconds: float
    dry_run_seconds: float
    verify_seconds: float
    check_sizes: list[int] = field(default_factory=list)
    check_seconds_per_service: list[float] = field(default_factory=list)
    check_peak_kib: list[int] = field(default_factory=list)

    @property
    def rehearsal_ratio(self) -> float:
        return (self.rehearsal_seconds / self.services) / (self.dry_run_seconds + self.verify_seconds)

    @property
    def check_flatness(self) -> float:
        per = self.check_seconds_per_service
        return per[-1] / per[0] if per else 0.0

    def targets_met(self) -> dict[str, bool]:
        return {
            f"rehearsal per service / (update --dry-run + verify) <= {REHEARSAL_LIMIT}": self.rehearsal_ratio
            <= REHEARSAL_LIMIT,
            f"check seconds per service, largest fleet / smallest <= {CHECK_FLAT_LIMIT}": self.check_flatness
            <= CHECK_FLAT_LIMIT,
        }

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rehearsal_ratio"] = round(self.rehearsal_ratio, 3)
        data["check_flatness"] = round(self.check_flatness, 3)
        data["targets"] = self.targets_met()
        return data


def _timed(*args: str, expect: tuple[int, ...]) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _MEASURED, *args], capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - started
    if done.returncode not in expect:
        raise GostarterError(f"gostarter {args[0]} exited {done.returncode}: {done.stderr.strip()[-400:]}")
    peak = int((done.stderr.strip().splitlines() or ["0"])[-1])
    return elapsed, peak


def run_rehearse(work: Path, *, services: int, check_sizes: list[int]) -> RehearseFigures:
    repo, projects = fleet(work, max([services, *check_sizes]))
    one = projects[0]
    dry_run, _ = _timed("update", one, "--dry-run", "--verify", "none", expect=(0,))
    verified, _ = _timed("verify", one, "--verify", "native", "--quiet", expect=(0,))
    rehearsal, _ = _timed(
        "rehearse", "--template", str(repo), "--ref", "1.1.0", "--verify", "native", *projects[:services],
        expect=(0,),
    )  # fmt: skip
    figures = RehearseFigures(services, rehearsal, dry_run, verified)
    for size in sorted(check_sizes):
        seconds, peak = _timed("check", *projects[:size], expect=(1,))
        figures.check_sizes.append(size)
        figures.check_seconds_per_service.append(round(seconds / size, 4))
        figures.check_peak_kib.append(peak)
    return figures


def rehearse_table(figures: RehearseFigures) -> str:
    lines = [
        f"rehearsal of {figures.services} services (native): {figures.rehearsal_seconds:.1f} s, "
        f"{figures.rehearsal_seconds / figures.services:.2f} s a service",
        f"one update --dry-run {figures.dry_run_seconds:.2f} s + one verify {figures.verify_seconds:.2f} s: "
        f"ratio {figures.rehearsal_ratio:.2f} (target <= {REHEARSAL_LIMIT})",
    ]
    for size, per, peak in zip(
        figures.check_sizes, figures.check_seconds_per_service, figures.check_peak_kib, strict=True
    ):
        lines.append(f"check of {size} services: {per:.3f} s a service, parent peak {peak / 1024:.0f} MiB")
    lines.append(
        f"check flatness (largest / smallest): {figures.check_flatness:.2f} (target <= {CHECK_FLAT_LIMIT})"
    )
    for target, met in figures.targets_met().items():
        lines.append(f"{'met   ' if met else 'MISSED'} {target}")
    return "\n".join(lines)
