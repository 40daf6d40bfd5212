"""Docker mode: build the image, run and probe the container (preflight.py finds the engine).

Each step returns what it measured; `orchestrate` assembles the result.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator import children
from generator.reporting import Phase, Reporter
from generator.verify import engine, reaper
from generator.verify.background import first_failure, in_background
from generator.verify.checks import (
    HEALTHY_DEADLINE_SECONDS,
    RESPONSE_DEADLINE_SECONDS,
    Build,
    CheckFailed,
    Run,
    check_healthz,
    failed_step_output,
    first_go_error,
    tail,
    unfetchable_base_image,
    wait_for_hello,
)
from generator.verify.diagnosis import container_exited, not_answering
from generator.verify.limits import Limits
from generator.verify.modes import BUILD_TIMEOUT_ENV
from generator.verify.preflight import BuildCommand
from generator.verify.reaper import Owner
from generator.verify.target import Target

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

LABEL = reaper.CONTAINER_LABEL
IMAGE_LABEL = reaper.IMAGE_LABEL
HEALTH_RETRIES = 3  # failed probes in a row, once the service answers, that fail the HEALTHCHECK
IMAGE_TAG = "dev"  # what `make docker-build` tags, so `make docker-run` finds it
# How the container runs: the way a hardened deployment runs it (compose.yaml and
# the Kubernetes manifests ask for the same).
HARDENING = {"read_only": True, "cap_drop": ["ALL"], "security_opt": ["no-new-privileges"]}
HARDENING_CHECK = "ran hardened: read-only root filesystem, all capabilities dropped, no-new-privileges"
_BUILD_STEP = re.compile(r"^#\d+ (\[[^\]]+\] .+|exporting to image)$")
HEALTH_POLL_SECONDS = 0.01  # how often the engine is asked for the health status (an inspect: a few ms)
HEALTH_INTERVAL_SECONDS = 0.02  # the smoke container's HEALTHCHECK interval, in place of the image's
# What a failure of the container in each phase is called ("starting the container failed: ...").
DOING = {
    Phase.START: "starting the container",
    Phase.SMOKE: "probing the container",
    Phase.HEALTHY: "probing the container",
    Phase.STOP: "stopping the container",
}


# ---------------------------------------------------------------- build


def _stop_client(proc: subprocess.Popen[str]) -> None:
    """Stop the build client and its process group: SIGTERM, then SIGKILL after 10 s."""
    children.end(proc, grace=10)


def _deadline(proc: subprocess.Popen[str], seconds: float | None) -> threading.Timer | None:
    """A watchdog that stops the build client once `seconds` have passed; None without a deadline."""
    if seconds is None:
        return None
    watchdog = threading.Timer(seconds, _stop_client, (proc,))
    watchdog.daemon = True
    watchdog.start()
    return watchdog


def _stream(
    argv: list[str],
    cwd: Path,
    env: dict[str, str],
    progress: Reporter,
    timeout: float | None = None,
    started_client: Callable[[subprocess.Popen[str]], None] | None = None,
) -> tuple[int, deque[str]]:
    """Run a build, showing its steps; returns the exit code and the last 400 log lines.
    Past `timeout` seconds the client is stopped and the failure names the deadline;
    `started_client` is told the client's process (so that a build run aside can be stopped)."""
    log: deque[str] = deque(maxlen=400)
    started = time.monotonic()
    proc = children.popen(  # a group of its own, ended on every way out
        argv,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
    )
    watchdog = _deadline(proc, timeout)
    if started_client is not None:
        started_client(proc)
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            log.append(line)
            progress.raw(line)
            step = _BUILD_STEP.match(line)
            if step:
                progress.step(" ".join(step.group(1).split())[:120])
        code = proc.wait()
        if code != 0 and timeout is not None and time.monotonic() - started >= timeout:
            raise CheckFailed(
                f"the build did not finish within {timeout:g} s (--build-timeout, {BUILD_TIMEOUT_ENV}); "
                "the build client was stopped",
                tail(log),
            )
        return code, log
    finally:
        if watchdog is not None:
            watchdog.cancel()
        _stop_client(proc)


