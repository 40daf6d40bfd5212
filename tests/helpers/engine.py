"""The container engine: a verification stopped mid-build and what it may leave, the initializr's image."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from generator import verify
from tests.helpers.checkout import ROOT
from tests.helpers.running import run


def app_name() -> str:
    """A service name of this test's own, so that its images and containers can be told apart."""
    import uuid

    return f"vfy{uuid.uuid4().hex[:8]}"


def verification_leftovers(docker_client: Any, app: str, temp: Path) -> list[str]:
    """Whatever a served verification of `app` left: containers, image tags, job directories."""
    left = [
        f"container {c.name}"
        for c in docker_client.containers.list(all=True, filters={"label": verify.LABEL})
        if str(c.attrs["Config"]["Image"]).startswith(f"{app}:")
    ]
    left += [f"image {tag}" for image in docker_client.images.list(name=app) for tag in image.tags]
    left += [f"directory {p}" for p in temp.glob("gostarter-serve-*/verify-*")]
    return left


def until_nothing_left(docker_client: Any, app: str, temp: Path, seconds: float) -> None:
    """Wait up to `seconds` for a verification of `app` to have left nothing; fail naming what is left."""
    import time

    deadline = time.monotonic() + seconds
    while left := verification_leftovers(docker_client, app, temp):
        assert time.monotonic() < deadline, f"left after {seconds} s: {left}"
        time.sleep(0.1)


INITIALIZR = ROOT / "deploy" / "initializr"


def build_initializr_image(base: str, tag: str, work: Path) -> None:
    """The initializr's image on `base`, as its README says: wheels.sh, then docker build."""
    wheels = work / "wheels"
    done = run([str(INITIALIZR / "wheels.sh"), str(wheels)], env={**os.environ, "PYTHON": sys.executable})
    assert done.returncode == 0, done.stderr
    shutil.copy(INITIALIZR / ".dockerignore", work / ".dockerignore")
    build = verify.find_build_command()  # the BuildKit client verification builds with
    argv = [
        *build.argv, "-q", "-t", tag, "-f", str(INITIALIZR / "Dockerfile"),
        "--build-arg", f"PYTHON_IMAGE={base}", "--build-arg", "VERSION=test",
        str(work),
    ]  # fmt: skip
    built = run(argv, env={**os.environ, **dict(build.env)})
    assert built.returncode == 0, built.stdout + built.stderr


def stopped_mid_build(project: Path, signum: int, *args: str) -> tuple[int | None, str]:
    """`gostarter verify PROJECT --verify docker ARGS` as its own process, sent `signum` once its
    image build has reached a step that no cache holds and that sleeps 30 s (added to the project's
    Dockerfile here): its exit code and what it wrote to stderr."""
    dockerfile = project / "Dockerfile"
    token = os.urandom(6).hex()  # a step no cache holds
    dockerfile.write_text(
        dockerfile.read_text().replace("WORKDIR /src\n", f"WORKDIR /src\nRUN echo {token} && sleep 30\n")
    )
    err_log = project.parent / f"{project.name}-err.log"
    with err_log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "generator", "verify", str(project), "--verify", "docker", *args],
            stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while f"echo {token}" not in err_log.read_text():
            assert proc.poll() is None, err_log.read_text()
            assert time.monotonic() < deadline, "the build never reached the slow step"
            time.sleep(0.05)
        proc.send_signal(signum)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err_log.read_text()


def assert_no_build_left(docker_client: Any, app: str) -> None:
    """No verification container, no image tag of `app` and no build client of its run remain."""
    assert not docker_client.containers.list(all=True, filters={"label": verify.LABEL})
    assert not [t for i in docker_client.images.list(name=app) for t in i.tags], "an image was left"
    builds = run(["pgrep", "-f", f"{app}:verify-"])
    assert builds.stdout.strip() == "", f"a docker build client was left running: {builds.stdout}"
