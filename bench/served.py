"""A `gostarter serve` process on a free loopback port, and the wait until it answers: the
benchmarks start their servers with it, and so do the tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import IO

Output = int | IO[str] | None  # what subprocess.Popen takes as stdout or stderr


class NotServed(RuntimeError):
    """The server exited, or did not answer in time."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(
    temp: Path,
    *args: str,
    env: Mapping[str, str | None] | None = None,
    stdout: Output = subprocess.PIPE,
    stderr: Output = subprocess.PIPE,
) -> tuple[subprocess.Popen[str], str]:
    """`gostarter serve ARGS` as its own process on a free loopback port, its temporary files under
    `temp`, `env` added to its environment (a None value removes the variable); returns the process
    and its base URL (not yet ready: see wait_served)."""
    port = free_port()
    temp.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, "TMPDIR": str(temp)}
    for key, value in (env or {}).items():
        if value is None:
            environment.pop(key, None)
        else:
            environment[key] = value
    process = subprocess.Popen(
        [sys.executable, "-m", "generator", "serve", "--host", "127.0.0.1", "--port", str(port), *args],
        env=environment,
        stdout=stdout,
        stderr=stderr,
        text=True,
    )
    return process, f"http://127.0.0.1:{port}"


def wait_served(
    base: str, process: subprocess.Popen[str], seconds: float = 60, path: str = "/healthz"
) -> None:
    """Wait until the server answers `path` with 200; if it exits first or does not answer in
    `seconds`, kill it and raise NotServed (with its stderr where it was piped)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise NotServed(f"gostarter serve exited {process.returncode}: {process.communicate()[1]}")
        try:
            with urllib.request.urlopen(f"{base}{path}", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    process.kill()
    process.wait()
    raise NotServed("gostarter serve did not answer")
