"""Docker mode: find an engine and a BuildKit client, build the image, run and probe the container.

Each step returns what it measured; `orchestrate` assembles the result.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator.console import Progress
from generator.errors import EnvironmentProblem
from generator.verify.background import first_failure, in_background
from generator.verify.checks import (
    HEALTHY_DEADLINE_SECONDS,
    Build,
    CheckFailed,
    Run,
    check_healthz,
    first_go_error,
    tail,
    unfetchable_base_image,
    wait_for_hello,
)
from generator.verify.target import Target, run_quiet

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

LABEL = "dev.gostarter.verify"
IMAGE_TAG = "dev"  # what `make docker-build` tags, so `make docker-run` finds it
# How the container runs: the way a hardened deployment runs it (compose.yaml and
# the Kubernetes manifests ask for the same).
HARDENING = {"read_only": True, "cap_drop": ["ALL"], "security_opt": ["no-new-privileges"]}
HARDENING_CHECK = "ran hardened: read-only root filesystem, all capabilities dropped, no-new-privileges"
_BUILD_STEP = re.compile(r"^#\d+ (\[[^\]]+\] .+|exporting to image)$")
_ENGINE_TIME = re.compile(
    r"^(?P<seconds>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(?P<fraction>\d+))?(?P<zone>Z|[+-]\d\d:\d\d)$"
)
HEALTH_RETRIES = 3  # failed probes in a row, once the service answers, that fail the HEALTHCHECK
HEALTH_POLL_SECONDS = 0.05


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


# ---------------------------------------------------------------- discovery


def docker_client() -> docker.DockerClient:
    """A client for a reachable Docker engine, or EnvironmentProblem saying what is missing."""
    import docker

    try:
        client = docker.from_env(timeout=300)
        client.ping()
    except docker.errors.DockerException as err:
        first = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
        raise EnvironmentProblem(
            f"no Docker engine is reachable ({first})",
            hint="start the Docker engine (dockerd, Docker Desktop), or use --verify native",
        ) from None
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


# ---------------------------------------------------------------- build


def _stream(argv: list[str], cwd: Path, env: dict[str, str], progress: Progress) -> tuple[int, deque[str]]:
    """Run a build, showing its steps; returns the exit code and the last 400 log lines."""
    log: deque[str] = deque(maxlen=400)
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
    )
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            log.append(line)
            progress.raw(line)
            step = _BUILD_STEP.match(line)
            if step:
                progress.step(" ".join(step.group(1).split())[:120])
        return proc.wait(), log
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def build_image(target: Target, image: str, build: BuildCommand, progress: Progress) -> Build:
    """Build `image` with the project's own Dockerfile, as `make docker-build` does."""
    args = ("--progress=plain", "--build-arg", f"VERSION={target.version}", "-t", image, ".")
    progress.phase("build", f"{image} with {' '.join(build.argv)}")
    started = time.monotonic()
    code, log = _stream([*build.argv, *args], target.project, {**os.environ, **dict(build.env)}, progress)
    seconds = time.monotonic() - started
    if code != 0:
        detail = tail(log)
        unfetchable = unfetchable_base_image(log)
        if unfetchable:
            raise CheckFailed(unfetchable, detail)
        cause = first_go_error(detail) or next(
            (ln for ln in reversed(log) if ln.lower().startswith(("error", "failed"))), ""
        )
        raise CheckFailed(
            f"the image did not build ({' '.join(build.argv)} exited {code})"
            + (f": {cause[:200]}" if cause else ""),
            detail,
        )
    return Build(seconds, build.shown(*args))


def inspect_image(client: docker.DockerClient, image: str) -> tuple[int, list[str]]:
    """The image's size and its HEALTHCHECK command; an image without one fails."""
    attrs: dict[str, Any] = client.images.get(image).attrs
    test = ((attrs.get("Config") or {}).get("Healthcheck") or {}).get("Test")
    if not test or test[0] == "NONE":
        raise CheckFailed("the image has no HEALTHCHECK")
    return int(attrs.get("Size") or 0), list(test)


# ---------------------------------------------------------------- run


def container_exited(container: Container) -> str | None:
    """Why the container is no longer running, with its last output; None while it runs."""
    container.reload()
    if container.status in {"exited", "dead"}:
        code = container.attrs["State"].get("ExitCode")
        logs = container.logs(tail=15).decode("utf-8", "replace").strip()
        return f"the container exited with code {code} before answering" + (
            f"; its last output:\n{logs}" if logs else ""
        )
    return None


def published_port(container: Container, port: int) -> int:
    """The host port on 127.0.0.1 that docker published for the container's `port`."""
    container.reload()
    bindings = (container.attrs["NetworkSettings"].get("Ports") or {}).get(f"{port}/tcp") or []
    for binding in bindings:
        if binding.get("HostIp") in {"127.0.0.1", "", "0.0.0.0"} and binding.get("HostPort"):
            return int(binding["HostPort"])
    # A container that exited at once has no published ports: say why it exited.
    raise CheckFailed(container_exited(container) or f"docker published no host port for {port}/tcp")


def timed_stop(container: Container) -> tuple[float, int]:
    """`docker stop` (SIGTERM, SIGKILL after 10 s): seconds taken and the exit code."""
    begin = time.monotonic()
    container.stop(timeout=10)
    code = int(container.wait(timeout=30).get("StatusCode", -1))
    return time.monotonic() - begin, code


