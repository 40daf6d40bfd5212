"""A broken or hostile template release (issue 24, items 7 and 8): whatever its code raises, and
however much it renders, every command says it in one line naming the template's file and line,
exits as documented and leaves nothing behind, in bounded memory and time.

The templates are the smallest that gostarter updates (an app_name, a port, an answers file),
built here as real git repositories with real tags.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.files import snapshot as _snapshot
from tests.helpers.repos import COPIER_YML, commit_all, git, release
from tests.helpers.running import assert_clean_error, gostarter, gostarter_process

FAULTS = {
    "ZeroDivisionError": "{{ 1 // 0 }}",
    "TypeError": "{{ 'a' + 1 }}",
    "RecursionError": "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "OverflowError": "{% for i in range(10**12) %}{% endfor %}",
    "ValueError": "{{ 'abc'.index('z') }}",  # was reported as an invalid answer
    "UndefinedError": "{{ nope.attr }}",  # was named without its file
}


def snapshot(project: Path) -> dict[str, str]:
    """The project's files (its git directory aside: a roll-back leaves ORIG_HEAD and a reflog)."""
    return {name: digest for name, digest in _snapshot(project).items() if not name.startswith(".git/")}


def command_line(command: str, template: Path, project: Path, fresh: Path) -> list[str]:
    """gostarter's arguments for `command` (new, update, dry-run, check) against the release."""
    return {
        "new": ["new", str(fresh), "--template", str(template), "--defaults", "--verify", "none"],
        "update": ["update", str(project), "--defaults", "--verify", "none"],
        "dry-run": ["update", "--dry-run", str(project), "--defaults", "--verify", "none"],
        "check": ["check", str(project)],
    }[command]


def private_tmp(tmp_path: Path) -> Path:
    tmp = tmp_path / "tmpdir"
    tmp.mkdir(exist_ok=True)
    return tmp


@pytest.mark.parametrize("kind", sorted(FAULTS))
def test_update_names_the_file_and_line_of_any_exception(mini_tracked: tuple[Path, Path], kind: str) -> None:
    """Whatever a release's template code raises, `update` exits 1 with one line naming
    template/broken.txt.jinja:2 and the exception, and the project is as it was."""
    template, project = mini_tracked
    release(template, "broken.txt.jinja", FAULTS[kind])
    before = snapshot(project)
    done = gostarter("update", str(project), "--defaults", "--verify", "none")
    assert_clean_error(done, 1, "template/broken.txt.jinja:2", kind)
    assert snapshot(project) == before
    assert git(project, "status", "--porcelain") == ""


@pytest.mark.parametrize("command", ["new", "update", "dry-run", "check"])
def test_every_command_reports_a_broken_release_in_one_line(
    mini_tracked: tuple[Path, Path], tmp_path: Path, command: str
) -> None:
    """`new --template`, `update`, `update --dry-run` and `check` (a row), as processes of their own:
    no traceback, the documented exit code, nothing left in the project or in TMPDIR."""
    template, project = mini_tracked
    release(template, "broken.txt.jinja", FAULTS["RecursionError"])
    before = snapshot(project)
    tmp = private_tmp(tmp_path)
    argv = command_line(command, template, project, tmp_path / "fresh")
    done = gostarter_process(*argv, env={"TMPDIR": str(tmp)})
    if command == "check":  # the row names the project; the summary line follows
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        assert (
            f"{project}: the template is broken: template/broken.txt.jinja:2: RecursionError" in done.stderr
        )
    else:
        assert_clean_error(done, 1, "template/broken.txt.jinja:2: RecursionError")
    assert snapshot(project) == before
    assert not (tmp_path / "fresh").exists()
    assert list(tmp.iterdir()) == []


def test_a_huge_string_is_refused_at_once_in_bounded_memory(
    mini_tracked: tuple[Path, Path], tmp_path: Path
) -> None:
    """`{{ 'x' * 1500000000 }}` once took `check` 52 s and 7.2 GB: now the memory bound stops it
    with MemoryError at once, and each command says so in one line naming the file and line."""
    template, project = mini_tracked
    release(template, "huge.txt.jinja", "{{ 'x' * 1500000000 }}")
    before = snapshot(project)
    for argv in (
        ["update", "--dry-run", str(project), "--defaults", "--verify", "none"],
        ["update", str(project), "--defaults", "--verify", "none"],
    ):
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-c", _PEAK, *argv], capture_output=True, text=True, check=False
        )
        seconds = time.monotonic() - started
        peak_kib = int(done.stdout.strip().splitlines()[-1])
        assert_clean_error(done, 1, "template/huge.txt.jinja:2", "memory")
        assert peak_kib < 600 * 1024, f"{argv[0]}: {peak_kib} KiB at the peak"
        assert seconds < 60, f"{argv}: {seconds:.0f} s"
    assert snapshot(project) == before


