"""Termination by any signal at each stage: the machine and the user's files are left as they were.

SIGINT, SIGTERM and SIGHUP are sent to a real gostarter process while it
renders (inside a template's own task) and while it updates (inside a
migration); the verification stage is covered in test_verify_e2e.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from tests.helpers.files import snapshot
from tests.helpers.repos import commit_all, copy_template, git, render_project

SIGNALS = [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)]


def start(args: list[str], tmpdir: Path, cwd: Path | None = None) -> subprocess.Popen[str]:
    """gostarter in the background; its output goes to files (the slow step's orphaned
    `sleep` would hold pipes open), its temporary files to `tmpdir`."""
    tmpdir.mkdir(exist_ok=True)
    with (tmpdir.parent / "out.log").open("w") as out, (tmpdir.parent / "err.log").open("w") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "generator", *args],
            cwd=cwd,
            env={**os.environ, "TMPDIR": str(tmpdir)},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            text=True,
        )


def signal_when(
    proc: subprocess.Popen[str], marker: Path, signum: int, half_done: Callable[[], bool] = lambda: True
) -> str:
    """Wait for `marker` (the stage has begun), check it is `half_done`, send `signum`, return stderr."""
    err_log = marker.parent / "err.log"
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, err_log.read_text()
            assert time.monotonic() < deadline, "the stage never began"
            time.sleep(0.05)
        assert half_done(), "the signal would not interrupt anything half-done"
        proc.send_signal(signum)
        proc.wait(timeout=60)
        return err_log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()


def with_slow_step(template: Path, key: str, marker: Path) -> None:
    """Add a step to copier.yml that marks its start, then takes a while."""
    step = f'  - command: ["sh", "-c", "touch {marker}; sleep 20"]\n'
    config = template / "copier.yml"
    text = config.read_text()
    if key == "_tasks":
        text = text.replace("_tasks:\n", f'_tasks:\n{step}    when: "{{{{ true }}}}"\n')
    else:
        text = text.replace("_migrations:\n", f'_migrations:\n{step}    version: "1.1.0"\n')
    config.write_text(text)


@pytest.mark.parametrize(("signum", "code"), SIGNALS)
def test_a_signal_while_rendering_leaves_no_staging_and_no_clone(
    tmp_path: Path, signum: int, code: int
) -> None:
    template = copy_template(tmp_path / "fork")
    marker = tmp_path / "rendering"
    with_slow_step(template, "_tasks", marker)
    commit_all(template, "a fork with a slow task", tag="1.0.0")
    here = tmp_path / "work"
    here.mkdir()
    proc = start(
        ["new", "svc", "--template", str(template), "--defaults", "--verify", "none"], tmp_path / "tmp", here
    )
    stderr = signal_when(proc, marker, signum)
    assert proc.returncode == code, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert list(here.iterdir()) == [], "a staging directory or a half-written project was left"
    assert list((tmp_path / "tmp").iterdir()) == [], "Copier's temporary clone was left"


@pytest.mark.parametrize(("signum", "code"), SIGNALS)
def test_a_signal_while_updating_rolls_the_update_back(tmp_path: Path, signum: int, code: int) -> None:
    """The update is applied whole or not at all: git shows the tree as it was."""
    template = copy_template(tmp_path / "template")
    commit_all(template, "1.0.0", tag="1.0.0")
    project = render_project(tmp_path / "svc", template=template)
    commit_all(project, "generated")
    before = snapshot(project)
    readme = template / "template" / "README.md.jinja"
    readme.write_text(readme.read_text() + "\nOn-call: see the runbook.\n")
    (template / "template" / "NEW.md").write_text("new in 1.1.0\n")
    marker = tmp_path / "migrating"
    with_slow_step(template, "_migrations", marker)
    config = template / "copier.yml"
    config.write_text(
        config.read_text().replace(
            'version: "1.1.0"\n', 'version: "1.1.0"\n    when: "{{ _stage == \'after\' }}"\n', 1
        )
    )
    commit_all(template, "1.1.0", tag="1.1.0")
    proc = start(["update", str(project), "--defaults", "--trust", "--verify", "none"], tmp_path / "tmp")
    stderr = signal_when(proc, marker, signum)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr

    def work_tree(files: dict[str, str]) -> dict[str, str]:
        return {name: digest for name, digest in files.items() if not name.startswith(".git/")}

    assert work_tree(snapshot(project)) == work_tree(before), "a half-applied update was left"
    assert git(project, "status", "--porcelain") == ""
    assert list((tmp_path / "tmp").iterdir()) == [], "Copier's temporary directories were left"


def _stop_pool_mid_work(pool: ProcessPoolExecutor) -> float:
    """Start a 60-second job in `pool`, stop the pool once the job runs; how long stop() took."""
    from generator import children

    running = pool.submit(time.sleep, 60)
    deadline = time.monotonic() + 30
    while not running.running() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # the worker has taken the job
    started = time.monotonic()
    children.stop(pool)
    return time.monotonic() - started


def test_a_pool_is_stopped_mid_work_without_waiting_for_its_jobs() -> None:
    """children.stop ends a worker in the middle of a job at once (on Pythons before 3.14 through
    the pool's private process table, the fallback), rather than waiting the job out."""
    from generator import children

    took = _stop_pool_mid_work(children.workers(1))
    assert took < 10, f"stop() waited {took:.1f} s for a 60 s job"


class _KillablePool(ProcessPoolExecutor):
    """A pool with Python 3.14's public kill_workers(), counting its calls."""

    killed = 0

    def kill_workers(self) -> None:
        type(self).killed += 1
        for process in list(getattr(self, "_processes", {}).values()):
            os.kill(process.pid, signal.SIGKILL)


def test_a_pool_with_kill_workers_is_stopped_through_it() -> None:
    """Where ProcessPoolExecutor has kill_workers() (Python 3.14), children.stop uses it, not the
    private process table."""
    pool = _KillablePool(max_workers=1)
    took = _stop_pool_mid_work(pool)
    assert _KillablePool.killed == 1
    assert took < 10
