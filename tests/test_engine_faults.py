"""Engine faults, end to end: whatever the engine or the service does, a verification ends within
its deadlines as a pass or as a failure naming its cause.

Each failure is checked the way a person meets it: exit code 1, one summary line naming
the step and the cause, the --report file, no traceback, and nothing left on the engine.
The engine itself is shared and never stopped: a test that needs it to stop points the
verification at a socket relaying to it (tests/engine_proxy.py) and cuts that.
"""

from __future__ import annotations

import http.server
import io
import itertools
import os
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from generator import verify
from generator.console import Progress
from generator.errors import UsageError
from generator.reporting import Reporter
from generator.verify import docker as docker_mode
from generator.verify import limits
from generator.verify.target import Target
from generator.web.verify_process import EventStream
from tests.engine_proxy import EngineProxy
from tests.helpers.checkout import ROOT
from tests.helpers.repos import render_project
from tests.helpers.running import gostarter as gostarter_in_process

docker = pytest.mark.docker
SUMMARY = "gostarter: verification failed (docker): "


class Verification:
    """`gostarter verify` as its own process, with a temporary directory of its own; its stderr lines
    are collected with the time each came."""

    def __init__(self, project: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.report = project.parent / f"{project.name}-report.toml"
        self.tmpdir = project.parent / f"{project.name}-tmp"
        self.tmpdir.mkdir(exist_ok=True)
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "generator", "verify", str(project), "--report", str(self.report), *args],
            env={**os.environ, "TMPDIR": str(self.tmpdir), **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[tuple[float, str]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append((time.monotonic() - self.started, line.rstrip("\n")))

    @property
    def stderr(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def wait(self, timeout: float = 300) -> int:
        try:
            self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=10)
        assert self.proc.stdout is not None
        self.stdout = self.proc.stdout.read()
        self.proc.stdout.close()
        return self.proc.returncode

    def seconds(self) -> float:
        return time.monotonic() - self.started

    def when(self, condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
        """Wait until `condition` holds while the verification runs."""
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.proc.poll() is None, f"the verification ended before {what}:\n{self.stderr}"
            assert time.monotonic() < deadline, f"never {what}:\n{self.stderr}"
            time.sleep(0.1)

    def report_data(self) -> dict[str, Any]:
        assert list(self.tmpdir.iterdir()) == [], "a temporary file was left"
        return tomllib.loads(self.report.read_text())


def assert_failed(run: Verification, *causes: str) -> dict[str, Any]:
    """Exit 1, one summary line naming every cause, the hint, the report, no traceback, no temporary file."""
    code = run.wait()
    stderr = run.stderr
    assert code == 1, stderr
    assert "Traceback" not in stderr, stderr
    summaries = [line for _, line in run.lines if line.startswith(SUMMARY)]
    assert len(summaries) == 1, stderr
    for cause in causes:
        assert cause in summaries[0], stderr
    assert "gostarter: fix what failed, then run `gostarter verify" in stderr
    report = run.report_data()
    assert report["result"] == "failed" and report["mode"] == "docker", report
    assert report["reason"] == summaries[0].removeprefix(SUMMARY)
    return report


def own_tags(docker_client: Any, app: str) -> list[str]:
    return [tag for image in docker_client.images.list(name=app) for tag in image.tags]


def running_container(docker_client: Any) -> Any:
    containers = docker_client.containers.list(filters={"label": verify.LABEL, "status": "running"})
    return containers[0] if containers else None


def slow_start(project: Path, seconds: int = 60) -> None:
    """The service sleeps before it listens: the verification waits in its smoke phase."""
    main_go = project / "main.go"
    main_go.write_text(
        main_go.read_text().replace(
            "func main() {\n",
            f"func main() {{\n\tif len(os.Args) == 1 {{\n\t\ttime.Sleep({seconds} * time.Second)\n\t}}\n",
        )
    )


def allocating(project: Path, mib: int) -> None:
    """The service touches `mib` MiB before it serves (a cache warmed at start)."""
    main_go = project / "main.go"
    text = main_go.read_text().replace(
        "func main() {\n",
        "var ballast []byte\n\nfunc main() {\n"
        f'\tif len(os.Args) == 1 {{\n\t\tfmt.Fprintln(os.Stderr, "warming a {mib} MiB cache")\n'
        f"\t\tballast = make([]byte, {mib}<<20)\n"
        "\t\tfor i := range ballast {\n\t\t\tballast[i] = 1\n\t\t}\n\t}\n",
    )
    main_go.write_text(text)


# ---------------------------------------------------------------- the engine goes away


@docker
def test_the_engine_stopped_during_the_smoke_phase_fails_and_the_next_run_reaps_what_it_left(
    tmp_path: Path,
    image_answers: dict[str, str],
    docker_client: Any,
    engine_proxy: EngineProxy,
    no_leftovers: None,
) -> None:
    """The engine stops while the container runs: a failed verification naming the engine and the step
    (the container and the image cannot be removed then); once the engine is back, the next
    verification removes both, says so in one line, and passes."""
    project = render_project(tmp_path / "cut", {**image_answers, "app_name": "enginecut"})
    slow_start(project)
    run = Verification(project, "--verify", "docker", env={"DOCKER_HOST": engine_proxy.url})
    run.when(lambda: running_container(docker_client) is not None, "a container ran")
    run.when(lambda: "gostarter: [" in run.stderr and "smoke: GET" in run.stderr, "the smoke phase began")
    engine_proxy.cut()
    report = assert_failed(
        run, "probing the container failed: the Docker engine at DOCKER_HOST=", "went away"
    )
    assert run.seconds() < 60
    assert report["image"].startswith("enginecut:verify-")
    left = docker_client.containers.list(all=True, filters={"label": verify.LABEL})
    assert len(left) == 1 and report["image"] in own_tags(docker_client, "enginecut"), "nothing to reap"

    engine_proxy.open()  # the engine is back
    healthy = render_project(tmp_path / "next", {**image_answers, "app_name": "enginenext"})
    after = Verification(healthy, "--verify", "docker", "--rm-image", env={"DOCKER_HOST": engine_proxy.url})
    assert after.wait() == 0, after.stderr
    reaped = [line for _, line in after.lines if "left by a verification that died" in line]
    assert len(reaped) == 1, after.stderr
    assert "removed 1 container and image tag " + report["image"] in reaped[0]
    assert not docker_client.containers.list(all=True, filters={"label": verify.LABEL})
    assert own_tags(docker_client, "enginecut") == []


@docker
def test_the_engine_stopped_during_the_build_is_named(
    tmp_path: Path,
    image_answers: dict[str, str],
    docker_client: Any,
    engine_proxy: EngineProxy,
    no_leftovers: None,
) -> None:
    """The engine stops while BuildKit runs a step: not "docker build exited 1" but the engine, named."""
    project = render_project(tmp_path / "midbuild", {**image_answers, "app_name": "midbuild"})
    token = 100000 + int.from_bytes(os.urandom(2), "big")
    dockerfile = project / "Dockerfile"
    dockerfile.write_text(
        dockerfile.read_text().replace("WORKDIR /src\n", f"WORKDIR /src\nRUN sleep {token}\n")
    )
    run = Verification(project, "--verify", "docker", env={"DOCKER_HOST": engine_proxy.url})
    run.when(lambda: f"RUN sleep {token}" in run.stderr, "the build reached its slow step")
    engine_proxy.cut()
    assert_failed(
        run,
        "building the image failed: the Docker engine at DOCKER_HOST=",
        "went away; the image did not build",
    )
    assert run.seconds() < 60
    assert own_tags(docker_client, "midbuild") == []


@docker
def test_a_live_run_never_reaps_another_live_runs_container(
    tmp_path: Path, image_answers: dict[str, str], docker_client: Any, no_leftovers: None
) -> None:
    """Two verifications at once: the second one's reaper leaves the first one's running container."""
    slow = render_project(tmp_path / "slow", {**image_answers, "app_name": "liveslow"})
    slow_start(slow, seconds=8)
    first = Verification(slow, "--verify", "docker", "--rm-image")
    first.when(lambda: running_container(docker_client) is not None, "a container ran")
    quick = render_project(tmp_path / "quick", {**image_answers, "app_name": "livequick"})
    second = Verification(quick, "--verify", "docker", "--rm-image")
    assert second.wait() == 0, second.stderr
    assert "left by a verification that died" not in second.stderr
    assert first.wait() == 0, first.stderr


@docker
def test_the_container_removed_from_outside_is_a_failure_naming_it(
    tmp_path: Path, image_answers: dict[str, str], docker_client: Any, no_leftovers: None
) -> None:
    """`docker rm -f` of the smoke container while it is probed: the failure says it was removed."""
    project = render_project(tmp_path / "rm", {**image_answers, "app_name": "removed"})
    slow_start(project)
    run = Verification(project, "--verify", "docker")
    run.when(lambda: running_container(docker_client) is not None, "a container ran")
    container = running_container(docker_client)
    container.remove(force=True)
    assert_failed(
        run, "probing the container failed: the container", container.id, "was removed from outside"
    )
    assert own_tags(docker_client, "removed") == [], "a failed run must not tag APP:dev or keep its own tag"


@docker
@pytest.mark.parametrize(
    ("action", "cause"),
    [
        ("pause", "the container was paused from outside (docker pause) before answering"),
        ("kill", "the container was killed by SIGKILL (exit code 137) before answering"),
    ],
)
def test_a_container_paused_or_killed_from_outside_is_named(
    tmp_path: Path,
    image_answers: dict[str, str],
    docker_client: Any,
    action: str,
    cause: str,
    no_leftovers: None,
) -> None:
    """`docker pause` or `docker kill` while the verification waits for the service: said as such."""
    project = render_project(tmp_path / action, {**image_answers, "app_name": f"outside{action}"})
    slow_start(project)
    run = Verification(project, "--verify", "docker")
    run.when(lambda: running_container(docker_client) is not None, "a container ran")
    getattr(running_container(docker_client), action)()
    assert_failed(run, cause)
    assert run.seconds() < 60
    assert own_tags(docker_client, f"outside{action}") == []


@docker
def test_an_entrypoint_to_a_missing_file_is_named(
    tmp_path: Path, image_answers: dict[str, str], docker_client: Any, no_leftovers: None
) -> None:
    """ENTRYPOINT names a file the image lacks: the engine refuses to start it, and the failure says which."""
    project = render_project(tmp_path / "ep", {**image_answers, "app_name": "noentry"})
    dockerfile = project / "Dockerfile"
    dockerfile.write_text(
        dockerfile.read_text().replace(
            'ENTRYPOINT ["/usr/local/bin/noentry"]', 'ENTRYPOINT ["/usr/local/bin/start.sh"]'
        )
    )
    run = Verification(project, "--verify", "docker")
    assert_failed(
        run,
        "starting the container failed: /usr/local/bin/start.sh does not exist in the image",
        "ENTRYPOINT",
    )
    assert own_tags(docker_client, "noentry") == []


class _Service(http.server.BaseHTTPRequestHandler):
    """A stand-in service on loopback: Hello, World! and /healthz, or (server.answering false) 503."""

    def do_GET(self) -> None:
        ok = self.server.answering  # type: ignore[attr-defined]
        body = (b"Hello, World!" if self.path == "/" else b"ok") if ok else b"not yet"
        self.send_response(200 if ok else 503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class _Container:
    """A running container on the stand-in service's port; from its `fail_from`-th reload (or at
    its stop), the engine answers with an error."""

    def __init__(self, port: int, fail_from: int | None, fail_stop: bool) -> None:
        self.port, self.fail_from, self.fail_stop, self.reloads = port, fail_from, fail_stop, 0
        self.status, self.id = "running", "c0ffee"
        ports = {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
        self.attrs = {"NetworkSettings": {"Ports": ports}, "State": {"Health": {"Status": "healthy"}}}

    def _fail(self, what: str) -> None:
        import docker

        raise docker.errors.APIError(f"{what} refused", explanation=f"{what} refused")

    def reload(self) -> None:
        self.reloads += 1
        if self.fail_from is not None and self.reloads >= self.fail_from:
            self._fail("inspect")

    def start(self) -> None:
        pass

    def top(self, ps_args: str) -> dict[str, Any]:
        return {"Processes": [["1000"]]}

    def stop(self, timeout: int) -> None:
        if self.fail_stop:
            self._fail("stop")

    def wait(self, timeout: int) -> dict[str, int]:
        return {"StatusCode": 0}


class _Engine:
    """Just enough of the Docker SDK's client for smoke_container, failing where it is told to."""

    def __init__(self, container: _Container | None) -> None:
        self.made = container
        self.containers = self
        self.api = self

    def create(self, image: str, **options: Any) -> _Container:
        if self.made is None:
            _Container(0, None, False)._fail("create")
        assert self.made is not None
        return self.made

    def remove_container(self, container: str, force: bool) -> None:
        pass

    def __call__(self, all: bool, filters: dict[str, str]) -> list[dict[str, str]]:
        return []  # client.api.containers(...): nothing left to remove


@pytest.mark.parametrize(
    ("fault", "answering", "named"),
    [
        ("create", True, "starting the container failed: "),
        ("reload", False, "probing the container failed: "),  # while GET / is awaited
        ("reload", True, "probing the container failed: "),  # while the HEALTHCHECK is awaited
        ("stop", True, "stopping the container failed: "),
    ],
)
@pytest.mark.parametrize("reporter", ["terminal", "web stream"])
def test_an_engine_error_names_the_containers_phase_whichever_reporter_shows_it(
    fault: str, answering: bool, named: str, reporter: str
) -> None:
    """An engine error while the container starts, is probed, becomes healthy or stops is named by
    that phase (Phase, not a reporter's text): the same words for the terminal and the web's stream."""
    service = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Service)
    service.answering = answering  # type: ignore[attr-defined]
    threading.Thread(target=service.serve_forever, daemon=True).start()
    container = None
    if fault != "create":
        container = _Container(service.server_address[1], 2 if fault == "reload" else None, fault == "stop")
    progress: Reporter = Progress(quiet=True) if reporter == "terminal" else EventStream(io.StringIO())
    target = Target(Path("/nonexistent"), "svc", 8080, "dev")
    try:
        with pytest.raises(verify.CheckFailed) as failed:
            docker_mode.smoke_container(_Engine(container), target, "svc:x", ["CMD", "x"], progress)  # type: ignore[arg-type]
    finally:
        service.shutdown()
        service.server_close()
    assert failed.value.reason.startswith(named), failed.value.reason


@docker
def test_the_copier_task_reports_an_engine_error_and_keeps_the_project(
    tmp_path: Path, image_answers: dict[str, str], no_leftovers: None
) -> None:
    """The same engine error in the Copier task: stated loudly with the report written, exit 0 so that
    Copier keeps the project."""
    project = render_project(tmp_path / "task", {**image_answers, "app_name": "taskentry"})
    dockerfile = project / "Dockerfile"
    dockerfile.write_text(
        dockerfile.read_text().replace('ENTRYPOINT ["/usr/local/bin/taskentry"]', 'ENTRYPOINT ["/nope"]')
    )
    report = tmp_path / "task.toml"
    argv = [sys.executable, str(ROOT / "hooks" / "post_generate.py"), str(project), "docker"]
    done = subprocess.run(
        argv, env={**os.environ, "GOSTARTER_REPORT": str(report)}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert f"{SUMMARY}starting the container failed: /nope does not exist in the image" in done.stderr
    assert f"the project at {project} was kept" in done.stderr
    assert tomllib.loads(report.read_text())["result"] == "failed"


@docker
def test_the_own_tag_removed_before_the_final_retag_is_a_failure(
    tmp_path: Path,
    image_answers: dict[str, str],
    docker_client: Any,
    monkeypatch: pytest.MonkeyPatch,
    no_leftovers: None,
) -> None:
    """Every check passed, but the run's own tag was removed from outside before it became APP:dev:
    the verification fails saying so, and no APP:dev appears."""
    project = render_project(tmp_path / "retag", {**image_answers, "app_name": "retag"})
    last_check = docker_mode.check_exposed

    def removed_from_outside(facts: docker_mode.ImageFacts, port: int) -> str:
        for tag in own_tags(docker_client, "retag"):
            docker_client.images.remove(tag, force=True)
        return last_check(facts, port)

    monkeypatch.setattr(docker_mode, "check_exposed", removed_from_outside)
    report = tmp_path / "retag.toml"
    done = gostarter_in_process("verify", str(project), "--verify", "docker", "--report", str(report))
    assert done.returncode == 1, done.stderr
    reason = tomllib.loads(report.read_text())["reason"]
    assert reason.startswith("the image retag:verify-") and reason.endswith(
        "before it could be tagged retag:dev"
    )
    assert f"{SUMMARY}{reason}" in done.stderr and "Traceback" not in done.stderr
    assert own_tags(docker_client, "retag") == []


@docker
def test_a_failed_verification_leaves_the_passed_image_as_app_dev(
    tmp_path: Path, image_answers: dict[str, str], docker_client: Any, no_leftovers: None
) -> None:
    """Verify (passes: APP:dev), then change the Dockerfile to run as root and verify again (fails):
    APP:dev still names the image that passed, and the failed image is gone."""
    project = render_project(tmp_path / "dev", {**image_answers, "app_name": "devkept"})
    passed = Verification(project, "--verify", "docker")
    assert passed.wait() == 0, passed.stderr
    assert passed.report_data()["image"] == "devkept:dev"
    before = docker_client.images.get("devkept:dev").id
    dockerfile = project / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("USER 65532:65532", "USER root"))
    failed = Verification(project, "--verify", "docker")
    assert_failed(failed, "runs as root")
    assert docker_client.images.get("devkept:dev").id == before
    assert own_tags(docker_client, "devkept") == ["devkept:dev"]
    docker_client.images.remove("devkept:dev", force=True)


@docker
@pytest.mark.parametrize("mode", ["docker", "auto"])
def test_an_engine_socket_that_never_answers_is_given_up_within_seconds(
    tmp_path: Path, image_answers: dict[str, str], hung_engine: EngineProxy, mode: str, no_leftovers: None
) -> None:
    """DOCKER_HOST names a socket that accepts and never answers: `docker` fails naming DOCKER_HOST,
    `auto` falls back to native; each decides within 15 s."""
    project = render_project(tmp_path / "hung", {**image_answers, "app_name": "hung"})
    run = Verification(project, "--verify", mode, env={"DOCKER_HOST": hung_engine.url})
    code = run.wait(timeout=120)
    stderr = run.stderr
    assert "Traceback" not in stderr, stderr
    said = [
        (at, line)
        for at, line in run.lines
        if f"no Docker engine is reachable at DOCKER_HOST={hung_engine.url}" in line
    ]
    assert len(said) == 1 and "did not answer within 5 s" in said[0][1], stderr
    assert said[0][0] < 15, f"the engine was given up only after {said[0][0]:.1f} s"
    report = run.report_data()
    if mode == "docker":
        assert code == 1 and said[0][1].startswith(SUMMARY), stderr
        assert report["result"] == "failed" and "DOCKER_HOST" in report["reason"]
    else:
        assert code == 0, stderr
        assert "verifying natively with the Go toolchain instead" in said[0][1]
        assert report["result"] == "passed" and report["mode"] == "native"


@docker
def test_a_build_past_its_deadline_is_stopped(
    tmp_path: Path, image_answers: dict[str, str], docker_client: Any, no_leftovers: None
) -> None:
    """A Dockerfile step that never ends: at --build-timeout the build client is stopped and the failure
    names the deadline; while it waits, a progress line comes at least every 10 s (no terminal)."""
    project = render_project(tmp_path / "sleepy", {**image_answers, "app_name": "sleepy"})
    token = 100000 + int.from_bytes(os.urandom(2), "big")  # a step no cache holds, a process to look for
    dockerfile = project / "Dockerfile"
    dockerfile.write_text(
        dockerfile.read_text().replace("WORKDIR /src\n", f"WORKDIR /src\nRUN sleep {token}\n")
    )
    run = Verification(project, "--verify", "docker", "--build-timeout", "25")
    report = assert_failed(run, "the build did not finish within 25 s")
    assert 25 <= run.seconds() < 60
    assert "--build-timeout" in report["reason"]
    building = [at for at, line in run.lines if line.startswith("gostarter: [") and "build" in line]
    gaps = [later - earlier for earlier, later in itertools.pairwise(building)]
    assert any("(still waiting)" in line for _, line in run.lines), run.stderr
    assert building and max(gaps) < 11, f"progress lines came {gaps} s apart"
    assert own_tags(docker_client, "sleepy") == []
    assert subprocess.run(["pgrep", "-f", "sleepy:verify-"], capture_output=True).stdout == b""
    deadline = time.monotonic() + 30
    while subprocess.run(["pgrep", "-f", f"sleep {token}"], capture_output=True).stdout:
        assert time.monotonic() < deadline, "the build step still runs in the engine"
        time.sleep(0.5)


@docker
@pytest.mark.parametrize(("with_k8s", "mib", "limit"), [(False, 320, "256 MiB"), (True, 200, "128 MiB")])
def test_a_service_past_its_memory_limit_is_killed_and_named(
    tmp_path: Path, image_answers: dict[str, str], with_k8s: bool, mib: int, limit: str, no_leftovers: None
) -> None:
    """The container runs with the Deployment's memory limit (128Mi) or, without manifests, 256 MiB:
    a service that touches more is killed, reported as out of memory with the limit and its last output."""
    answers = {**image_answers, "app_name": "hungry", "with_k8s": with_k8s}
    project = render_project(tmp_path / "hungry", answers)
    allocating(project, mib)
    run = Verification(project, "--verify", "docker")
    report = assert_failed(run, f"the container was killed: out of memory (limit {limit}) before answering")
    assert f"warming a {mib} MiB cache" in report["log_tail"] and f"warming a {mib} MiB cache" in run.stderr


@docker
def test_a_memory_limit_that_fits_passes_and_is_in_the_report(
    tmp_path: Path, image_answers: dict[str, str], no_leftovers: None
) -> None:
    """--memory-limit overrides the default: the same service that 256 MiB kills passes with 1Gi."""
    project = render_project(tmp_path / "roomy", {**image_answers, "app_name": "roomy"})
    allocating(project, 320)
    run = Verification(project, "--verify", "docker", "--rm-image", "--memory-limit", "1Gi")
    assert run.wait() == 0, run.stderr
    checks = run.report_data()["checks"]
    assert "ran with memory limit 1 GiB (--memory-limit), at most 256 processes" in checks, checks


@docker
def test_a_project_with_manifests_runs_with_the_deployments_limits(
    tmp_path: Path, image_answers: dict[str, str], no_leftovers: None
) -> None:
    """with_k8s: the container runs with the memory limit, CPU request and CPU limit of the Deployment."""
    project = render_project(tmp_path / "k8s", {**image_answers, "app_name": "withk8s", "with_k8s": True})
    run = Verification(project, "--verify", "docker", "--rm-image")
    assert run.wait() == 0, run.stderr
    checks = run.report_data()["checks"]
    expected = (
        "ran with memory limit 128 MiB (deploy/deployment.yaml), at most 256 processes, "
        "cpu request 50m, cpu limit 500m"
    )
    assert expected in checks, checks


@docker
def test_a_service_listening_on_another_port_is_named_with_its_log(
    tmp_path: Path, image_answers: dict[str, str], no_leftovers: None
) -> None:
    """The service listens on 9091 while the image is run and published on 8080: the failure says
    where it listens, and carries its log."""
    project = render_project(tmp_path / "port", {**image_answers, "app_name": "wrongport"})
    main_go = project / "main.go"
    main_go.write_text(
        main_go.read_text().replace('net.JoinHostPort("", listenPort())', 'net.JoinHostPort("", "9091")')
    )
    run = Verification(project, "--verify", "docker")
    report = assert_failed(run, "GET / did not answer", "it listens on port 9091, not on 8080")
    assert '"msg":"listening"' in report["log_tail"] and ":9091" in report["log_tail"]
    assert '"msg":"listening"' in run.stderr


@docker
def test_an_expose_that_is_not_the_service_port_fails(
    tmp_path: Path, image_answers: dict[str, str], no_leftovers: None
) -> None:
    """EXPOSE 9090 on a service that answers on 8080: compose and Kubernetes would read the wrong port."""
    project = render_project(tmp_path / "expose", {**image_answers, "app_name": "exposed"})
    dockerfile = project / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("EXPOSE 8080", "EXPOSE 9090"))
    run = Verification(project, "--verify", "docker")
    assert_failed(run, "the image EXPOSEs 9090/tcp, but the service answers on 8080/tcp")


# ---------------------------------------------------------------- without an engine


def test_memory_sizes_are_read_as_kubernetes_writes_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """128Mi, 1Gi, 512M and bytes; the flag over the variable over the Deployment over 256 MiB."""
    assert limits.memory_bytes("128Mi", "x") == 128 << 20
    assert limits.memory_bytes("1Gi", "x") == 1 << 30
    assert limits.memory_bytes("512M", "x") == 512_000_000
    assert limits.memory_bytes("268435456", "x") == 256 << 20
    for bad in ("lots", "12Zi", "-5Mi", "1Ki"):
        with pytest.raises(UsageError, match=r"is not a memory size|is below the 6 MiB"):
            limits.memory_bytes(bad, "--memory-limit")
    project = tmp_path / "svc"
    (project / "deploy").mkdir(parents=True)
    monkeypatch.delenv(limits.MEMORY_ENV, raising=False)
    assert limits.for_project(project).memory_bytes == 256 << 20
    (project / "deploy" / "deployment.yaml").write_text(
        "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - resources:\n"
        "            requests: {cpu: 50m, memory: 32Mi}\n            limits: {cpu: '1', memory: 128Mi}\n"
    )
    found = limits.for_project(project)
    assert (found.memory_bytes, found.memory_source) == (128 << 20, "deploy/deployment.yaml")
    assert found.create_options() == {
        "mem_limit": 128 << 20, "memswap_limit": 128 << 20, "pids_limit": 256, "cpu_shares": 51,
        "nano_cpus": 1_000_000_000,
    }  # fmt: skip
    monkeypatch.setenv(limits.MEMORY_ENV, "64Mi")
    assert limits.for_project(project).memory_bytes == 64 << 20
    assert limits.for_project(project, "1Gi").memory_source == "--memory-limit"


def test_bad_limits_and_deadlines_are_usage_errors(tmp_path: Path) -> None:
    """A memory size or a deadline that is not one: exit 2 and one line, before anything runs."""
    project = render_project(tmp_path / "bad")
    env = {**os.environ, "GOSTARTER_BUILD_TIMEOUT": "soon"}
    argv = [sys.executable, "-m", "generator", "verify", str(project), "--verify", "native"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "GOSTARTER_BUILD_TIMEOUT: 'soon' is not a positive number" in done.stderr
    done = subprocess.run([*argv, "--memory-limit", "lots"], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "--memory-limit: 'lots' is not a memory size" in done.stderr
    done = subprocess.run([*argv, "--build-timeout", "0"], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_a_run_is_judged_dead_only_when_its_process_is_gone() -> None:
    """This process is alive; an exited one is dead; a pid that now names a later process is dead;
    a run on another host is never judged dead."""
    from generator.verify.reaper import Owner

    me = Owner.new()
    assert me.started and not me.dead()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert Owner("x", child.pid, me.started, me.host).dead()
    boot = me.started.partition(":")[0]
    assert Owner("x", os.getpid(), f"{boot}:1", me.host).dead(), "the pid was reused by a later process"
    assert not Owner("x", child.pid, me.started, "elsewhere pid:[1]").dead()
    assert Owner.of(me.labels(verify.LABEL), verify.LABEL) == me
    assert Owner.of({verify.LABEL: "abc"}, verify.LABEL) is None, (
        "an older gostarter's container is not judged"
    )


def test_help_and_readme_name_the_same_deadlines_and_limits() -> None:
    """`verify --help` and README's Verification section agree on the options, variables and defaults."""
    shown = gostarter_in_process("verify", "--help").stdout
    readme = (ROOT / "README.md").read_text()
    for name in (
        "--build-timeout",
        "--memory-limit",
        limits.BUILD_TIMEOUT_ENV,
        limits.MEMORY_ENV,
        "256Mi",
        "900",
    ):
        assert name in " ".join(shown.split()), name
        assert name in readme, name
    assert limits.DEFAULT_BUILD_TIMEOUT_SECONDS == 900 and limits.DEFAULT_MEMORY_BYTES == 256 << 20


def test_every_list_of_verification_modes_is_verify_modes() -> None:
    """The modes are one fact: copier.yml's validator (the template cannot import them), the choices
    of `new`, `verify` and `update`, and those `serve` offers, are verify.MODES and SERVED_MODES."""
    import yaml

    questions = yaml.safe_load((ROOT / "copier.yml").read_text())
    assert f"verify not in {list(verify.MODES)}" in questions["verify"]["validator"]
    assert tuple(verify.Mode) == verify.MODES and set(verify.SERVED_MODES) <= set(verify.MODES)
    for command in ("new", "verify", "update"):
        shown = " ".join(gostarter_in_process(command, "--help").stdout.split())
        assert "{" + ",".join(verify.MODES) + "}" in shown, command
    assert "{" + ",".join(verify.SERVED_MODES) + "}" in gostarter_in_process("serve", "--help").stdout
