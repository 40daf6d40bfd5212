"""End to end: real Docker engine, real Go toolchain, real processes.

Each test generates a project, builds its image with its own Dockerfile
through BuildKit and smoke-tests the container, then checks that nothing was
left running and that the project was never touched.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from generator import verify
from tests.helpers.checkout import ROOT
from tests.helpers.engine import assert_no_build_left, stopped_mid_build
from tests.helpers.files import snapshot
from tests.helpers.repos import render_project
from tests.helpers.running import gostarter_process as gostarter
from tests.helpers.running import run

pytestmark = pytest.mark.docker


def read_report(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text())


def assert_real_docker_numbers(report: dict[str, Any], docker_client: Any, image: str) -> None:
    assert report["result"] == "passed", report
    assert report["mode"] == "docker"
    assert report["image"] == image
    assert report["image_size_bytes"] == docker_client.images.get(image).attrs["Size"] > 1_000_000
    assert 0 < report["build_seconds"] < 300
    assert 0 < report["first_response_seconds"] < 5
    assert 0 < report["stop_seconds"] < verify.STOP_LIMIT_SECONDS
    assert report["stop_exit_code"] == 0
    assert report["user"] and report["user"] != "0"
    assert (
        "ran hardened: read-only root filesystem, all capabilities dropped, no-new-privileges"
        in report["checks"]
    )


def test_copier_copy_trust_builds_and_smoke_tests(
    tmp_path: Path, image_answers: dict[str, str], docker_client: Any, no_leftovers: None
) -> None:
    """Plain `copier copy --trust` runs the verification task and reports real numbers."""
    dest, report = tmp_path / "viacopier", tmp_path / "report.toml"
    argv = [sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "--vcs-ref", "HEAD"]
    argv += ["-d", "app_name=viacopier"]
    for key, value in image_answers.items():
        argv += ["-d", f"{key}={value}"]
    done = run([*argv, str(ROOT), str(dest)], env={**os.environ, "GOSTARTER_REPORT": str(report)})
    assert done.returncode == 0, done.stderr
    assert "verification passed (docker)" in done.stderr
    assert (dest / "main.go").is_file()
    assert_real_docker_numbers(read_report(report), docker_client, "viacopier:dev")


def test_copier_copy_keeps_the_project_when_verification_fails(
    tmp_path: Path, images: dict[str, str], no_leftovers: None
) -> None:
    """A failed smoke test is stated loudly and does not cost the user the project."""
    dest = tmp_path / "kept"
    argv = [sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "--vcs-ref", "HEAD"]
    # A builder image without Go (or even a shell): the build must fail.
    argv += [
        "-d",
        f"builder_image={images['distroless-static']}",
        "-d",
        f"runtime_image={images['distroless-static']}",
    ]
    done = run([*argv, str(ROOT), str(dest)])
    assert done.returncode == 0, done.stderr
    assert "verification failed (docker): the image did not build" in done.stderr
    assert f"the project at {dest.resolve()} was kept" in done.stderr
    assert (dest / "main.go").is_file() and (dest / "Dockerfile").is_file()


def test_gostarter_new_verifies_with_docker_and_writes_the_report(
    tmp_path: Path, image_answers: dict[str, str], docker_client: Any, no_leftovers: None
) -> None:
    """`gostarter new --defaults --verify docker --report` ends with a passed, real report."""
    data = [arg for key, value in image_answers.items() for arg in ("--data", f"{key}={value}")]
    report = tmp_path / "r.toml"
    done = gostarter(
        "new",
        str(tmp_path / "svc"),
        "--defaults",
        "--data",
        "app_name=newsvc",
        *data,
        "--verify",
        "docker",
        "--report",
        str(report),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("verification passed (docker): image newsvc:dev")
    assert "cd " in done.stdout and "make docker-build" in done.stdout
    assert_real_docker_numbers(read_report(report), docker_client, "newsvc:dev")


def test_native_mode_on_the_same_project(tmp_path: Path, image_answers: dict[str, str]) -> None:
    """Without a container engine, the Go toolchain proves the same HTTP behaviour."""
    project = render_project(tmp_path / "native", image_answers)
    before = snapshot(project)
    report = tmp_path / "native.toml"
    done = gostarter("verify", str(project), "--verify", "native", "--report", str(report))
    assert done.returncode == 0, done.stderr
    data = read_report(report)
    assert data["result"] == "passed" and data["mode"] == "native"
    assert data["binary_size_bytes"] > 1_000_000
    assert 0 < data["first_response_seconds"] < 5 and data["stop_exit_code"] == 0
    assert data["stop_seconds"] < verify.STOP_LIMIT_SECONDS
    assert snapshot(project) == before


BROKEN = "\nfunc broken() string { return undefinedThing }\n"


@pytest.mark.parametrize("mode", ["docker", "native"])
def test_broken_main_fails_with_the_compiler_message(
    tmp_path: Path, image_answers: dict[str, str], mode: str, no_leftovers: None
) -> None:
    """A user's compile error: exit 1, the compiler's own words, and no file touched."""
    project = render_project(tmp_path / "broken", image_answers)
    with (project / "main.go").open("a") as main_go:
        main_go.write(BROKEN)
    before = snapshot(project)
    report = tmp_path / "broken.toml"
    done = gostarter("verify", str(project), "--verify", mode, "--report", str(report))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "main.go" in done.stderr and "undefined: undefinedThing" in done.stderr
    assert "Traceback" not in done.stderr
    data = read_report(report)
    assert data["result"] == "failed" and "undefined: undefinedThing" in data["reason"]
    assert snapshot(project) == before


def test_host_port_8080_busy_still_passes(
    tmp_path: Path, image_answers: dict[str, str], no_leftovers: None
) -> None:
    """The container is published on an ephemeral host port, so a busy 8080 does not matter."""
    project = render_project(tmp_path / "busy", {**image_answers, "app_name": "busy"})
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", 8080))
        squatter.listen()
        done = gostarter("verify", str(project), "--verify", "docker")
    assert done.returncode == 0, done.stderr
    assert "verification passed (docker)" in done.stdout


@pytest.mark.parametrize("base", ["scratch", "alpine", "distroless-base"])
def test_every_runtime_base_builds_and_answers(
    tmp_path: Path, images: dict[str, str], base: str, no_leftovers: None
) -> None:
    """Each runtime choice yields an image that answers, is healthy, and runs as non-root."""
    answers = {
        "app_name": f"rt-{base}",
        "runtime_base": base,
        "builder_image": images["builder"],
        "runtime_image": images[base],
    }
    project = render_project(tmp_path / base, answers)
    report = tmp_path / "rt.toml"
    done = gostarter("verify", str(project), "--verify", "docker", "--report", str(report), "--rm-image")
    assert done.returncode == 0, done.stderr
    data = read_report(report)
    assert data["result"] == "passed" and data["user"] == "65532"


def test_make_smoke_in_the_generated_project(
    tmp_path: Path, image_answers: dict[str, str], docker_client: Any
) -> None:
    """The generated Makefile's own docker-build and smoke targets work."""
    project = render_project(tmp_path / "mk", {**image_answers, "app_name": "mksmoke"})
    client = verify.find_build_command().client
    done = run(["make", "smoke", f"DOCKER={client}"], project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "smoke: GET / answered Hello, World!" in done.stdout
    assert not docker_client.containers.list(filters={"ancestor": "mksmoke:dev"})


def signal_during_smoke(argv: list[str], project: Path, docker_client: Any, signum: int) -> tuple[int, str]:
    """Run `argv` (a verification of `project`), send `signum` once its container runs; the exit
    code and stderr. A HEALTHCHECK that never passes holds the container in the smoke phase."""
    dockerfile = project / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace('"-healthcheck"]', '"-healthcheck", "-nope"]'))
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not docker_client.containers.list(filters={"label": verify.LABEL}):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no verification container ever started"
            time.sleep(0.1)
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, stderr


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)]
)
def test_a_signal_during_verification_removes_the_container(
    tmp_path: Path, image_answers: dict[str, str], docker_client: Any, signum: int, code: int
) -> None:
    """Ctrl-C, a timeout's SIGTERM or a closed terminal's SIGHUP while the container runs:
    exit 128+n, nothing left behind, no image of the run's own."""
    project = render_project(tmp_path / "intr", {**image_answers, "app_name": "intr"})
    argv = [sys.executable, "-m", "generator", "verify", str(project), "--verify", "docker"]
    returncode, stderr = signal_during_smoke(argv, project, docker_client, signum)
    assert returncode == code, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert not docker_client.containers.list(all=True, filters={"label": verify.LABEL})
    assert not [t for i in docker_client.images.list(name="intr") for t in i.tags if ":verify-" in t]


