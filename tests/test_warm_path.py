"""The warm path: what does not depend on each other runs side by side, and no check is lost.

After the container's first answer, /healthz, the image's HEALTHCHECK and the
process's user are checked at once; the health command's failures before that
first answer do not count, three more in a row after it fail.
"""

from __future__ import annotations

import threading
import time
import tomllib
from pathlib import Path

import pytest

from generator.verify.background import first_failure, in_background
from tests.helpers import gostarter_process as gostarter
from tests.helpers import render_project


def test_the_first_failure_is_raised_without_waiting_for_the_slowest() -> None:
    """Side-by-side checks: one that fails is reported at once, not after a slow one ends."""
    release = threading.Event()

    def fails() -> None:
        raise ValueError("healthz said no")

    slow = in_background(lambda: release.wait(30), "slow")
    began = time.monotonic()
    with pytest.raises(ValueError, match="healthz said no"):
        first_failure(slow, in_background(fails, "fails"))
    assert time.monotonic() - began < 10 and not slow.done()
    release.set()
    assert slow.result(timeout=10) is True


def test_side_by_side_checks_all_finish_and_keep_their_results() -> None:
    """When none fails, each check's own result is there once all have finished."""
    checks = [in_background(lambda n=n: (time.sleep(0.05 * n), n)[1], f"c{n}") for n in range(3)]
    first_failure(*checks)
    assert [check.result() for check in checks] == [0, 1, 2]


@pytest.mark.docker
def test_a_healthcheck_that_fails_once_the_service_answers_fails_at_once(
    tmp_path: Path, image_answers: dict[str, str], no_leftovers: None
) -> None:
    """A health command that fails while the service answers is reported with its exit code and
    output after three failed probes, long before the 30 s deadline; nothing is left behind."""
    project = render_project(tmp_path / "sick", {**image_answers, "app_name": "sick"})
    dockerfile = project / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace('"-healthcheck"]', '"-healthcheck", "-nope"]'))
    began = time.monotonic()
    done = gostarter("verify", str(project), "--verify", "docker", "--rm-image")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the HEALTHCHECK reports unhealthy (exit 1" in done.stderr
    assert "flag provided but not defined: -nope" in done.stderr
    assert time.monotonic() - began < 120  # build included; the health verdict itself takes < 2 s


@pytest.mark.docker
def test_a_service_slow_to_listen_passes_its_healthcheck(
    tmp_path: Path, image_answers: dict[str, str], no_leftovers: None
) -> None:
    """A service that listens only 2 s after start: the probes that fail meanwhile do not count,
    and the HEALTHCHECK is reported healthy after the first answer."""
    project = render_project(tmp_path / "slow", {**image_answers, "app_name": "slowsvc"})
    main_go = project / "main.go"
    serving = "\tlogger := slog.New("
    main_go.write_text(main_go.read_text().replace(serving, "\ttime.Sleep(2 * time.Second)\n" + serving))
    assert "time.Sleep(2 * time.Second)" in main_go.read_text()
    report = tmp_path / "slow.toml"
    done = gostarter("verify", str(project), "--verify", "docker", "--rm-image", "--report", str(report))
    assert done.returncode == 0, done.stdout + done.stderr
    found = tomllib.loads(report.read_text())
    assert 2.0 <= found["first_response_seconds"] <= found["healthy_seconds"]
    assert any(check.startswith("HEALTHCHECK healthy") for check in found["checks"])