@pytest.mark.parametrize("command", ["new", "update", "dry-run", "check"])
def test_a_loop_too_long_is_stopped_by_the_cpu_bound(
    mini_tracked: tuple[Path, Path], tmp_path: Path, command: str
) -> None:
    """A loop of 10**10 steps once hung every command: past $GOSTARTER_MAX_RENDER_SECONDS of CPU
    it is stopped where it runs, in one line naming the file and line, nothing left behind."""
    template, project = mini_tracked
    release(
        template,
        "loop.txt.jinja",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    )
    before = snapshot(project)
    tmp = private_tmp(tmp_path)
    argv = command_line(command, template, project, tmp_path / "fresh")
    started = time.monotonic()
    done = gostarter_process(*argv, env={"TMPDIR": str(tmp), "GOSTARTER_MAX_RENDER_SECONDS": "2"})
    seconds = time.monotonic() - started
    expected = "template/loop.txt.jinja:2: it takes more than 2 s of CPU to render"
    if command == "check":
        assert done.returncode == 2 and expected in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    else:
        assert_clean_error(done, 1, expected)
    assert seconds < 60, f"{command}: {seconds:.0f} s"
    assert snapshot(project) == before
    assert not (tmp_path / "fresh").exists()
    assert list(tmp.iterdir()) == []


