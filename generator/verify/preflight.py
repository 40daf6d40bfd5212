"""The Docker engine and a BuildKit client, looked up ahead of the verification."""

from __future__ import annotations

from concurrent.futures import Future, wait
from types import TracebackType
from typing import TYPE_CHECKING

from generator.verify import reaper
from generator.verify.background import in_background
from generator.verify.docker import BuildCommand, docker_client, find_build_command

if TYPE_CHECKING:
    import docker

SETTLE_SECONDS = 3.0


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
        if mode in {"auto", "docker"}:
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