def engine_time(stamp: str) -> datetime:
    """An engine timestamp (RFC 3339, nanoseconds) as a datetime (microseconds)."""
    match = _ENGINE_TIME.match(stamp)
    if match is None:
        raise ValueError(f"not an engine timestamp: {stamp!r}")
    fraction = (match.group("fraction") or "0")[:6].ljust(6, "0")
    zone = "+00:00" if match.group("zone") == "Z" else match.group("zone")
    return datetime.fromisoformat(f"{match.group('seconds')}.{fraction}{zone}")


def _failed_since(health: dict[str, Any], since: datetime) -> list[dict[str, Any]]:
    """The health probes that began after `since` (engine time) and failed; a probe whose start
    the engine did not say cannot be placed, so it does not count."""
    failed = []
    for probe in health.get("Log") or []:
        start = str(probe.get("Start"))
        if probe.get("ExitCode") != 0 and _ENGINE_TIME.match(start) and engine_time(start) > since:
            failed.append(probe)
    return failed


def _wait_healthy(container: Container, started: float, first: float) -> float:
    """Seconds from `started` until the engine reports the HEALTHCHECK healthy.

    Probes failing while the service starts do not count (the start period);
    once it has answered (`first` seconds after `started`), HEALTH_RETRIES
    failed probes in a row fail the check, as the engine itself would judge.
    """
    answered: datetime | None = None
    while True:
        container.reload()
        state = container.attrs["State"]
        health = state.get("Health") or {}
        status = health.get("Status")
        if status == "healthy":
            return time.monotonic() - started
        # The engine started the container after `started`, so a probe that began
        # later than its StartedAt + `first` began after the service answered.
        answered = answered or engine_time(state["StartedAt"]) + timedelta(seconds=first)
        failed = _failed_since(health, answered)
        if status == "unhealthy" or len(failed) >= HEALTH_RETRIES:
            last = failed[-1] if failed else (health.get("Log") or [{}])[-1]
            raise CheckFailed(
                f"the HEALTHCHECK reports unhealthy (exit {last.get('ExitCode')}: "
                f"{str(last.get('Output', '')).strip()[:160]})"
            )
        if time.monotonic() - started > HEALTHY_DEADLINE_SECONDS:
            raise CheckFailed(f"the HEALTHCHECK did not pass within {HEALTHY_DEADLINE_SECONDS:.0f} s")
        time.sleep(HEALTH_POLL_SECONDS)


def _process_uids(container: Container) -> str:
    try:
        top = container.top(ps_args="-o uid")
        uids = {str(row[0]) for row in top.get("Processes") or []}
    except Exception:  # noqa: BLE001 - ps options differ between engines; fall back to config
        uids = {str(container.attrs["Config"].get("User") or "0").split(":")[0]}
    return ",".join(sorted(uids))


def _after_first_answer(container: Container, port: int, started: float, first: float) -> tuple[float, str]:
    """/healthz, the HEALTHCHECK and the processes' uids, side by side, each within its own deadline.

    Returns when the engine reports healthy; the first check to fail fails at once.
    """
    healthz = in_background(lambda: check_healthz(port), "healthz")
    healthy = in_background(lambda: _wait_healthy(container, started, first), "healthcheck")
    user = in_background(lambda: _process_uids(container), "user")
    first_failure(healthz, healthy, user)
    return healthy.result(), user.result()


@contextlib.contextmanager
def labelled_run(client: docker.DockerClient) -> Iterator[str]:
    """A run label for the containers started inside; all of them are removed on the way out."""
    import docker

    run_id = uuid.uuid4().hex[:12]
    try:
        yield run_id
    finally:
        for container in client.containers.list(all=True, filters={"label": f"{LABEL}={run_id}"}):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)


def smoke_container(
    client: docker.DockerClient, target: Target, image: str, health_test: list[str], progress: Progress
) -> Run:
    """Start the image with the port on an ephemeral 127.0.0.1 port, probe it, stop it."""
    progress.phase("start", f"container of {image}, port {target.port} on 127.0.0.1")
    with labelled_run(client) as run_id:
        # The image's own health command, checked every 100 ms instead of
        # waiting for its production interval; failures before the service
        # answers do not count (see _wait_healthy for what does).
        container = client.containers.create(
            image,
            labels={LABEL: run_id},
            **HARDENING,
            ports={f"{target.port}/tcp": ("127.0.0.1", None)},
            healthcheck={
                "test": health_test,
                "interval": 100_000_000,
                "timeout": 3_000_000_000,
                "retries": HEALTH_RETRIES,
                "start_period": int(HEALTHY_DEADLINE_SECONDS * 1e9),
            },
        )
        started = time.monotonic()
        container.start()
        host_port = published_port(container, target.port)
        progress.phase("smoke", f"GET http://127.0.0.1:{host_port}/")
        first = wait_for_hello(host_port, started, lambda: container_exited(container))
        progress.step("/healthz, the HEALTHCHECK and the user")
        healthy, user = _after_first_answer(container, host_port, started, first)
        progress.phase("stop", "docker stop")
        stop_seconds, stop_code = timed_stop(container)
    return Run(
        first_response_seconds=first,
        healthy_seconds=healthy,
        health=f"HEALTHCHECK healthy {healthy:.2f} s after start",
        user=user,
        in_container=True,
        stop="docker stop",
        stop_seconds=stop_seconds,
        stop_exit_code=stop_code,
    )


def tag_image(client: docker.DockerClient, image: str, name: str) -> None:
    """Give `image` the reference `name` (repository:tag) as well."""
    repository, _, tag = name.rpartition(":")
    client.images.get(image).tag(repository, tag)


def remove_image(client: docker.DockerClient, image: str) -> None:
    """Remove the reference `image`; an image that other tags still name stays."""
    import docker

    with contextlib.suppress(docker.errors.DockerException):
        client.images.remove(image, force=True)