def build_image(
    target: Target,
    image: str,
    build: BuildCommand,
    progress: Reporter,
    *,
    labels: dict[str, str] | None = None,
    timeout: float | None = None,
    platform: str | None = None,
    started_client: Callable[[subprocess.Popen[str]], None] | None = None,
) -> Build:
    """Build `image` with the project's own Dockerfile, as `make docker-build` does; `labels`
    name the run on the image, `timeout` is the build's deadline in seconds, `platform` the
    one to build for (`make docker-build PLATFORM=...`; the engine's own when None);
    `started_client` is told the build client's process."""
    labelled = [arg for key, value in (labels or {}).items() for arg in ("--label", f"{key}={value}")]
    targeted = ("--platform", platform) if platform else ()
    args = ("--progress=plain", *targeted, "--build-arg", f"VERSION={target.version}", "-t", image, ".")
    progress.phase(Phase.BUILD, f"{image} with {' '.join(build.argv)}")
    started = time.monotonic()
    code, log = _stream(
        [*build.argv, *labelled, *args],
        target.project,
        {**os.environ, **dict(build.env)},
        progress,
        timeout,
        started_client,
    )
    seconds = time.monotonic() - started
    if code != 0:
        detail = tail(log)
        unfetchable = unfetchable_base_image(log, platform)
        if unfetchable:
            raise CheckFailed(unfetchable, detail)
        cause = (
            first_go_error(detail)
            or failed_step_output(log)
            or next((ln for ln in reversed(log) if ln.lower().startswith(("error", "failed"))), "")
        )
        raise CheckFailed(
            f"the image did not build ({' '.join(build.argv)} exited {code})"
            + (f": {cause[:200]}" if cause else ""),
            detail,
        )
    return Build(seconds, build.shown(*args))  # as a person would repeat it: without the run's labels


@dataclass(frozen=True)
class ImageFacts:
    """What the built image declares: its size, HEALTHCHECK command and EXPOSEd ports."""

    size: int
    health_test: list[str]
    exposed: tuple[str, ...]


def inspect_image(client: docker.DockerClient, image: str) -> ImageFacts:
    """The image's size, HEALTHCHECK and EXPOSE; an image without a HEALTHCHECK fails."""
    attrs: dict[str, Any] = client.images.get(image).attrs
    config = attrs.get("Config") or {}
    test = (config.get("Healthcheck") or {}).get("Test")
    if not test or test[0] == "NONE":
        raise CheckFailed("the image has no HEALTHCHECK")
    return ImageFacts(
        int(attrs.get("Size") or 0), list(test), tuple(sorted(config.get("ExposedPorts") or {}))
    )


def check_exposed(facts: ImageFacts, port: int) -> str:
    """The image's EXPOSE must name the port the service answered on."""
    if f"{port}/tcp" not in facts.exposed:
        declared = f"EXPOSEs {', '.join(facts.exposed)}" if facts.exposed else "has no EXPOSE"
        raise CheckFailed(
            f"the image {declared}, but the service answers on {port}/tcp: "
            f"the Dockerfile should say EXPOSE {port}, which is what compose and Kubernetes read"
        )
    return f"EXPOSE {port}/tcp is the port the service answers on"


# ---------------------------------------------------------------- run


def published_port(container: Container, port: int) -> int:
    """The host port on 127.0.0.1 that docker published for the container's `port`."""
    container.reload()
    bindings = (container.attrs["NetworkSettings"].get("Ports") or {}).get(f"{port}/tcp") or []
    for binding in bindings:
        if binding.get("HostIp") in {"127.0.0.1", "", "0.0.0.0"} and binding.get("HostPort"):
            return int(binding["HostPort"])
    # A container that exited at once has no published ports: say why it exited.
    raise CheckFailed.of(container_exited(container) or f"docker published no host port for {port}/tcp")


def timed_stop(container: Container) -> tuple[float, int]:
    """`docker stop` (SIGTERM, SIGKILL after 10 s): seconds taken and the exit code."""
    begin = time.monotonic()
    container.stop(timeout=10)
    code = int(container.wait(timeout=30).get("StatusCode", -1))
    return time.monotonic() - begin, code


def _wait_healthy(container: Container, started: float, deadline: float = HEALTHY_DEADLINE_SECONDS) -> float:
    """Seconds from start until the HEALTHCHECK passes. Only probes after the service answered
    count: a service that took a while to listen failed the earlier ones."""
    earlier: int | None = None
    while True:
        problem = container_exited(container, "before its HEALTHCHECK passed")  # reloads
        if problem:
            raise CheckFailed.of(problem)
        health = container.attrs["State"].get("Health") or {}
        status = health.get("Status")
        if status == "healthy":
            return time.monotonic() - started
        streak = int(health.get("FailingStreak") or 0)
        earlier = streak if earlier is None else earlier
        if status == "unhealthy" and streak - earlier >= HEALTH_RETRIES:
            last = (health.get("Log") or [{}])[-1]
            raise CheckFailed(
                f"the HEALTHCHECK reports unhealthy (exit {last.get('ExitCode')}: "
                f"{str(last.get('Output', '')).strip()[:160]})"
            )
        if time.monotonic() - started > deadline:
            raise CheckFailed(f"the HEALTHCHECK did not pass within {deadline:.0f} s")
        time.sleep(HEALTH_POLL_SECONDS)


