"""The initializr's own image (deploy/initializr/): built on a stand-in of the official slim Python
image, run the way an organisation runs it (read-only, no capabilities, no-new-privileges, a tmpfs
for /tmp), it serves the page and the archives, reports healthy, and stops cleanly."""

from __future__ import annotations

import io
import os
import shutil
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.served import free_port
from generator import verify
from tests.helpers.engine import INITIALIZR, app_name, build_initializr_image, until_nothing_left
from tests.helpers.running import run
from tests.helpers.web import SlowUpload, http, post_stream, sse_events

LABEL = "dev.gostarter.test.initializr"
HARDENED = {"read_only": True, "cap_drop": ["ALL"], "security_opt": ["no-new-privileges"]}
TMPFS = {"/tmp": "rw,nosuid,nodev,size=256m"}


def test_dockerfile_is_hadolint_clean() -> None:
    """hadolint reports nothing on the initializr's Dockerfile."""
    done = run(["hadolint", str(INITIALIZR / "Dockerfile")])
    assert done.returncode == 0, done.stdout + done.stderr


def test_wheels_script_is_shellcheck_clean() -> None:
    """shellcheck reports nothing on the script that builds the wheels the image installs."""
    done = run(["shellcheck", str(INITIALIZR / "wheels.sh")])
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def initializr_image(
    docker_client: Any, python_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The initializr's image, built once for this module and removed afterwards."""
    tag = f"gostarter-initializr-test:{uuid.uuid4().hex[:12]}"
    build_initializr_image(python_image, tag, tmp_path_factory.mktemp("initializr-image"))
    try:
        yield tag
    finally:
        docker_client.images.remove(tag, force=True)


@pytest.fixture
def container(docker_client: Any, initializr_image: str) -> Iterator[Any]:
    """The image running hardened, with 8000 published on an ephemeral loopback port."""
    started = docker_client.containers.run(
        initializr_image,
        detach=True,
        labels={LABEL: "1"},
        ports={"8000/tcp": ("127.0.0.1", None)},
        tmpfs=TMPFS,
        **HARDENED,
    )
    try:
        yield started
    finally:
        for left in docker_client.containers.list(all=True, filters={"label": LABEL}):
            left.remove(force=True)


def _port(container: Any) -> int:
    container.reload()
    return int(container.attrs["NetworkSettings"]["Ports"]["8000/tcp"][0]["HostPort"])


def _wait_healthy(container: Any, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        container.reload()
        status = (container.attrs["State"].get("Health") or {}).get("Status")
        if status == "healthy":
            return
        assert container.status == "running", container.logs().decode()
        time.sleep(0.5)
    raise AssertionError(f"not healthy in {seconds} s: {container.logs().decode()}")


@pytest.mark.docker
def test_image_metadata_matches_what_the_manifests_assume(docker_client: Any, initializr_image: str) -> None:
    """Non-root numeric user, port 8000, a HEALTHCHECK, /tmp as the temporary directory, OCI labels."""
    config = docker_client.images.get(initializr_image).attrs["Config"]
    assert config["User"] == "65532:65532"
    assert "8000/tcp" in config["ExposedPorts"]
    assert "/healthz" in " ".join(config["Healthcheck"]["Test"])
    assert "TMPDIR=/tmp" in config["Env"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == "test"
    assert labels["org.opencontainers.image.licenses"] == "MIT"
    assert config["Cmd"] == ["serve", "--host", "0.0.0.0", "--port", "8000"]


@pytest.mark.docker
def test_hardened_container_serves_the_page_and_a_zip(container: Any) -> None:
    """Run read-only without capabilities, it becomes healthy, serves the page with its controls and
    a project archive, runs as uid 65532, and `docker stop` ends it with exit 0."""
    _wait_healthy(container)
    port = _port(container)
    status, headers, page = http(port, "GET", "/", Accept="text/html")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b'data-action="download"' in page and b'name="app_name"' in page
    status, headers, body = http(port, "GET", "/starter.zip?app_name=payments")
    assert status == 200, body
    assert headers["content-disposition"] == 'attachment; filename="payments.zip"'
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert "payments/main.go" in archive.namelist()
        assert b"payments" in archive.read("payments/go.mod")
    uids = {row[1] for row in container.top(ps_args="-o pid,uid")["Processes"]}
    assert uids == {"65532"}, uids
    container.stop(timeout=10)
    assert container.wait(timeout=30)["StatusCode"] == 0, container.logs().decode()


@pytest.mark.docker
def test_readyz_flips_on_sigterm_while_a_slow_request_completes(container: Any) -> None:
    """SIGTERM to the container: /readyz 503 at once while /healthz stays 200, the upload in
    flight still gets its archive, then the container exits 0."""
    _wait_healthy(container)
    port = _port(container)
    assert http(port, "GET", "/readyz")[0] == 200
    upload = SlowUpload(port, "/starter.zip", "app_name=draining")
    upload.start()
    container.kill(signal="SIGTERM")
    deadline = time.monotonic() + 10
    while http(port, "GET", "/readyz")[0] != 503:
        assert time.monotonic() < deadline, "/readyz still ready after SIGTERM"
        time.sleep(0.05)
    assert http(port, "GET", "/healthz")[0] == 200
    status, _, body = upload.finish()
    assert status == 200, body
    assert "draining/main.go" in zipfile.ZipFile(io.BytesIO(body)).namelist()
    assert container.wait(timeout=30)["StatusCode"] == 0, container.logs().decode()


@pytest.mark.docker
def test_with_an_engine_and_a_docker_client_the_container_verifies_before_download(
    docker_client: Any, initializr_image: str, standin_preset: Path, tmp_path: Path
) -> None:
    """The image extended with a docker client (README: "Verification inside the container"), given
    an engine (here the host's socket, with the host's network so that the published port is on
    its loopback), streams a passed verification; nothing is left on the engine."""
    client = verify.find_build_command().client  # one that builds with BuildKit, as on the host
    context = tmp_path / "verifying-image"
    context.mkdir()
    shutil.copy(client, context / "docker")
    (context / "Dockerfile").write_text(f"FROM {initializr_image}\nCOPY docker /usr/local/bin/docker\n")
    tag = f"{initializr_image}-verifying"
    docker_client.images.build(path=str(context), tag=tag, rm=True)
    port, app = free_port(), app_name()
    socket = "/var/run/docker.sock"
    started = docker_client.containers.run(
        tag,
        ["serve", "--host", "127.0.0.1", "--port", str(port), "--verify", "docker"],
        detach=True,
        labels={LABEL: "1"},
        network_mode="host",
        environment={"GOSTARTER_PRESET": "/etc/gostarter/preset.toml", "DOCKER_HOST": f"unix://{socket}"},
        volumes={
            socket: {"bind": socket, "mode": "rw"},
            str(standin_preset): {"bind": "/etc/gostarter/preset.toml", "mode": "ro"},
        },
        group_add=[str(os.stat(socket).st_gid)],
        tmpfs=TMPFS,
        **HARDENED,
    )
    try:
        _wait_healthy_on(port, started)
        response = post_stream(port, "/api/verify", f"app_name={app}")
        events = list(sse_events(response))
        response.connection.close()
        names = [data["name"] for event, data in events if event == "phase"]
        assert names == ["render", "build", "start", "first response", "healthy", "stop"], events[-1]
        assert events[-1][0] == "result" and events[-1][1]["result"] == "passed", events[-1]
        until_nothing_left(docker_client, app, tmp_path / "nowhere", 0)
    finally:
        started.remove(force=True)
        docker_client.images.remove(tag, force=True)


def _wait_healthy_on(port: int, container: Any, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if http(port, "GET", "/healthz")[0] == 200:
                return
        except OSError:
            pass
        container.reload()
        assert container.status in {"created", "running"}, container.logs().decode()
        time.sleep(0.3)
    raise AssertionError(f"no answer in {seconds} s: {container.logs().decode()}")
