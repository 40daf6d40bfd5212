"""Fleet lifecycle timings: `gostarter check` on 1 and on N services, `update --dry-run` on one.

A throwaway git repository made from this checkout stands for the
organisation's template: services are generated at 1.0.0, then 1.1.0 is
released, so every check finds work to report.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from generator.errors import GostarterError
from generator.render import Answers, render
from generator.template import NOT_TEMPLATE, Template

CHECKOUT = Path(__file__).resolve().parent.parent
_GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", "-c", "commit.gpgsign=false"]


@dataclass(frozen=True)
class FleetTimes:
    check_one_seconds: float
    check_many_seconds: float
    services: int
    dry_run_seconds: float

    @property
    def check_per_service_seconds(self) -> float:
        return self.check_many_seconds / self.services


def _git(cwd: Path, *args: str) -> None:
    subprocess.run([*_GIT, *args], cwd=cwd, capture_output=True, check=True)


def _commit_all(cwd: Path, message: str, tag: str = "") -> None:
    _git(cwd, "add", "-A")
    _git(cwd, "commit", "-qm", message)
    if tag:
        _git(cwd, "tag", tag)


def _gostarter(*args: str, expect: tuple[int, ...]) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "generator", *args], capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - started
    if done.returncode not in expect:
        raise GostarterError(f"gostarter {args[0]} exited {done.returncode}: {done.stderr.strip()[-400:]}")
    return elapsed


def fleet(work: Path, services: int) -> tuple[Path, list[str]]:
    """A template repository copied from this checkout and `services` projects generated at its
    1.0.0, each a repository of its own; then 1.1.0 is released, so that every one is behind."""
    repo = work / "fleet-template"
    shutil.copytree(CHECKOUT, repo, ignore=shutil.ignore_patterns(*NOT_TEMPLATE))
    _git(repo, "init", "-q")
    _commit_all(repo, "1.0.0", "1.0.0")
    template = Template.resolve(str(repo))
    projects = []
    for i in range(services):
        project = render(
            template, work / "fleet" / f"svc{i:03}", answers=Answers(data={"app_name": f"svc{i:03}"})
        )
        _git(project, "init", "-q")
        _commit_all(project, "generated")
        projects.append(str(project))
    readme = repo / "template" / "README.md.jinja"
    readme.write_text(readme.read_text() + "\nOn-call: see the runbook.\n")
    _commit_all(repo, "1.1.0", "1.1.0")
    return repo, projects


def fleet_times(work: Path, services: int) -> FleetTimes:
    _, projects = fleet(work, services)
    behind = (1,)  # every service is behind: check exits 1
    return FleetTimes(
        check_one_seconds=_gostarter("check", projects[0], expect=behind),
        check_many_seconds=_gostarter("check", *projects, expect=behind),
        services=services,
        dry_run_seconds=_gostarter("update", projects[0], "--dry-run", "--verify", "none", expect=(0,)),
    )
