"""What is verified: a generated project, its service name, port and version."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from generator import children
from generator.project import Settings


def run_quiet(argv: list[str]) -> subprocess.CompletedProcess[str] | None:
    """Run a short tool query; None when it cannot run or hangs."""
    try:
        return children.run(argv, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None


def describe_version(project: Path) -> str:
    """What `make` passes as VERSION: git describe, else dev."""
    described = run_quiet(["git", "-C", str(project), "describe", "--tags", "--always", "--dirty"])
    if described is not None and described.returncode == 0 and described.stdout.strip():
        return described.stdout.strip()
    return "dev"


@dataclass(frozen=True)
class Target:
    """The project under verification, as its own Makefile would build it."""

    project: Path
    app: str
    port: int
    version: str
    platforms: tuple[str, ...] = ()  # what the answers name; empty: the engine's own

    @classmethod
    def of(cls, project: Path) -> Target:
        from generator.verify import platforms

        settings = Settings.read(project)
        named = platforms.parse(settings.platforms, f"{settings.root / '.copier-answers.yml'}: platforms")
        return cls(settings.root, settings.app_name, settings.port, describe_version(settings.root), named)
