"""Plain `copier copy` with Copier installed on its own: the task gets gostarter's dependencies itself.

A virtual environment with nothing but Copier stands for `pipx install copier`
or `uv tool install copier`. Real packaging tools, a real package index, a
real engine.
"""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from generator import bootstrap
from tests.helpers.checkout import ROOT
from tests.helpers.running import run

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def copier_alone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A venv holding Copier (and uv, which stays off PATH unless a test puts it there)."""
    venv = tmp_path_factory.mktemp("copier-alone") / "venv"
    made = run([sys.executable, "-m", "venv", str(venv)])
    assert made.returncode == 0, made.stderr
    installed = run([str(venv / "bin/python"), "-m", "pip", "install", "--quiet", "copier>=9.9.1", "uv"])
    assert installed.returncode == 0, installed.stderr[-2000:]
    probe = run([str(venv / "bin/python"), "-c", "import tomli_w"])
    assert probe.returncode != 0, "the Copier-only environment must not have gostarter's dependencies"
    yield venv


def copier_copy(venv: Path, dest: Path, env: dict[str, str], *extra: str) -> Any:
    argv = [str(venv / "bin/copier"), "copy", "--defaults", "--vcs-ref", "HEAD", *extra, str(ROOT), str(dest)]
    return run(argv, env={**os.environ, **env})


def image_data(images: dict[str, str]) -> list[str]:
    return ["-d", f"builder_image={images['builder']}", "-d", f"runtime_image={images['distroless-static']}"]


def test_the_scripts_dependencies_are_the_packages() -> None:
    """The hook's inline metadata names only what gostarter itself depends on."""
    script = ROOT / "hooks" / "post_generate.py"
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {dep.split(">")[0].split("=")[0] for dep in declared}
    listed = {dep.split(">")[0] for dep in bootstrap.dependencies(script)}
    assert listed and listed <= names


def test_copier_alone_verifies_and_reuses_the_environment(
    copier_alone: Path, tmp_path: Path, images: dict[str, str], no_leftovers: None
) -> None:
    """First copy: the environment is made and the docker verification passes; second: reused."""
    cache = tmp_path / "cache"
    env = {"XDG_CACHE_HOME": str(cache), "GOSTARTER_REPORT": str(tmp_path / "r1.toml")}
    first = copier_copy(copier_alone, tmp_path / "one", env, "--trust", *image_data(images))
    assert first.returncode == 0, first.stderr[-3000:]
    assert "first run: installing docker" in first.stderr
    assert tomllib.loads((tmp_path / "r1.toml").read_text())["result"] == "passed"
    (made,) = (cache / "gostarter" / "hook-env").iterdir()
    stamp = (made / ".complete").stat().st_mtime_ns

    env["GOSTARTER_REPORT"] = str(tmp_path / "r2.toml")
    second = copier_copy(copier_alone, tmp_path / "two", env, "--trust", *image_data(images))
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"reusing the verification environment in {made}" in second.stderr
    assert "first run" not in second.stderr
    assert (made / ".complete").stat().st_mtime_ns == stamp, "the environment was rebuilt"
    assert tomllib.loads((tmp_path / "r2.toml").read_text())["result"] == "passed"


def test_copier_alone_with_uv_on_path(
    copier_alone: Path, tmp_path: Path, images: dict[str, str], no_leftovers: None
) -> None:
    """uv on PATH: the task runs itself through `uv run --script`; no environment of its own."""
    env = {
        "PATH": f"{copier_alone / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "UV_CACHE_DIR": str(tmp_path / "uv"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "GOSTARTER_REPORT": str(tmp_path / "r.toml"),
    }
    done = copier_copy(copier_alone, tmp_path / "svc", env, "--trust", *image_data(images))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "running the verification through uv" in done.stderr
    assert (tmp_path / "r.toml").is_file(), done.stderr[-3000:]
    assert tomllib.loads((tmp_path / "r.toml").read_text())["result"] == "passed"
    assert not (tmp_path / "cache" / "gostarter").exists()


def test_no_index_reachable_skips_in_one_line_and_keeps_the_project(
    copier_alone: Path, tmp_path: Path
) -> None:
    """Nothing cached, no uv, the index on a closed port: one 'skipped' line, exit 0, project intact."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env |= {
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
        "PIP_RETRIES": "0",
        "PIP_TIMEOUT": "2",
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    argv = [str(copier_alone / "bin/copier"), "copy", "--trust", "--defaults", "--vcs-ref", "HEAD"]
    done = run([*argv, str(ROOT), str(tmp_path / "svc")], env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    skipped = [line for line in done.stderr.splitlines() if "verification skipped" in line]
    assert len(skipped) == 1, done.stderr
    assert "could not be installed (pip install failed" in skipped[0]
    assert f"`make smoke` in {(tmp_path / 'svc').resolve()}" in skipped[0]
    assert (tmp_path / "svc" / "main.go").is_file() and (tmp_path / "svc" / "Makefile").is_file()
    assert not list((tmp_path / "cache" / "gostarter" / "hook-env").iterdir()), (
        "a half-made environment was left"
    )


def test_copiers_trust_setting_replaces_the_flag(
    tmp_path: Path, images: dict[str, str], no_leftovers: None
) -> None:
    """An organisation lists its template in Copier's settings once: no --trust, and it verifies."""
    settings = tmp_path / "settings.yml"
    settings.write_text(f"trust:\n  - {ROOT}\n")
    env = {**os.environ, "COPIER_SETTINGS_PATH": str(settings), "GOSTARTER_REPORT": str(tmp_path / "r.toml")}
    argv = [sys.executable, "-m", "copier", "copy", "--defaults", "--vcs-ref", "HEAD", *image_data(images)]
    done = run([*argv, str(ROOT), str(tmp_path / "svc")], env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert tomllib.loads((tmp_path / "r.toml").read_text())["result"] == "passed"
    untrusted = run(
        [*argv, str(ROOT), str(tmp_path / "other")], env={**env, "COPIER_SETTINGS_PATH": os.devnull}
    )
    assert untrusted.returncode == 4 and "unsafe" in untrusted.stderr
