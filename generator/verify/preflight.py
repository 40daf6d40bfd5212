"""Finding the Docker engine and a BuildKit client, ahead of the verification when the caller can."""

from __future__ import annotations

import os
import re
from concurrent.futures import Future, wait
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from generator.errors import EnvironmentProblem
from generator.verify import engine as engines
from generator.verify import reaper
from generator.verify.background import in_background
from generator.verify.modes import ENGINE_MODES
from generator.verify.target import run_quiet

if TYPE_CHECKING:
    import docker

SETTLE_SECONDS = 3.0
CONNECT_SECONDS = 5.0  # the engine's first answer
API_SECONDS = 60.0  # any later call (a stop adds its own grace period)


@dataclass(frozen=True)
class BuildCommand:
    """A docker client invocation that builds with BuildKit."""

    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()

    @property
    def client(self) -> str:
        return self.argv[0]

    def shown(self, *args: str) -> tuple[str, ...]:
        """This command with `args`, as a person would type it: environment first."""
        return (*(f"{key}={value}" for key, value in self.env), *self.argv, *args)


def docker_client() -> docker.DockerClient:
    """A client for a reachable Docker engine, or EnvironmentProblem saying what is missing.

    The engine must answer within CONNECT_SECONDS (a socket that accepts and never
    answers is no engine, and `auto` falls back to native at once); later calls
    each have API_SECONDS.
    """
    import docker

    try:
        client = docker.from_env(timeout=CONNECT_SECONDS)
        client.ping()
    except (docker.errors.DockerException, OSError) as err:  # the SDK's transport errors are OSErrors
        text = str(err)
        why = (
            f"it did not answer within {CONNECT_SECONDS:.0f} s"
            if "timed out" in text.lower() or "timeout" in type(err).__name__.lower()
            else (text.splitlines()[0][:160] if text else type(err).__name__)
        )
        raise EnvironmentProblem(
            f"no Docker engine is reachable at {engines.address()}: {why}",
            hint="start the Docker engine (dockerd, Docker Desktop), point DOCKER_HOST at it, "
            "or use --verify native",
        ) from None
    client.api.timeout = API_SECONDS
    return client


def _docker_clients() -> list[str]:
    """Every `docker` on PATH, first first; GOSTARTER_DOCKER names one explicitly."""
    explicit = os.environ.get("GOSTARTER_DOCKER")
    if explicit:
        return [explicit]
    seen: dict[str, str] = {}
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(directory or ".") / "docker"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            seen.setdefault(str(candidate.resolve()), str(candidate))
    return list(seen.values())


def find_build_command() -> BuildCommand:
    """The first docker client that builds with BuildKit.

    A client with the buildx plugin runs `buildx build --load`; a client older
    than 23 embeds BuildKit and takes DOCKER_BUILDKIT=1. Newer clients without
    buildx refuse BuildKit, so they are passed over.
    """
    clients = _docker_clients()
    for cli in clients:
        buildx = run_quiet([cli, "buildx", "version"])
        if buildx is not None and buildx.returncode == 0:
            return BuildCommand((cli, "buildx", "build", "--load"))
        version = run_quiet([cli, "--version"])
        match = re.search(r"version (\d+)\.", version.stdout) if version else None
        if match and int(match.group(1)) < 23:
            return BuildCommand((cli, "build"), (("DOCKER_BUILDKIT", "1"),))
    checked = ", ".join(clients) if clients else "none on PATH"
    raise EnvironmentProblem(
        f"no docker client here can build with BuildKit (checked: {checked})",
        hint="install Docker's buildx plugin, or set GOSTARTER_DOCKER to a client that has it",
    )


class Preflight:
    """Finding the engine and the BuildKit client, started before they are needed.

    Importing the Docker SDK, pinging the engine, asking each docker client
    whether it builds with BuildKit and removing what dead verifications left
    behind (the reaper: two listings of the engine) take a few tenths of a
    second, mostly waiting: `gostarter new` starts them before Copier renders,
    and the verification takes what they found. The lookups also run side by
    side; the reaper starts once the engine answers. Only the docker and auto
    modes look for anything.

    As a context manager it waits (a bounded time) for lookups still under
    way on the way out, so that no docker client it started outlives the
    command when rendering fails or is interrupted.
    """

    def __init__(self, mode: str = "auto") -> None:
        self._engine: Future[docker.DockerClient] | None = None
        self._client: Future[BuildCommand] | None = None
        self._reaped: Future[str] | None = None
        if mode in ENGINE_MODES:
            engine = self._engine = in_background(docker_client, "engine")
            self._client = in_background(find_build_command, "buildkit-client")
            self._reaped = in_background(lambda: reaper.reap(engine.result()), "reaper")

    def engine(self) -> tuple[docker.DockerClient, BuildCommand]:
        """The engine's client and the build command, or the EnvironmentProblem naming what is missing."""
        if self._engine is None or self._client is None:
            return docker_client(), find_build_command()
        # The engine first: one that is not there is said at once, without waiting for the
        # client lookup (which can itself wait on that engine).
        engine = self._engine.result()
        return engine, self._client.result()

    def reap(self, client: docker.DockerClient) -> str:
        """What the reaper removed (one line, or ""); it runs now when it was not started ahead."""
        if self._reaped is None:
            return reaper.reap(client)
        return self._reaped.result()

    def settle(self, timeout: float = SETTLE_SECONDS) -> None:
        """Wait up to `timeout` seconds for the lookups to end."""
        futures = (self._engine, self._client, self._reaped)
        wait([future for future in futures if future is not None], timeout=timeout)

    def __enter__(self) -> Preflight:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.settle()
