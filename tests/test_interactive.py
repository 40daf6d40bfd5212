"""The interactive flow through a real pseudo-terminal: prompts, inline validation, Ctrl-C,
SIGTERM, SIGHUP and a closed terminal."""

from __future__ import annotations

import os
import signal
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pexpect
import pytest
import yaml

CTRL_U = "\x15"  # clears the pre-filled default in the prompt


def spawn(*args: str, cwd: Path, env: dict[str, str] | None = None) -> pexpect.spawn:
    return pexpect.spawn(
        sys.executable,
        ["-m", "generator", *args],
        cwd=str(cwd),
        encoding="utf-8",
        timeout=60,
        dimensions=(50, 200),
        env={**os.environ, **(env or {})},
    )


def answer(child: pexpect.spawn, prompt: str, text: str | None = None) -> None:
    """Wait for the question whose help contains `prompt`; type `text` or accept the default."""
    child.expect_exact(prompt)
    if text is not None:
        child.send(CTRL_U + text)
    child.send("\r")


@pytest.mark.docker
def test_interactive_new_with_a_rejected_then_corrected_answer(
    tmp_path: Path, image_answers: dict[str, str], docker_client: Any, no_leftovers: None
) -> None:
    """A person answers the prompts, one answer is refused inline and corrected, and the
    project is generated with the preset's images and verified in a real container."""
    preset = tmp_path / "preset.toml"
    preset.write_text(
        "[defaults]\n" + "".join(f'{key} = "{value}"\n' for key, value in image_answers.items())
    )
    report = tmp_path / "report.toml"
    child = spawn(
        "new",
        "--preset",
        str(preset),
        "--report",
        str(report),
        "--verify",
        "docker",
        cwd=tmp_path,
        env={"XDG_CONFIG_HOME": str(tmp_path / "xdg")},
    )
    child.expect_exact("Service name")
    child.send(CTRL_U + "Orders_API\r")
    child.expect_exact("must be lowercase letters")  # refused on the spot
    child.send(CTRL_U + "orders-api\r")
    answer(child, "One-line description", "Takes orders")
    answer(child, "Go module path", "example.com/shop/orders-api/v2")
    answer(child, "Go release line")
    answer(child, "Port the service listens on", "70000")
    child.expect_exact("must be between 1 and 65535")
    child.send(CTRL_U + "9090\r")
    # The defaults: the select list's, the images pre-filled from the preset, no platforms (the
    # engine's own).
    for prompt in ("Runtime base of the final image", "Builder image", "Runtime image", "Platforms to build"):
        answer(child, prompt)
    answer(child, "Maintainer", "Shop Team <shop@example.com>")
    answer(child, "compose.yaml")
    answer(child, "GitHub Actions workflow")
    answer(child, "Kubernetes manifests")  # the default: no
    answer(child, "renovate.json")
    for prompt in ("catalog-info.yaml", "Owning team"):  # no entry, and so no owner needed
        answer(child, prompt)
    child.expect(pexpect.EOF, timeout=300)
    child.close()
    output = child.before or ""
    assert child.exitstatus == 0, output[-3000:]
    assert "verification passed (docker)" in output
    assert "cd orders-api" in output

    project = tmp_path / "orders-api"
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["app_name"] == "orders-api" and answers["port"] == 9090
    assert answers["module_path"] == "example.com/shop/orders-api/v2"
    assert answers["builder_image"] == image_answers["builder_image"]
    labels = docker_client.images.get("orders-api:dev").labels
    assert labels["org.opencontainers.image.authors"] == "Shop Team <shop@example.com>"
    assert labels["org.opencontainers.image.description"] == "Takes orders"
    data = tomllib.loads(report.read_text())
    assert data["result"] == "passed" and data["image"] == "orders-api:dev"


def test_ctrl_c_at_a_prompt_leaves_nothing(tmp_path: Path) -> None:
    """Ctrl-C while answering: exit 130, a short message, no directory half-written."""
    child = spawn("new", "svc", cwd=tmp_path, env={"XDG_CONFIG_HOME": str(tmp_path / "xdg")})
    answer(child, "Service name", "svc")
    child.expect_exact("One-line description")
    child.sendcontrol("c")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    assert "interrupted" in (child.before or "")
    assert "Traceback" not in (child.before or "")
    assert list(tmp_path.iterdir()) == [] or [p.name for p in tmp_path.iterdir()] == ["xdg"]


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_signal_at_a_prompt_exits_with_its_own_code(tmp_path: Path, signum: int, code: int) -> None:
    """SIGTERM or SIGHUP while a question is shown: 143 or 129 and one line naming the signal
    (Copier turns it into a plain interrupt at a question; gostarter still knows which it was)."""
    child = spawn("new", "svc", cwd=tmp_path, env={"XDG_CONFIG_HOME": str(tmp_path / "xdg")})
    child.expect_exact("Service name")
    child.kill(signum)
    child.expect(pexpect.EOF)
    child.close()
    output = child.before or ""
    assert child.exitstatus == code, output[-2000:]
    assert f"interrupted ({signal.Signals(signum).name})" in output
    assert "Traceback" not in output
    assert [p.name for p in tmp_path.iterdir()] in ([], ["xdg"])


def test_a_closed_terminal_at_a_prompt_is_a_hangup(tmp_path: Path) -> None:
    """The terminal goes away while a question is shown (its master side closes; the kernel sends
    SIGHUP): exit 129, nothing written, no process left."""
    child = spawn("new", "svc", cwd=tmp_path, env={"XDG_CONFIG_HOME": str(tmp_path / "xdg")})
    child.expect_exact("Service name")
    child.ptyproc.fileobj.close()  # only the terminal closes: no signal from the test itself
    deadline = time.monotonic() + 60
    while True:
        pid, status = os.waitpid(child.pid, os.WNOHANG)
        if pid:
            break
        assert time.monotonic() < deadline, "gostarter did not end when its terminal closed"
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(status) == 129
    assert [p.name for p in tmp_path.iterdir()] in ([], ["xdg"])