def test_builder_stage_cross_compiles_for_arm64(tmp_path: Path, image_answers: dict[str, str]) -> None:
    """--platform linux/arm64: the builder runs on the build platform and emits an arm64 binary."""
    project = render_project(tmp_path / "arm", {**image_answers, "app_name": "armsvc"})
    build = verify.find_build_command()
    out = tmp_path / "out"
    argv = [
        *build.argv,
        "--platform",
        "linux/arm64",
        "--target",
        "build",
        "-o",
        f"type=local,dest={out}",
        ".",
    ]
    if "--load" in argv:  # buildx: --load and -o do not mix
        argv.remove("--load")
    for attempt in (1, 2):
        try:
            done = run(argv, project, env={**os.environ, **dict(build.env)}, timeout=420)
            break
        except subprocess.TimeoutExpired:
            # Debian's docker 20.10 client has been seen to never exit after a local export had
            # written every file (once in this suite's runs, the binary complete): a second build,
            # from the warm cache, takes seconds. Two hangs in a row fail the test.
            if attempt == 2:
                raise
            shutil.rmtree(out, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-3000:]
    header = (out / "out" / "armsvc").read_bytes()[:20]
    assert header[:4] == b"\x7fELF"
    assert int.from_bytes(header[18:20], "little") == 183, "e_machine is not EM_AARCH64"


