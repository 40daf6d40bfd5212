"""The Docker engine and a BuildKit client, looked up ahead of the verification."""

from __future__ import annotations

from concurrent.futures import Future, wait
from types import TracebackType
from typing import TYPE_CHECKING

from generator.verify.background import in_background
from generator.verify.docker import BuildCommand, docker_client, find_build_command

if TYPE_CHECKING:
    import docker

SETTLE_SECONDS = 3.0


class Preflight:
    """Finding the engine and the BuildKit client, started before they are needed.

    Importing the Docker SDK, pinging the engine and asking each docker client
    whether it builds with BuildKit take a few tenths of a second, mostly
    waiting: `gostarter new` starts them before Copier renders, and the
    verification takes what they found. The two lookups also run side by
    side. Only the docker and auto modes look for anything.

    As a context manager it waits (a bounded time) for lookups still under
    way on the way out, so that no docker client it started outlives the
    command when rendering fails or is interrupted.
    """

    def __init__(self, mode: str = "auto") -> None:
        self._engine: Future[docker.DockerClient] | None = None
        self._client: Future[BuildCommand] | None = None
        if mode in {"auto", "docker"}:
            self._engine = in_background(docker_client, "engine")
            self._client = in_background(find_build_command, "buildkit-client")

    def engine(self) -> tuple[docker.DockerClient, BuildCommand]:
        """The engine's client and the build command, or the EnvironmentProblem naming what is missing."""
        if self._engine is None or self._client is None:
            return docker_client(), find_build_command()
        # The engine first: one that is not there is said at once, without waiting for the
        # client lookup (which can itself wait on that engine).
        engine = self._engine.result()
        return engine, self._client.result()

    def settle(self, timeout: float = SETTLE_SECONDS) -> None:
        """Wait up to `timeout` seconds for the lookups to end."""
        wait([future for future in (self._engine, self._client) if future is not None], timeout=timeout)

    def __enter__(self) -> Preflight:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.settle()