def test_check_meets_a_bound_once(mini_tracked: tuple[Path, Path]) -> None:
    """A release past the CPU bound is check's row at the cost of one bound: the prediction's
    failure is final, not followed by the real update on a throwaway copy (which would spend the
    bound a second time, and did)."""
    template, project = mini_tracked
    release(
        template,
        "loop.txt.jinja",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    done = gostarter_process("check", str(project), env={"GOSTARTER_MAX_RENDER_SECONDS": "4"})
    spent = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - before
    assert done.returncode == 2 and "it takes more than 4 s of CPU to render" in done.stderr, done.stderr
    assert 4 <= spent < 7.5, f"check spent {spent:.1f} s of CPU: the bound once, and start-up"


def test_the_cpu_bound_is_lifted_afterwards_and_refuses_a_bad_number(mini_tracked: tuple[Path, Path]) -> None:
    """No timer and no handler of the bound's outlive it; a limit that is not a whole number of
    seconds is a usage error."""
    import signal

    from generator import bounds

    handler = signal.getsignal(signal.SIGVTALRM)
    with bounds.cpu_bound():
        assert signal.getitimer(signal.ITIMER_VIRTUAL)[0] > 0
    assert signal.getitimer(signal.ITIMER_VIRTUAL)[0] == 0
    assert signal.getsignal(signal.SIGVTALRM) == handler
    _, project = mini_tracked
    for bad in ("soon", "0", "1.5", "٣"):
        done = gostarter(
            "update",
            str(project),
            "--defaults",
            "--verify",
            "none",
            env={"GOSTARTER_MAX_RENDER_SECONDS": bad},
        )
        assert_clean_error(done, 2, "GOSTARTER_MAX_RENDER_SECONDS=")


# Run gostarter, then print the peak resident memory of the process in KiB on stdout.
_PEAK = (
    "import resource, sys\n"
    "from generator import cli\n"
    "code = cli.main(sys.argv[1:])\n"
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    "sys.exit(code)\n"
)


def test_a_file_over_the_limit_is_refused_by_name(mini_tracked: tuple[Path, Path], tmp_path: Path) -> None:
    """A rendered file over $GOSTARTER_MAX_RENDER_BYTES is refused naming it, by `new`, `update`
    (which undoes the update) and `check`; under the limit the same release updates."""
    template, project = mini_tracked
    release(template, "big.txt.jinja", "{{ 'y' * 300000 }}")
    before = snapshot(project)
    small = {"GOSTARTER_MAX_RENDER_BYTES": "256Ki"}
    done = gostarter("update", str(project), "--quiet", "--defaults", "--verify", "none", env=small)
    assert_clean_error(
        done, 1, "renders big.txt at 293 KiB, over the 256 KiB limit (GOSTARTER_MAX_RENDER_BYTES)"
    )
    assert snapshot(project) == before
    assert git(project, "status", "--porcelain") == ""
    fresh = tmp_path / "fresh"
    done = gostarter(
        "new", str(fresh), "--template", str(template), "--defaults", "--verify", "none", env=small
    )
    assert_clean_error(done, 1, "renders big.txt at 293 KiB")
    assert not fresh.exists()
    done = gostarter("check", str(project), env=small)
    assert done.returncode == 2 and "renders big.txt at 293 KiB" in done.stderr, done.stderr
    done = gostarter("update", str(project), "--defaults", "--verify", "none")
    assert done.returncode == 0, done.stderr
    assert (project / "big.txt").stat().st_size > 300000


def test_a_release_over_the_limit_in_all_is_refused(mini_tracked: tuple[Path, Path]) -> None:
    """Many files each under the limit, over it together: refused, the total named."""
    template, project = mini_tracked
    for i in range(5):
        (template / "template" / f"part{i}.txt.jinja").write_text("{{ 'z' * 60000 }}\n")
    commit_all(template, "1.1.0", tag="1.1.0")
    done = gostarter(
        "update",
        str(project),
        "--quiet",
        "--defaults",
        "--verify",
        "none",
        env={"GOSTARTER_MAX_RENDER_BYTES": "200Ki"},
    )
    assert_clean_error(done, 1, "renders more than 200 KiB in all")
    assert git(project, "status", "--porcelain") == ""


def test_a_bad_limit_is_a_usage_error(mini_tracked: tuple[Path, Path]) -> None:
    _, project = mini_tracked
    done = gostarter(
        "update", str(project), "--defaults", "--verify", "none", env={"GOSTARTER_MAX_RENDER_BYTES": "lots"}
    )
    assert_clean_error(done, 2, "GOSTARTER_MAX_RENDER_BYTES='lots' is not a size")


def test_the_memory_bound_is_lifted_afterwards() -> None:
    """The data limit is the process's own again once Copier is done."""
    from generator import bounds

    before = resource.getrlimit(resource.RLIMIT_DATA)
    with bounds.memory_bound():
        inside = resource.getrlimit(resource.RLIMIT_DATA)
        with pytest.raises(MemoryError):
            bytearray(bounds.memory_budget() + (64 << 20))
    assert inside[0] != resource.RLIM_INFINITY
    assert resource.getrlimit(resource.RLIMIT_DATA) == before
    assert os.environ.get("GOSTARTER_MAX_RENDER_BYTES") is None


def test_a_forbidden_path_names_the_template_not_an_answer(tmp_path: Path) -> None:
    """Copier's ForbiddenPathError (here a symbolic link out of the template) is a ValueError: it
    was reported as an invalid answer from --data. It is the template's path, named as such."""
    template = tmp_path / "template"
    (template / "template").mkdir(parents=True)
    (template / "copier.yml").write_text(COPIER_YML)
    (template / "template" / "leak").symlink_to("/etc/hostname")
    commit_all(template, "1.0.0", tag="1.0.0")
    done = gostarter(
        "new", str(tmp_path / "p"), "--template", str(template), "--data", "app_name=svc", "--defaults",
        "--verify", "none",
    )  # fmt: skip
    assert_clean_error(done, 1, "the template renders a path outside the template or the project", '"leak"')
    assert "invalid" not in done.stderr
    assert not (tmp_path / "p").exists()


def test_a_file_that_is_not_utf8_is_the_templates_fault(mini_tracked: tuple[Path, Path]) -> None:
    """A .jinja file that is not UTF-8 (Jinja's loader raises UnicodeDecodeError, a ValueError):
    it was reported as an invalid app_name; it is the template's file, named. (This also holds
    render._copier_file to Copier's `_render_file(src_relpath, ...)`: if Copier renames them, this
    test fails.)"""
    template, project = mini_tracked
    (template / "template" / "latin1.txt.jinja").write_bytes(b"caf\xe9 {{ app_name }}\n")
    commit_all(template, "1.1.0", tag="1.1.0")
    done = gostarter("update", str(project), "--defaults", "--verify", "none", "-q")
    assert_clean_error(done, 1, "the template is broken: template/latin1.txt.jinja: UnicodeDecodeError")
    assert "invalid app_name" not in done.stderr
    assert git(project, "status", "--porcelain") == ""