def test_verbose_streams_the_build_log_and_quiet_prints_only_the_result(
    tmp_path: Path, image_answers: dict[str, str], no_leftovers: None
) -> None:
    """--verbose passes BuildKit's own lines through; --quiet leaves one line on stdout."""
    project = render_project(tmp_path / "loud", {**image_answers, "app_name": "loud"})
    loud = gostarter("verify", str(project), "--verify", "docker", "--verbose")
    assert loud.returncode == 0, loud.stderr
    assert "[internal] load build definition from Dockerfile" in loud.stderr
    assert any(line.startswith("#") and "loud:verify-" in line for line in loud.stderr.splitlines())
    quiet = gostarter("verify", str(project), "--verify", "docker", "--quiet")
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert quiet.stdout.count("\n") == 1 and quiet.stdout.startswith("verification passed (docker)")


def test_unfetchable_base_image_is_named_with_the_way_out(
    tmp_path: Path, images: dict[str, str], no_leftovers: None
) -> None:
    """A base image the engine lacks and cannot pull: the image is named, and the fix is said."""
    absent = "gostarter.test/absent-golang:1.27"
    project = render_project(
        tmp_path / "absent", {"builder_image": absent, "runtime_image": images["scratch"]}
    )
    done = gostarter("verify", str(project), "--verify", "docker")
    assert done.returncode == 1
    assert f"the base image {absent} could not be fetched" in done.stderr
    assert "--data builder_image=" in done.stderr and "Traceback" not in done.stderr


SECRETS = ["config/.env", ".env.local", "certs/server.pem", "deploy/keys/tls.key", "home/.ssh/id_rsa",
           "a/b/id_ed25519.pub", "x/.netrc"]  # fmt: skip


def test_no_secret_reaches_the_build_context_at_any_depth(
    tmp_path: Path, image_answers: dict[str, str]
) -> None:
    """.dockerignore keeps keys and env files out of the context, however deep: the context is listed."""
    project = render_project(tmp_path / "ctx", {**image_answers, "app_name": "ctxsvc"})
    for name in SECRETS:
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text("secret\n")
    (project / "internal" / "keep.go").parent.mkdir()
    (project / "internal" / "keep.go").write_text("package internal\n")
    lister = tmp_path / "list.Dockerfile"
    lister.write_text(f"FROM {image_answers['builder_image']}\nCOPY . /ctx\nRUN find /ctx -type f | sort\n")
    build = verify.find_build_command()
    argv = [*build.argv, "--no-cache", "--progress=plain", "-f", str(lister), "-t", "gostarter-ctx:test", "."]
    done = run(argv, project, env={**os.environ, **dict(build.env)})
    assert done.returncode == 0, done.stderr[-3000:]
    listed = {line.split("/ctx/", 1)[1] for line in done.stderr.splitlines() if " /ctx/" in line}
    assert {"main.go", "go.mod", "internal/keep.go"} <= listed, listed
    assert not listed & set(SECRETS), listed & set(SECRETS)
    verify.remove_image(verify.docker_client(), "gostarter-ctx:test")


