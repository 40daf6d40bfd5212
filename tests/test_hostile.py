"""Hostile files, hostile paths, hostile timing (issue 17), one class per class of input.

Every test asserts the documented exit code, one or two lines on stderr and
no traceback, that nothing outside the project (or, where the command refused,
nothing at all) was touched, and that no process or temporary entry was left
(TMPDIR points at a directory of the test's own). Real processes, real
filesystems (a small tmpfs that fills up), real signals.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import stat
import subprocess
import sys
import tarfile
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator import bootstrap, hook, lifecycle, sources
from generator.errors import GostarterError, UsageError
from tests.helpers.checkout import ROOT
from tests.helpers.files import fill, snapshot, tmpfs
from tests.helpers.processes import alive, descendants
from tests.helpers.repos import (
    OWNER_MAIN,
    answers,
    commit_all,
    copy_template,
    generate,
    git,
    release_1_1,
    render_project,
)
from tests.helpers.running import assert_clean_error, gostarter, gostarter_process

# ============================================================== shared


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A generated project (not verified), under tmp_path/p."""
    return render_project(tmp_path / "p")


@pytest.fixture
def private_tmp(tmp_path: Path) -> Path:
    """A TMPDIR of the test's own, to see what a command leaves behind."""
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    return tmp


def hostile_paths(where: Path) -> dict[str, Path]:
    """A path of every kind that is not a regular file, made under `where`."""
    where.mkdir(exist_ok=True)
    target = where / "target.txt"
    target.write_text("someone else's file\n")
    paths = {
        "null device": where / "null",
        "full device": where / "full",
        "fifo": where / "fifo",
        "socket": where / "sock",
        "directory": where / "dir",
        "symlink": where / "link",
        "dangling symlink": where / "dangling",
    }
    os.mknod(paths["null device"], stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mknod(paths["full device"], stat.S_IFCHR | 0o666, os.makedev(1, 7))
    os.mkfifo(paths["fifo"])
    os.mknod(paths["socket"], stat.S_IFSOCK | 0o600)
    paths["directory"].mkdir()
    paths["symlink"].symlink_to(target)
    paths["dangling symlink"].symlink_to(where / "nowhere")
    return paths


def kinds(where: Path) -> dict[str, tuple[int, int, int]]:
    """What is at each entry of `where`: its file type, inode and size (links not followed)."""
    return {
        entry.name: (stat.S_IFMT(entry.lstat().st_mode), entry.lstat().st_ino, entry.lstat().st_size)
        for entry in sorted(where.iterdir())
    }


@pytest.fixture
def as_root() -> None:
    """Mounting a tmpfs needs root, which CI has; elsewhere these tests cannot run."""
    if os.geteuid() != 0:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("CI runs as root (.ci/run), and these tests need it to mount a tmpfs")
        pytest.skip("needs root to mount a small tmpfs")


# ============================================================== outputs go only where asked (item 3)


class TestOutputs:
    """--report, GOSTARTER_REPORT, `preset init` and `check --report` write a regular file, replaced
    whole, and nothing else: never a device, FIFO, socket, directory or symlink, never into the
    project, never a partial or empty file on a full disk."""

    def test_verify_refuses_every_path_that_is_not_a_regular_file(
        self, project: Path, tmp_path: Path
    ) -> None:
        """Each kind is refused before verifying (exit 2), named, and left exactly as it was."""
        where = tmp_path / "out"
        paths = hostile_paths(where)
        before = kinds(where)
        for kind, path in paths.items():
            done = gostarter("verify", str(project), "--verify", "native", "--report", str(path))
            assert_clean_error(done, 2, str(path), "left it as it is")
            assert done.stdout == "", f"{kind}: the verification ran"
        assert kinds(where) == before
        assert (where / "target.txt").read_text() == "someone else's file\n"

    def test_new_refuses_a_bad_report_before_rendering(self, tmp_path: Path) -> None:
        """A device as --report: exit 2 up front, no project rendered, no staging left."""
        paths = hostile_paths(tmp_path / "out")
        here = tmp_path / "work"
        here.mkdir()
        done = gostarter(
            "new", "svc", "--defaults", "--verify", "none", "--report", str(paths["full device"]), cwd=here
        )
        assert_clean_error(done, 2, "is a character device")
        assert list(here.iterdir()) == []

    def test_a_report_inside_the_project_is_refused(self, project: Path, tmp_path: Path) -> None:
        """--report naming a project's own file (or a new one inside it): exit 2, project unchanged."""
        before = snapshot(project)
        for inside in (project / "main.go", project / ".copier-answers.yml", project / "sub" / "r.toml"):
            done = gostarter("verify", str(project), "--verify", "none", "--report", str(inside))
            assert_clean_error(done, 2, "is inside the project")
        assert snapshot(project) == before
        dest = tmp_path / "fresh"
        done = gostarter("new", str(dest), "--defaults", "--verify", "none", "--report", str(dest / "r.toml"))
        assert_clean_error(done, 2, "is inside the project")
        assert not dest.exists()

    def test_update_and_check_refuse_a_report_inside_the_project(self, project: Path) -> None:
        """update (also --dry-run) and check: the report path is judged before anything runs."""
        before = snapshot(project)
        report = str(project / "report.toml")
        for args in (("update", "--dry-run"), ("update",), ("check",)):
            done = gostarter(*args, str(project), "--report", report)
            assert_clean_error(done, 2, "is inside the project")
        assert snapshot(project) == before

    def test_a_replaced_report_keeps_its_mode_and_is_whole(self, project: Path, tmp_path: Path) -> None:
        """An existing report is replaced (a new inode, same mode); a new one gets the umask's mode."""
        old = tmp_path / "old.toml"
        old.write_text("stale = true\n")
        old.chmod(0o640)
        new = tmp_path / "new.toml"
        for path in (old, new):
            done = gostarter("verify", str(project), "--verify", "none", "--report", str(path))
            assert done.returncode == 0, done.stderr
            assert tomllib.loads(path.read_text())["result"] == "skipped"
        assert stat.S_IMODE(old.stat().st_mode) == 0o640
        umask = os.umask(0)
        os.umask(umask)
        assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~umask
        assert sorted(p.name for p in tmp_path.iterdir()) == ["new.toml", "old.toml", "p"]

    def test_preset_init_refuses_what_is_not_a_regular_file(self, tmp_path: Path) -> None:
        """preset init onto a device, a FIFO or a symlink, even with --force: exit 2, left alone."""
        where = tmp_path / "out"
        paths = hostile_paths(where)
        before = kinds(where)
        for path in (paths["full device"], paths["fifo"], paths["symlink"], paths["dangling symlink"]):
            done = gostarter("preset", "init", str(path), "--force", "--data", "maintainer=Ops")
            assert_clean_error(done, 2, str(path))
        assert kinds(where) == before

    def test_a_full_disk_leaves_no_partial_or_empty_file(
        self, project: Path, tmp_path: Path, as_root: None
    ) -> None:
        """--report, preset init and check's report on a full filesystem: one line, exit 1, no new
        file at all (not even an empty one), an existing report unchanged."""
        with tmpfs(tmp_path / "full", "64k") as full:
            (full / "kept.toml").write_text("result = 'passed'\n")
            fill(full)
            before = kinds(full)
            for name in ("kept.toml", "new.toml"):
                done = gostarter("verify", str(project), "--verify", "none", "--report", str(full / name))
                assert_clean_error(done, 1, "no space left on the device; nothing was written")
            done = gostarter(
                "preset", "init", str(full / "preset.toml"), "--force", "--data", "maintainer=Ops"
            )
            assert_clean_error(done, 1, "no space left on the device")
            with pytest.raises(GostarterError, match="no space left"):
                lifecycle.write_report([], full / "drift.toml")
            assert kinds(full) == before
            assert (full / "kept.toml").read_text() == "result = 'passed'\n"

    def test_the_copier_tasks_report_never_hides_the_result(
        self,
        project: Path,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """GOSTARTER_REPORT on a device: the verification's result is printed, then one line about
        the report; the device is left alone and the task exits 0."""
        device = hostile_paths(tmp_path / "out")["full device"]
        monkeypatch.setenv("GOSTARTER_REPORT", str(device))
        assert hook.main([str(project), "native"]) == 0
        err = capsys.readouterr().err
        assert "verification passed (native)" in err
        assert f"the report was not written: the report path {device} is a character device" in err
        assert stat.S_ISCHR(device.lstat().st_mode)


# ============================================================== never half-written (item 5)


class TestNeverHalfWritten:
    """`new` into an existing empty directory stages on that directory's own filesystem; on a full
    disk the directory is left as empty as it was, and the error names it."""

    def test_a_destination_that_is_a_full_mount_point_stays_empty(
        self, tmp_path: Path, private_tmp: Path, as_root: None
    ) -> None:
        with tmpfs(tmp_path / "dest", "16k") as dest:
            inode = dest.stat().st_ino
            done = gostarter_process(
                "new", str(dest), "--defaults", "--verify", "none", env={"TMPDIR": str(private_tmp)}
            )
            assert_clean_error(done, 2, f"cannot write the project into {dest}: No space left on device")
            assert ".gostarter" not in done.stderr
            assert list(dest.iterdir()) == [] and dest.stat().st_ino == inode
        assert list(private_tmp.iterdir()) == []

    def test_a_destination_on_a_filesystem_that_fills_up_stays_empty(
        self, tmp_path: Path, private_tmp: Path, as_root: None
    ) -> None:
        """The destination's filesystem has room for a few files only: none of them stays."""
        with tmpfs(tmp_path / "fs", "300k") as fs:
            dest = fs / "svc"
            dest.mkdir()
            (fs / ".fill").write_bytes(b"\0" * (300 * 1024 - 24 * 1024))
            done = gostarter_process(
                "new", str(dest), "--defaults", "--verify", "none", env={"TMPDIR": str(private_tmp)}
            )
            assert_clean_error(done, 2, f"cannot write the project into {dest}")
            assert list(dest.iterdir()) == []
            assert sorted(p.name for p in fs.iterdir()) == [".fill", "svc"]
        assert list(private_tmp.iterdir()) == []

    def test_an_empty_mount_point_with_room_receives_the_project(self, tmp_path: Path, as_root: None) -> None:
        """The same mount point with room: the project is there, the directory kept, nothing else."""
        with tmpfs(tmp_path / "dest", "4m") as dest:
            inode = dest.stat().st_ino
            done = gostarter("new", str(dest), "--defaults", "--verify", "none")
            assert done.returncode == 0, done.stderr
            assert dest.stat().st_ino == inode
            assert (dest / "main.go").is_file() and (dest / "scripts" / "smoke.sh").is_file()
            assert not [p for p in dest.iterdir() if p.name.startswith(".gostarter")]

    def test_app_name_directory_on_another_filesystem_is_filled_whole_or_not_at_all(
        self, tmp_path: Path, as_root: None
    ) -> None:
        """No DEST: ./APP_NAME exists empty on another filesystem (staged elsewhere, copied inside
        it first): too small, it stays empty; with room, it receives the project."""
        here = tmp_path / "work"
        here.mkdir()
        with tmpfs(here / "myapp", "16k") as small:
            done = gostarter("new", "--defaults", "--verify", "none", cwd=here)
            assert_clean_error(done, 2, f"cannot write the project into {small}")
            assert list(small.iterdir()) == []
        with tmpfs(here / "myapp", "4m") as roomy:
            done = gostarter("new", "--defaults", "--verify", "none", cwd=here)
            assert done.returncode == 0, done.stderr
            assert (roomy / "main.go").is_file()
            assert not [p for p in roomy.iterdir() if p.name.startswith(".gostarter")]
        assert [p.name for p in here.iterdir()] == ["myapp"]


# ============================================================== every child dies with gostarter (item 9)


def start(
    args: list[str], tmp: Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """gostarter in the background, its TMPDIR private, its output in files beside it."""
    with (tmp.parent / "out.log").open("w") as out, (tmp.parent / "err.log").open("w") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "generator", *args],
            cwd=cwd,
            env={**os.environ, **(env or {}), "TMPDIR": str(tmp)},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            text=True,
        )


def wait_for_child(
    proc: subprocess.Popen[str], needle: str, deadline: float = 180, *, suffix: str = ""
) -> dict[int, str]:
    """Wait until a descendant of `proc` runs a command containing `needle` (and ending in
    `suffix`); all of its descendants then."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        assert proc.poll() is None, "gostarter ended before the stage began"
        found = descendants(proc.pid)
        if any(needle in command and command.endswith(suffix) for command in found.values()):
            return found
        time.sleep(0.02)
    raise AssertionError(f"no child running {needle!r}")


@pytest.fixture
def background() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; killed if the test fails half-way."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class TestChildren:
    """Children run in their own process group and are ended on every way out, a second signal
    during the clean-up included; go build's work directory is inside the run's own temp dir."""

    @pytest.mark.parametrize(
        ("first", "second", "code"),
        [(signal.SIGTERM, signal.SIGINT, 143), (signal.SIGINT, signal.SIGTERM, 130)],
    )
    def test_two_quick_signals_during_native_verification_leave_no_service(
        self,
        project: Path,
        private_tmp: Path,
        background: list[subprocess.Popen[str]],
        first: int,
        second: int,
        code: int,
    ) -> None:
        """The service binary is running when two signals arrive 5 ms apart: none of gostarter's
        children outlives it, and the temporary directory is gone."""
        slow_to_answer(project)
        proc = start(["verify", str(project), "--verify", "native"], private_tmp)
        background.append(proc)
        children = wait_for_child(proc, f"{private_tmp}/gostarter-native-", suffix="/service")
        proc.send_signal(first)
        time.sleep(0.005)
        proc.send_signal(second)
        proc.wait(timeout=60)
        stderr = (private_tmp.parent / "err.log").read_text()
        assert proc.returncode == code, stderr
        assert "Traceback" not in stderr and "interrupted" in stderr
        assert not [pid for pid, was in children.items() if alive(pid, was)]
        assert running_with(str(private_tmp)) == []
        assert list(private_tmp.iterdir()) == []

    def test_an_interrupted_go_build_leaves_no_compiler_and_no_work_directory(
        self, project: Path, private_tmp: Path, background: list[subprocess.Popen[str]]
    ) -> None:
        """A signal to gostarter alone (not its group) while `go build` runs: the go command and
        its compilers end with it, and no go-build* directory is left in TMPDIR."""
        cold = {"GOCACHE": str(private_tmp.parent / "gocache")}  # the build takes a while
        proc = start(["verify", str(project), "--verify", "native"], private_tmp, env=cold)
        background.append(proc)
        wait_for_child(proc, f"{private_tmp}/gostarter-native-")  # a compiler, in go build's work dir
        children = descendants(proc.pid)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        stderr = (private_tmp.parent / "err.log").read_text()
        assert proc.returncode == 130, stderr
        assert "Traceback" not in stderr
        time.sleep(0.2)
        assert not [was for pid, was in children.items() if alive(pid, was)]
        assert running_with(str(private_tmp)) == [], "a compiler outlived gostarter"
        assert list(private_tmp.iterdir()) == [], "go build's work directory was left"

    def test_a_process_a_library_started_dies_with_gostarter(
        self, tmp_path: Path, private_tmp: Path, background: list[subprocess.Popen[str]]
    ) -> None:
        """A template's task (Copier starts it, not gostarter) is still running when gostarter is
        terminated: it does not outlive gostarter."""
        template = copy_template(tmp_path / "fork")
        config = template / "copier.yml"
        marker = tmp_path / "task-started"
        step = f'  - command: ["sh", "-c", "touch {marker}; sleep 60"]\n    when: "{{{{ true }}}}"\n'
        config.write_text(config.read_text().replace("_tasks:\n", f"_tasks:\n{step}"))
        commit_all(template, "a fork with a slow task", tag="1.0.0")
        here = tmp_path / "work"
        here.mkdir()
        proc = start(
            ["new", "svc", "--template", str(template), "--defaults", "--verify", "none"], private_tmp, here
        )
        background.append(proc)
        children = wait_for_child(proc, "sleep 60")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        stderr = (private_tmp.parent / "err.log").read_text()
        assert proc.returncode == 143, stderr
        assert "Traceback" not in stderr
        time.sleep(0.2)
        assert not [was for pid, was in children.items() if alive(pid, was)]
        assert list(here.iterdir()) == [] and list(private_tmp.iterdir()) == []


def slow_to_answer(project: Path) -> None:
    """The service sleeps 20 s before it listens: it is surely running while gostarter probes it."""
    main = project / "main.go"
    main.write_text(
        main.read_text().replace("func main() {\n", "func main() {\n\ttime.Sleep(20 * time.Second)\n", 1)
    )


def running_with(text: str) -> list[str]:
    """The command lines of every process on the machine that mention `text` (a private path)."""
    return [command for pid, command in descendants(1).items() if text in command and pid != os.getpid()]


# ============================================================== start-up and closed streams (item 10)


class TestStartup:
    """Ctrl-C at any moment of the start, the imports included, is exit 130 and one line; a closed
    standard input is a usage error, not a traceback."""

    @pytest.mark.parametrize("delay", [0.0, 0.05, 0.2, 0.5])
    def test_ctrl_c_while_starting(self, tmp_path: Path, private_tmp: Path, delay: float) -> None:
        """SIGINT `delay` s after gostarter's first line ran (its imports, then Copier cloning the
        template): 130, one line, nothing written. The template is a host that never answers, so
        that gostarter is surely still running at every delay, however fast the machine. (Before
        that first line, the interpreter itself is starting, which no program can handle.)"""
        here = tmp_path / "work"
        here.mkdir()
        with silent_server() as port:
            proc = subprocess.Popen(
                [sys.executable, "-m", "generator", "new", "svc", "--defaults", "--verify", "none",
                 "--template", f"https://127.0.0.1:{port}/acme/template.git"],
                cwd=here,
                env={**os.environ, "TMPDIR": str(private_tmp)},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            wait_for_handlers(proc)
            time.sleep(delay)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        assert_clean_error(done, 130, "interrupted (SIGINT)")
        assert list(here.iterdir()) == [] and list(private_tmp.iterdir()) == []

    def test_closed_standard_input_is_a_usage_error(self, tmp_path: Path) -> None:
        """`gostarter new d <&-`: no terminal to ask on, exit 2, nothing written."""
        done = subprocess.run(
            [sys.executable, "-m", "generator", "new", "d"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
            preexec_fn=lambda: os.close(0),  # the closed stdin is the point
        )
        assert_clean_error(done, 2, "no terminal to ask the questions on")
        assert list(tmp_path.iterdir()) == []

    def test_closed_standard_input_with_defaults_renders(self, tmp_path: Path) -> None:
        """The same with --defaults needs no terminal: it renders, and nothing reads a closed fd 0."""
        done = subprocess.run(
            [sys.executable, "-m", "generator", "new", "d", "--defaults", "--verify", "none"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
            preexec_fn=lambda: os.close(0),  # the closed stdin is the point
        )
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "d" / "main.go").is_file()


def wait_for_handlers(proc: subprocess.Popen[str]) -> None:
    """Wait until `proc` catches SIGTERM (gostarter's first line installs its handlers; Python
    alone catches only SIGINT), read from the SigCgt mask in /proc."""
    deadline = time.monotonic() + 30
    status = Path("/proc") / str(proc.pid) / "status"
    while time.monotonic() < deadline:
        caught = next(
            (line.split()[1] for line in status.read_text().splitlines() if line.startswith("SigCgt:")), "0"
        )
        if int(caught, 16) & (1 << (signal.SIGTERM - 1)):
            return
        time.sleep(0.002)
    raise AssertionError("gostarter never installed its signal handlers")


# ============================================================== the Copier task repairs itself (item 11)


SCRIPT = ROOT / "hooks" / "post_generate.py"


def run_task(project: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The Copier task as Copier runs it, on a Python without gostarter's dependencies (-S: no
    site-packages), so that it bootstraps them; verify=none: the environment is what is tested."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GOSTARTER_")}
    return subprocess.run(
        [sys.executable, "-S", str(SCRIPT), str(project), "none"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def cached(cache: Path) -> Path:
    (home,) = (cache / "gostarter" / "hook-env").iterdir()
    return home


class TestCopierTask:
    """A cached environment that does not start or lacks a dependency is rebuilt once; a cache
    directory that cannot be used gives way to a temporary environment, removed afterwards."""

    def test_an_environment_that_lacks_a_dependency_is_rebuilt_once(
        self, project: Path, tmp_path: Path
    ) -> None:
        cache = tmp_path / "cache"
        first = run_task(project, {"XDG_CACHE_HOME": str(cache)})
        assert first.returncode == 0 and "first run: installing" in first.stderr, first.stderr
        home = cached(cache)
        removed = subprocess.run(
            [str(home / "bin/python"), "-m", "pip", "uninstall", "-q", "-y", "tomli-w"], check=False
        )
        assert removed.returncode == 0
        again = run_task(project, {"XDG_CACHE_HOME": str(cache)})
        assert again.returncode == 0, again.stderr
        assert (
            f"the verification environment in {home} lacks a dependency: rebuilding it once" in again.stderr
        )
        assert "Traceback" not in again.stderr and "skipped" not in again.stderr
        probe = subprocess.run([str(home / "bin/python"), "-c", "import tomli_w"], check=False)
        assert probe.returncode == 0, "the environment was not repaired"

    def test_an_environment_that_does_not_start_is_rebuilt_once(self, project: Path, tmp_path: Path) -> None:
        """Its base Python is gone (the venv's python points nowhere)."""
        cache = tmp_path / "cache"
        assert run_task(project, {"XDG_CACHE_HOME": str(cache)}).returncode == 0
        home = cached(cache)
        (home / "bin/python").unlink()
        (home / "bin/python").symlink_to(tmp_path / "gone" / "python3")
        again = run_task(project, {"XDG_CACHE_HOME": str(cache)})
        assert again.returncode == 0, again.stderr
        assert "does not start: rebuilding it once" in again.stderr
        assert "Traceback" not in again.stderr and "skipped" not in again.stderr
        assert subprocess.run([str(home / "bin/python"), "-c", "pass"], check=False).returncode == 0

    def test_a_cache_directory_that_is_a_file_falls_back_to_a_temporary_environment(
        self, project: Path, tmp_path: Path, private_tmp: Path
    ) -> None:
        cache = tmp_path / "cache-file"
        cache.write_text("not a directory\n")
        done = run_task(project, {"XDG_CACHE_HOME": str(cache), "TMPDIR": str(private_tmp)})
        assert done.returncode == 0, done.stderr
        assert "cannot use the cache directory" in done.stderr
        assert "into a temporary environment (removed afterwards)" in done.stderr
        assert "Traceback" not in done.stderr and "skipped" not in done.stderr
        assert cache.read_text() == "not a directory\n"
        assert list(private_tmp.iterdir()) == []

    def test_the_rerun_reports_a_missing_dependency_to_its_parent(self, tmp_path: Path) -> None:
        """Inside the re-run (the environment prepared), a missing module is MISSING, not a skip."""
        os.environ[bootstrap.BOOTSTRAPPED] = "1"
        try:
            assert bootstrap.bootstrap(SCRIPT, [str(tmp_path), "none"], "tomli_w") == bootstrap.MISSING
        finally:
            del os.environ[bootstrap.BOOTSTRAPPED]


# ============================================================== control characters (item 12)


class TestControlCharacters:
    """C1 controls (U+0080 to U+009F) and the line and paragraph separators are refused like C0
    controls, from every source; the validators need no deprecated escape."""

    @pytest.mark.parametrize("char", ["\x85", "\x80", "\x9b", "\u2028", "\u2029"])
    def test_refused_from_data(self, tmp_path: Path, char: str) -> None:
        done = gostarter(
            "new", str(tmp_path / "d"), "--defaults", "--verify", "none", "--data", f"description=a{char}b"
        )
        assert_clean_error(done, 2, "invalid description (from --data)", "control characters")
        assert not (tmp_path / "d").exists()

    def test_refused_from_a_preset(self, tmp_path: Path) -> None:
        preset = tmp_path / "preset.toml"
        preset.write_text('[defaults]\nmaintainer = "Ops\\u0085Team"\n', encoding="utf-8")
        done = gostarter(
            "new", str(tmp_path / "d"), "--defaults", "--verify", "none", "--preset", str(preset)
        )
        assert_clean_error(done, 2, "invalid maintainer", str(preset))
        assert not (tmp_path / "d").exists()

    def test_the_template_renders_with_deprecation_warnings_as_errors(self, tmp_path: Path) -> None:
        """`python -W error::DeprecationWarning`: every validator still works (no '\\Z' escape)."""
        done = subprocess.run(
            [sys.executable, "-W", "error::DeprecationWarning", "-m", "generator", "new", "d", "--defaults",
             "--verify", "none", "--data", "module_path=example.com/x/v2"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "escape" not in done.stderr


# ============================================================== the answers file and the template source
# (values from a project are data; trust per project; the dry run; --allow-dirty; bounded reads;
# a fleet check; the Python floor; and a property over any answers-file value)

ANSWERS = ".copier-answers.yml"


def work_tree(project: Path) -> dict[str, str]:
    """The project's files (not its repository's bookkeeping, which `git status` may refresh)."""
    return {name: digest for name, digest in snapshot(project).items() if not name.startswith(".git/")}


def set_answers(project: Path, **changes: object) -> None:
    """Rewrite the project's answers file with `changes` (None removes a key), and commit it."""
    data = answers(project)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    (project / ANSWERS).write_text(yaml.safe_dump(data, allow_unicode=False), encoding="utf-8")
    if (project / ".git").exists():
        git(project, "commit", "-qam", "answers changed", "--allow-empty")


@pytest.fixture
def tracked(template_repo: Path, tmp_path: Path) -> Path:
    """A project of the 1.0.0 template (a git repository of its own, committed)."""
    return generate(template_repo, tmp_path / "svc")


@pytest.fixture
def canary(tmp_path: Path) -> Iterator[Path]:
    """A file that only an executed payload would create."""
    path = tmp_path / "CANARY"
    yield path
    assert not path.exists(), "a value from a file was executed"


def payloads(canary: Path) -> list[str]:
    return [
        f"--upload-pack=touch {canary} #",
        f"--exec=touch {canary}",
        f"-u touch {canary}",
        f"ext::sh -c touch% {canary}",
        f"git+ext::sh -c touch% {canary}",
        f"fd::0,1/{canary}",
    ]


# ---------------------------------------------------------------- 1. values from files are data


@pytest.mark.parametrize("command", [("check",), ("update", "--dry-run", "--verify", "none")])
def test_an_answers_file_never_passes_options_or_transports_to_git(
    tracked: Path, canary: Path, command: tuple[str, ...]
) -> None:
    """A `_src_path` that git would read as an option or a command-running transport is refused
    before git runs: exit 2, one line, and the payload never runs (the project's repository has a
    local-path remote, which is what let `git ls-remote --upload-pack=...` run it before)."""
    git(tracked, "remote", "add", "origin", str(tracked))
    for payload in payloads(canary):
        set_answers(tracked, _src_path=payload)
        before = work_tree(tracked)
        done = gostarter_process(*command[:1], str(tracked), *command[1:], cwd=tracked)
        assert_clean_error(done, 2, "_src_path")
        assert work_tree(tracked) == before


def test_git_refuses_ext_whatever_the_users_git_config_says(tmp_path: Path, canary: Path) -> None:
    """The transport allow-list holds even where the user's git config allows ext::."""
    config = tmp_path / "gitconfig"
    config.write_text('[protocol "ext"]\n\tallow = always\n[protocol]\n\tallow = always\n')
    os.environ["GIT_CONFIG_GLOBAL"] = str(config)
    try:
        done = sources.run_git(
            ["git", "ls-remote", "--", f"ext::sh -c touch% {canary}"], source="ext::sh", cwd=tmp_path
        )
    finally:
        del os.environ["GIT_CONFIG_GLOBAL"]
    assert done.returncode != 0
    assert "transport 'ext' not allowed" in done.stderr


@pytest.mark.parametrize(
    "commit",
    ["--output=/tmp/x", "1.0.0\x00", "a..b", "1.0.0 ", "x" * 300, "@{-1}", "a/.hidden", "v1.lock"],
)
def test_a_recorded_commit_must_be_a_git_ref(tracked: Path, commit: str) -> None:
    """`_commit` is refused unless it is a valid git ref name (a tag, a describe, a commit id)."""
    set_answers(tracked, _commit=commit)
    done = gostarter_process("check", str(tracked))
    assert_clean_error(done, 2, "_commit")


@pytest.mark.parametrize(
    "source",
    ["x" * 200_000, "/tmp/a\x00b", "/tmp/a\nb", "/tmp/a\u0085b", "  "],
    ids=["200k", "nul", "newline", "c1-nel", "blank"],  # short ids: pytest puts the id in the environment
)
def test_a_recorded_source_is_bounded_and_plain(tracked: Path, source: str) -> None:
    """A huge `_src_path`, or one with a NUL or another control character, is one line, exit 2."""
    set_answers(tracked, _src_path=source)
    done = gostarter_process("check", str(tracked))
    assert_clean_error(done, 2, "_src_path")


def test_credentials_in_a_url_are_never_printed(tracked: Path, tmp_path: Path) -> None:
    """`https://user:secret@host/x.git` is shown as `https://user:***@host/x.git` by check,
    update --dry-run and update, including what they relay from git and Copier."""
    with silent_server() as port:
        set_answers(tracked, _src_path=f"https://deploy:s3cr3t-token@127.0.0.1:{port}/acme/tpl.git")
        env = {sources.TIMEOUT_VAR: "3"}
        for command in (
            ("check", str(tracked)),
            ("update", str(tracked), "--dry-run", "--verify", "none"),
            ("update", str(tracked), "--defaults", "--verify", "none"),
        ):
            report = tmp_path / "report.toml"
            extra = ("--report", str(report)) if command[0] == "check" else ()
            done = gostarter_process(*command, *extra, env=env)
            assert done.returncode == 2, done.stderr
            assert "Traceback" not in done.stderr
            assert "s3cr3t" not in done.stdout + done.stderr, done.stderr
            assert "deploy:***@127.0.0.1" in done.stderr, done.stderr
            if extra:
                assert "s3cr3t" not in report.read_text()


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("https://u:p@h/x", "https://u:***@h/x"),
        ("git+https://tok@h/x", "git+https://***@h/x"),
        ("ssh://git@h/x", "ssh://git@h/x"),
        ("cannot reach http://a:b@h and https://c:d@i/", "cannot reach http://a:***@h and https://c:***@i/"),
        ("/plain/path", "/plain/path"),
    ],
)
def test_redaction(text: str, shown: str) -> None:
    """A password, or a token alone, is hidden; an ssh user name is not a secret."""
    assert sources.redact(text) == shown


# ---------------------------------------------------------------- 2. trust is decided per project


def add_migration(repo: Path, version: str, canary: Path) -> None:
    """A `_migrations` entry at `version` that would create `canary` if it ever ran."""
    config = repo / "copier.yml"
    text = config.read_text()
    entry = (
        f'  - version: "{version}"\n'
        f'    command: ["{sys.executable}", "-c", "open({str(canary)!r}, \\"w\\").close()"]\n'
    )
    marker = "_migrations:\n"
    assert marker in text
    config.write_text(text.replace(marker, marker + entry, 1))


def test_trust_learnt_for_one_project_never_runs_anothers_migrations(
    template_repo: Path, tmp_path: Path, canary: Path
) -> None:
    """Two dry runs in one process: the first template preview (tasks only) must not let the
    second project's migration run; it is refused, exactly as when it runs alone."""
    old = generate(template_repo, tmp_path / "old")  # at 1.0.0
    add_migration(template_repo, "1.1.0", canary)
    release_1_1(template_repo)
    recent = generate(template_repo, tmp_path / "recent")  # at 1.1.0, past the migration
    (template_repo / "template" / "CONTRIBUTING.md").write_text("Open a pull request.\n")
    commit_all(template_repo, "1.2.0", tag="1.2.0")

    first = gostarter("update", str(recent), "--dry-run", "--verify", "none")
    assert first.returncode == 0, first.stderr
    before = work_tree(old)
    second = gostarter("update", str(old), "--dry-run", "--verify", "none")
    assert_clean_error(second, 2, "migrations", "trust")
    third = gostarter("check", str(recent), str(old))
    assert third.returncode == 2, third.stderr
    assert "migrations" in third.stderr
    assert work_tree(old) == before


# ---------------------------------------------------------------- 4. the dry run shares nothing


def repository_state(git_dir: Path) -> dict[str, object]:
    """What a repository is: its refs, its index and its objects."""
    objects = sorted(str(p.relative_to(git_dir)) for p in (git_dir / "objects").rglob("*") if p.is_file())
    refs = subprocess.run(
        ["git", f"--git-dir={git_dir}", "for-each-ref", "--format=%(refname) %(objectname)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    indexes = {str(p.relative_to(git_dir)): p.read_bytes() for p in git_dir.rglob("index") if p.is_file()}
    head = (git_dir / "HEAD").read_text()
    return {"objects": objects, "refs": refs, "indexes": indexes, "head": head}


def test_a_dry_run_of_a_worktree_leaves_every_repository_unchanged(
    template_repo: Path, tmp_path: Path
) -> None:
    """A project that is a git worktree: its uncommitted edit stays uncommitted, and the main
    repository's refs, index and objects are unchanged."""
    main = generate(template_repo, tmp_path / "main")
    release_1_1(template_repo)
    worktree = tmp_path / "wt" / "svc"
    git(main, "worktree", "add", "-q", "-b", "feature", str(worktree))
    with (worktree / "main.go").open("a") as main_go:
        main_go.write(OWNER_MAIN)
    state = repository_state(main / ".git")
    files = snapshot(worktree)
    done = gostarter_process("update", str(worktree), "--dry-run", "--verify", "none")
    assert done.returncode == 0, done.stderr
    assert "SECURITY.md" in done.stdout
    assert repository_state(main / ".git") == state
    assert snapshot(worktree) == files
    assert "main.go" in git(worktree, "status", "--porcelain")


def test_a_dry_run_of_a_gitdir_file_leaves_the_other_repository_unchanged(
    template_repo: Path, tmp_path: Path
) -> None:
    """A project whose `.git` is a `gitdir:` file pointing at another repository."""
    other = generate(template_repo, tmp_path / "other")
    release_1_1(template_repo)
    project = tmp_path / "svc"
    project.mkdir()
    for entry in other.iterdir():
        if entry.name != ".git":
            subprocess.run(["cp", "-a", str(entry), str(project)], check=True)
    (project / ".git").write_text(f"gitdir: {other / '.git'}\n")
    (project / "notes.txt").write_text("mine\n")
    state = repository_state(other / ".git")
    files = snapshot(project)
    done = gostarter_process("update", str(project), "--dry-run", "--verify", "none")
    assert done.returncode == 0, done.stderr
    assert repository_state(other / ".git") == state
    assert snapshot(project) == files


# ---------------------------------------------------------------- 6. --allow-dirty puts changes back


def test_allow_dirty_on_a_clash_leaves_both_sides_in_the_work_tree(
    template_repo: Path, tmp_path: Path
) -> None:
    """An uncommitted edit that clashes with the update is in the file between git's markers;
    an unrelated edit and an untracked file are back as they were; the message names the file."""
    project = generate(template_repo, tmp_path / "svc")
    release_1_1(template_repo)
    with (project / "Makefile").open("a") as makefile:
        makefile.write("\nmine: # @HELP the owner's own target\n\t@echo mine\n")
    with (project / "main.go").open("a") as main_go:
        main_go.write(OWNER_MAIN)
    (project / "notes.txt").write_text("work in progress\n")
    done = gostarter_process(
        "update", str(project), "--defaults", "--trust", "--allow-dirty", "--verify", "none"
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "clash with the update in Makefile" in done.stderr, done.stderr
    makefile = (project / "Makefile").read_text()
    assert lifecycle.STASH_MARKERS[0] in makefile and lifecycle.STASH_MARKERS[1] in makefile
    assert "the owner's own target" in makefile and "print the version the binary would carry" in makefile
    assert OWNER_MAIN in (project / "main.go").read_text()
    assert (project / "notes.txt").read_text() == "work in progress\n"
    assert (project / "SECURITY.md").is_file()
    assert git(project, "stash", "list").count("gostarter update") == 1
    assert git(project, "log", "--format=%s", "-1").strip() == "generated", "no commit was left behind"


def test_allow_dirty_undoes_an_update_git_cannot_merge_with_your_changes(
    template_repo: Path, tmp_path: Path
) -> None:
    """Your untracked file where the update adds one: the update is undone and the work tree is
    exactly as it was, with a message that says so."""
    project = generate(template_repo, tmp_path / "svc")
    release_1_1(template_repo)
    (project / "SECURITY.md").write_text("my own policy\n")
    with (project / "main.go").open("a") as main_go:
        main_go.write(OWNER_MAIN)
    before = work_tree(project)
    done = gostarter_process(
        "update", str(project), "--defaults", "--trust", "--allow-dirty", "--verify", "none"
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "undone" in done.stderr and "exactly as it was" in done.stderr, done.stderr
    assert work_tree(project) == before
    assert answers(project)["_commit"] == "1.0.0"
    assert git(project, "stash", "list") == ""


# ---------------------------------------------------------------- 7. bounded reads and deadlines


def test_a_fifo_as_the_answers_file_or_the_preset_never_blocks(tracked: Path, tmp_path: Path) -> None:
    """A FIFO is refused at once: one line, exit 2."""
    (tracked / ANSWERS).unlink()
    os.mkfifo(tracked / ANSWERS)
    done = run_bounded(["check", str(tracked)])
    assert_clean_error(done, 2, "is a FIFO")
    fifo = tmp_path / "preset.fifo"
    os.mkfifo(fifo)
    done = run_bounded(["preset", "show"], env={"GOSTARTER_PRESET": str(fifo)})
    assert_clean_error(done, 2, "is a FIFO")


@pytest.mark.parametrize(
    ("preset", "needle"),
    [
        ("/dev/zero", "character device"),
        ("/", "is a directory"),
        ("huge", "larger than 1 MiB"),
        ("deep", "nested too deeply"),
    ],
)
def test_a_preset_is_read_only_when_it_is_a_small_regular_file(
    tmp_path: Path, preset: str, needle: str
) -> None:
    """/dev/zero, a directory, a 2 MiB file, a nesting TOML cannot parse: one line, exit 2."""
    if preset == "huge":
        preset = str(tmp_path / "huge.toml")
        Path(preset).write_text("[defaults]\n" + "# padding\n" * 250_000)
    elif preset == "deep":
        preset = str(tmp_path / "deep.toml")
        Path(preset).write_text("x = " + "[" * 10_000 + "]" * 10_000 + "\n")
    done = run_bounded(["preset", "show"], env={"GOSTARTER_PRESET": preset})
    assert_clean_error(done, 2, needle)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("a: " + "[" * 10_000 + "]" * 10_000 + "\n", "nested too deeply"),
        ("a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\n", "aliases"),
        ("_src_path: /x\n" + "# padding\n" * 250_000, "larger than 1 MiB"),
        ("\xff\xfe", "not UTF-8"),
    ],
    ids=["deep", "aliases", "over-1-mib", "not-utf-8"],
)
def test_an_answers_file_is_bounded(tracked: Path, content: str, needle: str) -> None:
    """Deep nesting, YAML aliases (a billion laughs), over 1 MiB, not UTF-8: one line, exit 2."""
    path = tracked / ANSWERS
    if content == "\xff\xfe":
        path.write_bytes(b"\xff\xfe")
    else:
        path.write_text(content)
    for command in (["check", str(tracked)], ["update", str(tracked), "--dry-run"]):
        done = run_bounded(command)
        assert_clean_error(done, 2, needle)


def test_a_template_host_that_never_answers_ends_in_one_line(tracked: Path) -> None:
    """check, update --dry-run and update against a host that accepts and never answers end at
    the deadline ($GOSTARTER_NETWORK_TIMEOUT), naming the template, with no git left running."""
    with silent_server() as port:
        set_answers(tracked, _src_path=f"https://127.0.0.1:{port}/acme/tpl.git")
        env = {sources.TIMEOUT_VAR: "2"}
        before = work_tree(tracked)
        for command in (
            ["check", str(tracked)],
            ["update", str(tracked), "--dry-run", "--verify", "none"],
            ["update", str(tracked), "--defaults", "--verify", "none"],
        ):
            started = time.monotonic()
            done = run_bounded(command, env=env)
            assert time.monotonic() - started < 20
            assert_clean_error(done, 2, "did not answer within 2 s", f"127.0.0.1:{port}")
        assert work_tree(tracked) == before
    assert not leftover_git(), "a git process outlived gostarter"


# ---------------------------------------------------------------- 8. a fleet check never aborts


def test_one_bad_project_never_aborts_a_fleet_check(template_repo: Path, tmp_path: Path) -> None:
    """Every project gets its row; the summary line and the report are written; exit 2."""
    good = generate(template_repo, tmp_path / "good")
    release_1_1(template_repo)
    branch_ref = generate(template_repo, tmp_path / "branch-ref")
    set_answers(branch_ref, _commit="release/1.0")
    long_source = generate(template_repo, tmp_path / "long-source")
    set_answers(long_source, _src_path="y" * 200_000)
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    report = tmp_path / "fleet.toml"
    done = gostarter_process(
        "check", str(good), str(branch_ref), str(loop), str(long_source), "--report", str(report)
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"{good}: behind, 1.0.0 -> 1.1.0" in done.stdout
    assert "1 checked: 1 behind, 0 current; 3 could not be checked" in done.stdout
    document = tomllib.loads(report.read_text())
    assert document["checked"] == 1 and document["unchecked"] == 3
    assert {Path(error["project"]).name for error in document["errors"]} == {
        "branch-ref",
        "loop",
        "long-source",
    }


# ---------------------------------------------------------------- 13. the Python floor


def tar_of(*members: tuple[str, str, str]) -> bytes:
    """A tar archive of (kind, name, content-or-link-target) members."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for kind, name, value in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                data = value.encode()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.FIFOTYPE
                info.linkname = value
                tar.addfile(info)
    return buffer.getvalue()


@pytest.mark.parametrize("with_filter", [True, False], ids=["python-filter", "python-3.11.2"])
def test_template_archives_extract_safely_on_every_supported_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_filter: bool
) -> None:
    """Extraction works where tarfile has no `filter` (3.11.2), and refuses what escapes."""
    if not with_filter:
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    good = tar_of(("file", "copier.yml", "a: 1\n"), ("symlink", "link", "copier.yml"))
    lifecycle.extract_tar(good, tmp_path / "good")
    assert (tmp_path / "good" / "copier.yml").read_text() == "a: 1\n"
    for index, bad in enumerate(
        [
            tar_of(("file", "../escape", "x")),
            tar_of(("symlink", "link", "/etc/passwd")),
            tar_of(("symlink", "link", "../../outside")),
            tar_of(("fifo", "pipe", "")),
        ]
    ):
        target = tmp_path / f"bad{index}"
        target.mkdir()
        with pytest.raises((UsageError, tarfile.TarError)):
            lifecycle.extract_tar(bad, target)
    assert not (tmp_path / "escape").exists()


# ---------------------------------------------------------------- property: any answers-file value


HOSTILE = st.sampled_from(
    [
        "--upload-pack=touch {canary}",
        "--exec=touch {canary}",
        "ext::sh -c touch% {canary}",
        "-c core.sshCommand=touch {canary} ssh://h/x",
        "$(touch {canary})",
        "`touch {canary}`",
        "file:///{canary}/../../etc",
        "https://u:p@127.0.0.1:1/x.git",
        "{{ cycler.__init__.__globals__.os.system('touch {canary}') }}",
        "1.0.0",
        "HEAD",
        "@{-1}",
        "../../../..",
        "\x00",
        "\u2028",
    ]
)
VALUES = st.one_of(HOSTILE, st.text(max_size=40), st.integers(), st.booleans(), st.none())


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(src=VALUES, commit=VALUES, app_name=VALUES, dry_run=st.booleans())
def test_any_answers_file_value_is_data(
    tracked: Path, canary: Path, src: object, commit: object, app_name: object, dry_run: bool
) -> None:
    """Whatever `_src_path`, `_commit` and `app_name` hold, check and update --dry-run exit 0, 1
    or 2, run nothing, and write nothing outside their own throwaway directories."""

    def fill(value: object) -> object:
        return value.replace("{canary}", str(canary)) if isinstance(value, str) else value

    set_answers(tracked, _src_path=fill(src), _commit=fill(commit), app_name=fill(app_name))
    watched = tracked.parent
    before = sorted(p.name for p in watched.iterdir())
    command = (
        ["update", str(tracked), "--dry-run", "--verify", "none"] if dry_run else ["check", str(tracked)]
    )
    done = gostarter(*command, env={sources.TIMEOUT_VAR: "10"})
    assert done.returncode in {0, 1, 2}, done.stderr
    assert "Traceback" not in done.stderr
    assert not canary.exists()
    assert sorted(p.name for p in watched.iterdir()) == before


# ---------------------------------------------------------------- helpers


def run_bounded(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """gostarter as a process that must end within 30 s (a blocking read would not)."""
    return subprocess.run(
        [sys.executable, "-m", "generator", *args],
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


class _Silent:
    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.held.append(conn)  # accepted, and never answered

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for conn in self.held:
            conn.close()
        self.sock.close()


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A loopback port that accepts connections and never says a word."""
    server = _Silent()
    try:
        yield server.port
    finally:
        server.close()


def leftover_git() -> list[str]:
    """git processes below this test process (none should be)."""
    return [command for command in descendants(os.getpid()).values() if command.startswith("git")]