def _process_uids(container: Container) -> str:
    try:
        top = container.top(ps_args="-o uid")
        uids = {str(row[0]) for row in top.get("Processes") or []}
    except Exception:  # noqa: BLE001 - ps options differ between engines; fall back to config
        uids = {str(container.attrs["Config"].get("User") or "0").split(":")[0]}
    return ",".join(sorted(uids))


def _after_first_answer(
    container: Container, port: int, started: float, factor: float = 1.0
) -> tuple[float, str]:
    """/healthz, the HEALTHCHECK and the processes' uids, side by side, each within its own deadline.

    Returns when the engine reports healthy; the first check to fail fails at once.
    """
    healthz = in_background(lambda: check_healthz(port), "healthz")
    deadline = HEALTHY_DEADLINE_SECONDS * factor
    healthy = in_background(lambda: _wait_healthy(container, started, deadline), "healthcheck")
    user = in_background(lambda: _process_uids(container), "user")
    first_failure(healthz, healthy, user)
    return healthy.result(), user.result()


@contextlib.contextmanager
def labelled_run(client: docker.DockerClient, run: Owner | None = None) -> Iterator[dict[str, str]]:
    """The labels naming `run` (a new one by default) for the containers started inside; all of
    them are removed on the way out. Where the engine went away they cannot be: the next
    verification's reaper removes them."""
    run = run or Owner.new()
    try:
        yield run.labels(LABEL)
    finally:
        engine.quietly(lambda: _remove_containers(client, run.id))


def _remove_containers(client: docker.DockerClient, run_id: str) -> None:
    import docker

    for container in client.api.containers(all=True, filters={"label": f"{LABEL}={run_id}"}):
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_container(container["Id"], force=True)


@contextlib.contextmanager
def _in(phase: Phase, detail: str, progress: Reporter) -> Iterator[None]:
    """A phase of the container's: reported, and an engine error inside it named by it."""
    progress.phase(phase, detail)
    with engine.step(DOING[phase]):
        yield


def smoke_container(
    client: docker.DockerClient,
    target: Target,
    image: str,
    health_test: list[str],
    progress: Reporter,
    *,
    run: Owner | None = None,
    limits: Limits | None = None,
    platform: str | None = None,
    factor: float = 1.0,
) -> Run:
    """Start the image with the port on an ephemeral 127.0.0.1 port, probe it, stop it. `platform`
    names the image's when it is not the engine's own; `factor` scales the first-answer and
    health deadlines (an emulated platform's service starts and answers slower)."""
    with labelled_run(client, run) as labels:
        with _in(Phase.START, f"container of {image}, port {target.port} on 127.0.0.1", progress):
            # The image's own health command, run every HEALTH_INTERVAL_SECONDS (20 ms
            # after the previous probe ends: a probe is a process started in the
            # container, about 50 ms) instead of at its production interval, so that
            # the first probe after the service listens comes within a probe's time.
            container = client.containers.create(
                image,
                labels=labels,
                **({"platform": platform} if platform else {}),
                **HARDENING,
                **(limits or Limits()).create_options(),
                ports={f"{target.port}/tcp": ("127.0.0.1", None)},
                healthcheck={
                    "test": health_test,
                    "interval": int(HEALTH_INTERVAL_SECONDS * 1e9),
                    "timeout": 3_000_000_000,
                    "retries": HEALTH_RETRIES,
                    "start_period": 0,
                },
            )
            started = time.monotonic()
            container.start()
            host_port = published_port(container, target.port)
        with _in(Phase.SMOKE, f"GET http://127.0.0.1:{host_port}/", progress):
            first = wait_for_hello(
                host_port,
                started,
                lambda: container_exited(container),
                lambda: not_answering(container, target.port),
                deadline=RESPONSE_DEADLINE_SECONDS * factor,
            )
        with _in(Phase.HEALTHY, "/healthz, the HEALTHCHECK and the user", progress):
            healthy, user = _after_first_answer(container, host_port, started, factor)
        with _in(Phase.STOP, "docker stop", progress):
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
    import docker

    repository, _, tag = name.rpartition(":")
    try:
        client.images.get(image).tag(repository, tag)
    except docker.errors.ImageNotFound:
        raise CheckFailed(
            f"the image {image} was removed from outside before it could be tagged {name}"
        ) from None


def remove_image(client: docker.DockerClient, image: str) -> None:
    """Remove the reference `image`; an image that other tags still name stays. Where the
    engine went away it cannot be: the next verification's reaper removes it."""
    import docker

    def remove() -> None:
        with contextlib.suppress(docker.errors.NotFound):
            client.images.remove(image, force=True)

    engine.quietly(remove)