def test_a_container_that_exits_at_once_is_reported_with_its_logs(
    tmp_path: Path, image_answers: dict[str, str], no_leftovers: None
) -> None:
    """A service that dies on start: reported as exited, with its exit code and its last output."""
    project = render_project(tmp_path / "dies", {**image_answers, "app_name": "dies"})
    main_go = project / "main.go"
    main_go.write_text(
        main_go.read_text().replace(
            "func main() {\n",
            'func main() {\n\tfmt.Fprintln(os.Stderr, "no config, giving up")\n\tos.Exit(3)\n',
        )
    )
    assert "giving up" in main_go.read_text()
    done = gostarter("verify", str(project), "--verify", "docker", "--rm-image")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "exited with code 3 before answering" in done.stderr
    assert "no config, giving up" in done.stderr


def test_same_named_services_never_verify_or_remove_each_others_images(
    tmp_path: Path, image_answers: dict[str, str], docker_client: Any, no_leftovers: None
) -> None:
    """An APP:dev that was there before survives --rm-image, even when the build fails."""
    project = render_project(tmp_path / "twin", {**image_answers, "app_name": "twin"})
    assert gostarter("verify", str(project), "--verify", "docker").returncode == 0
    before = docker_client.images.get("twin:dev").id
    other = render_project(tmp_path / "other", {**image_answers, "app_name": "twin"})
    with (other / "main.go").open("a") as main_go:
        main_go.write("\nfunc broken() string { return undefinedThing }\n")
    failed = gostarter("verify", str(other), "--verify", "docker", "--rm-image")
    assert failed.returncode == 1
    assert docker_client.images.get("twin:dev").id == before
    again = gostarter("verify", str(project), "--verify", "docker", "--rm-image")
    assert again.returncode == 0, again.stderr
    assert docker_client.images.get("twin:dev").id == before
    assert not [t for i in docker_client.images.list(name="twin") for t in i.tags if ":verify-" in t]
    docker_client.images.remove("twin:dev", force=True)


def test_concurrent_runs_of_same_named_services_each_verify_their_own_image(
    tmp_path: Path, image_answers: dict[str, str], no_leftovers: None
) -> None:
    """Two services called `pair`, verified at once: the good one passes, the one that dies fails."""
    good = render_project(tmp_path / "good", {**image_answers, "app_name": "pair"})
    bad = render_project(tmp_path / "bad", {**image_answers, "app_name": "pair"})
    main_go = bad / "main.go"
    main_go.write_text(main_go.read_text().replace("func main() {\n", "func main() {\n\tos.Exit(4)\n"))
    argv = [sys.executable, "-m", "generator", "verify", "--verify", "docker", "--rm-image"]
    procs = {
        name: subprocess.Popen(
            [*argv, str(project)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for name, project in (("good", good), ("bad", bad))
    }
    outputs = {name: proc.communicate(timeout=300) for name, proc in procs.items()}
    assert procs["good"].returncode == 0, outputs["good"]
    assert procs["bad"].returncode == 1 and "exited with code 4" in outputs["bad"][1], outputs["bad"]


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)]
)
def test_a_signal_during_the_build_stops_it_and_leaves_nothing(
    tmp_path: Path, image_answers: dict[str, str], docker_client: Any, signum: int, code: int
) -> None:
    """A signal while BuildKit builds: the build client is stopped, no image tag of the run's own
    and no container remain."""
    project = render_project(tmp_path / "slow", {**image_answers, "app_name": "slowbuild"})
    returncode, stderr = stopped_mid_build(project, signum)
    assert returncode == code, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert_no_build_left(docker_client, "slowbuild")


def test_the_copier_task_cleans_up_on_sigterm_and_keeps_the_project(
    tmp_path: Path, image_answers: dict[str, str], docker_client: Any
) -> None:
    """The task's process group terminated (a closed terminal, a cancelled job): no container is
    left, and the task still exits 0 so that Copier keeps the project."""
    project = render_project(tmp_path / "task", {**image_answers, "app_name": "tasksig"})
    argv = [sys.executable, str(ROOT / "hooks" / "post_generate.py"), str(project), "docker"]
    returncode, stderr = signal_during_smoke(argv, project, docker_client, signal.SIGTERM)
    assert returncode == 0, stderr
    assert "verification interrupted; the project was kept" in stderr
    assert not docker_client.containers.list(all=True, filters={"label": verify.LABEL})
    assert (project / "main.go").is_file()
