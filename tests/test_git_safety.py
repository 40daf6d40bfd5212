"""A template release cannot reach into `.git`, two updates of one project cannot interleave, and
the user's git (hooks, fsmonitor, an inherited GIT_DIR) cannot hijack or hang gostarter (issue 24,
findings 1 to 6). Real git, real concurrent processes, small templates built here; canary files
prove that nothing ran."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.helpers.files import snapshot
from tests.helpers.repos import commit_all, copy_template, git
from tests.helpers.running import assert_clean_error

ANSWERS_TEMPLATE = "# Changes here will be overwritten by Copier\n{{ _copier_answers|to_nice_yaml -}}\n"
COPIER_YML = """\
_subdirectory: template
_templates_suffix: .jinja
_answers_file: .copier-answers.yml
{extra}
app_name:
  type: str
  default: svc
port:
  type: int
  default: 8080
"""
RELEASE_FILES = 40  # v2 adds this many files: an update half applied is easy to see


def write(path: Path, text: str, *, executable: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if executable:
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def release(template: Path, tag: str, files: Mapping[str, str], *, extra: str = "") -> None:
    """Write `files` into the template's subdirectory (and copier.yml with `extra` settings), commit, tag."""
    write(template / "copier.yml", COPIER_YML.format(extra=extra))
    write(template / "template" / "{{ _copier_conf.answers_file }}.jinja", ANSWERS_TEMPLATE)
    for name, text in files.items():
        write(template / "template" / name, text)
    commit_all(template, tag, tag=tag)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project generated from release 1.0.0 of a small template, committed."""
    template = tmp_path / "template"
    release(template, "1.0.0", {"README.md.jinja": "{{ app_name }} one\n"})
    dest = tmp_path / "svc"
    argv = [sys.executable, "-m", "copier", "copy", "--defaults", "--vcs-ref", "1.0.0"]
    done = subprocess.run([*argv, str(template), str(dest)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    commit_all(dest, "generated")
    return dest


def template_of(project: Path) -> Path:
    return project.parent / "template"


def gostarter(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """gostarter as its own process (what a user runs)."""
    return subprocess.run(
        [sys.executable, "-m", "generator", *args],
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def start(*args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "generator", *args],
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(path: Path, process: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"exited {process.returncode} first: {process.communicate()[1]}")
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def hostile_git_files(canary: Path) -> dict[str, str]:
    """Template files whose rendered names land in `.git`: a config with an fsmonitor and a hook,
    each of which would touch `canary`."""
    script = f"#!/bin/sh\ntouch {canary}\n"
    return {
        "{{ '.git' }}/config.jinja": f"[core]\n\trepositoryformatversion = 0\n\tfsmonitor = {canary}.sh\n",
        "{{ '.git' }}/hooks/pre-commit": script,
        "{{ '.git' }}/hooks/post-commit": script,
        "sub/{{ '.GIT' }}/x.jinja": "x\n",
    }


# ---------------------------------------------------------------- finding 1


@pytest.mark.parametrize("command", ["check", "dry-run", "update"])
def test_a_release_that_writes_into_git_is_refused_by_name(
    project: Path, tmp_path: Path, command: str
) -> None:
    """A release with `{{ '.git' }}/config.jinja` and hooks is refused in one line naming the
    path, by check (its row), update --dry-run and update, and nothing of it runs."""
    canary = tmp_path / "canary"
    write(Path(f"{canary}.sh"), f"#!/bin/sh\ntouch {canary}\n", executable=True)
    template = template_of(project)
    files = {"README.md.jinja": "{{ app_name }} two\n", **hostile_git_files(canary)}
    for name, text in list(files.items()):
        if "hooks" in name:
            write(template / "template" / name, text, executable=True)
    release(template, "2.0.0", files)
    before = snapshot(project)

    argv = {
        "check": ["check", str(project)],
        "dry-run": ["update", str(project), "--dry-run", "--defaults", "--verify", "none"],
        "update": ["update", str(project), "--defaults", "--verify", "none"],
    }[command]
    done = gostarter(*argv)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert ".git" in done.stderr and "inside a git directory" in done.stderr, done.stderr
    if command != "check":
        assert_clean_error(done, 2, "inside a git directory")
    git(project, "status", "--porcelain")  # an fsmonitor in .git/config would run here
    assert not canary.exists(), "a command of the release ran"
    assert snapshot(project) == before


def test_plain_copier_renders_nothing_into_git(tmp_path: Path) -> None:
    """gostarter's own copier.yml excludes `.git` at any depth: plain `copier copy` of a fork with
    a `{{ '.git' }}/hooks/pre-commit` writes no hook (Copier's defaults do not apply under a
    `_subdirectory`)."""
    fork = copy_template(tmp_path / "fork")
    write(fork / "template" / "{{ '.git' }}" / "hooks" / "pre-commit", "#!/bin/sh\nexit 1\n", executable=True)
    write(fork / "template" / "deep" / "{{ '.git' }}" / "config", "[core]\n")
    commit_all(fork, "a fork")
    dest = tmp_path / "plain"
    argv = [sys.executable, "-m", "copier", "copy", "--defaults", "--skip-tasks", "--vcs-ref", "HEAD"]
    done = subprocess.run([*argv, str(fork), str(dest)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert (dest / "main.go").is_file()
    assert not (dest / ".git").exists()
    assert not (dest / "deep" / ".git").exists()


# ---------------------------------------------------------------- findings 2, 3 and 6


def waiting_migration(tmp_path: Path) -> tuple[str, Path, Path]:
    """copier.yml settings for a migration that says it started, then waits for a release file."""
    started, proceed = tmp_path / "started", tmp_path / "proceed"
    code = (
        "import pathlib, time, sys; p = pathlib.Path; p(sys.argv[1]).touch(); end = time.monotonic() + 90; "
        "[time.sleep(0.05) for _ in iter(lambda: p(sys.argv[2]).exists() or time.monotonic() > end, True)]"
    )
    extra = (
        "_migrations:\n"
        '  - version: "2.0.0"\n'
        "    when: \"{{ _stage == 'before' }}\"\n"
        f"    command: [{sys.executable!r}, '-c', {code!r}, {str(started)!r}, {str(proceed)!r}]\n"
    )
    return extra, started, proceed


def big_release(project: Path, extra: str) -> None:
    files = {f"pkg/file{i:03}.txt.jinja": f"{{{{ app_name }}}} {i}\n" for i in range(RELEASE_FILES)}
    release(template_of(project), "2.0.0", {"README.md.jinja": "{{ app_name }} two\n", **files}, extra=extra)


def own_work(project: Path) -> None:
    """Uncommitted work of the project's owner, in files the release does not touch."""
    write(project / "app.txt", "committed\n")
    commit_all(project, "the owner's file")
    write(project / "app.txt", "committed\nand an edit\n")
    write(project / "notes.txt", "my notes\n")


def assert_own_work(project: Path) -> None:
    assert (project / "app.txt").read_text() == "committed\nand an edit\n"
    assert (project / "notes.txt").read_text() == "my notes\n"


def assert_whole_update(project: Path) -> None:
    assert "_commit: 2.0.0" in (project / ".copier-answers.yml").read_text()
    assert (project / "README.md").read_text() == "svc two\n"
    assert len(list((project / "pkg").glob("file*.txt"))) == RELEASE_FILES
    assert not (project / ".git" / "gostarter-update.lock").exists(), "the lock file was left behind"


@pytest.mark.parametrize("allow_dirty", [False, True], ids=["clean", "allow-dirty"])
def test_a_second_update_refuses_while_the_first_runs(
    project: Path, tmp_path: Path, allow_dirty: bool
) -> None:
    """Two updates of one project at once: the second waits briefly, then refuses in one line naming
    the lock, touching nothing; the first lands whole, and uncommitted work comes back."""
    extra, started, proceed = waiting_migration(tmp_path)
    big_release(project, extra)
    flags = ["--defaults", "--verify", "none", "--trust"] + (["--allow-dirty"] if allow_dirty else [])
    if allow_dirty:
        own_work(project)
    first = start("update", str(project), *flags)
    try:
        wait_for(started, first)
        second = gostarter("update", str(project), *flags)
        assert_clean_error(second, 2, "another update of", "gostarter-update.lock")
    finally:
        proceed.touch()
        _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert_whole_update(project)
    if allow_dirty:
        assert_own_work(project)
    assert git(project, "stash", "list") == ""


def test_a_migration_that_clears_the_stash_loses_no_work(project: Path, tmp_path: Path) -> None:
    """With --allow-dirty, a migration running `git stash clear` takes nothing: the stash is applied
    by its commit id, the update stays applied, and no message claims a stash entry that is not there."""
    extra = (
        "_migrations:\n"
        '  - version: "2.0.0"\n'
        "    when: \"{{ _stage == 'before' }}\"\n"
        "    command: [git, stash, clear]\n"
    )
    big_release(project, extra)
    own_work(project)
    done = gostarter("update", str(project), "--defaults", "--verify", "none", "--trust", "--allow-dirty")
    assert done.returncode == 0, done.stderr
    assert_own_work(project)
    assert_whole_update(project)
    assert "stash list" not in done.stderr


def test_a_clash_names_the_stash_that_holds_the_work(project: Path, tmp_path: Path) -> None:
    """When uncommitted changes clash with the update, the message names the stash commit that
    holds them, and that commit is in `git stash list` (a migration had cleared the list)."""
    extra = (
        "_migrations:\n"
        '  - version: "2.0.0"\n'
        "    when: \"{{ _stage == 'before' }}\"\n"
        "    command: [git, stash, clear]\n"
    )
    big_release(project, extra)
    write(project / "README.md", "svc one, edited\n")
    done = gostarter("update", str(project), "--defaults", "--verify", "none", "--trust", "--allow-dirty")
    assert done.returncode == 1, done.stderr
    listed = git(project, "stash", "list", "--format=%H").split()
    assert len(listed) == 1, "the stash holding the work is not in the list"
    assert listed[0][:12] in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


# ---------------------------------------------------------------- findings 4 and 5


def test_an_inherited_git_dir_reaches_no_other_repository(project: Path, tmp_path: Path) -> None:
    """GIT_DIR and GIT_WORK_TREE of another repository (as git sets them for hooks) do not send
    the dry run's or the update's git into it: its uncommitted files stay uncommitted."""
    release(template_of(project), "2.0.0", {"README.md.jinja": "{{ app_name }} two\n"})
    other = tmp_path / "other"
    commit_all(write(other / "kept.txt", "kept\n").parent, "other")
    write(other / "uncommitted.txt", "not mine to commit\n")
    head = git(other, "rev-parse", "HEAD")
    env = {
        "GIT_DIR": str(other / ".git"),
        "GIT_WORK_TREE": str(other),
        "GIT_INDEX_FILE": str(other / ".git" / "index"),
        "GIT_OBJECT_DIRECTORY": str(other / ".git" / "objects"),
    }
    dry = gostarter("update", str(project), "--dry-run", "--defaults", "--verify", "none", env=env)
    assert dry.returncode == 0, dry.stderr
    assert "README.md" in dry.stdout
    done = gostarter("update", str(project), "--defaults", "--verify", "none", env=env)
    assert done.returncode == 0, done.stderr
    assert (project / "README.md").read_text() == "svc two\n"
    assert git(other, "rev-parse", "HEAD") == head, "a commit landed in the other repository"
    assert git(other, "status", "--porcelain") == "?? uncommitted.txt\n"


@pytest.fixture
def hostile_global_git(tmp_path: Path) -> Iterator[tuple[dict[str, str], Path]]:
    """A HOME and global git config of the test's own whose hooks and fsmonitor touch a canary
    and then block (as a pre-commit framework fetching its hooks does)."""
    canary = tmp_path / "user-hook-ran"
    hooks = tmp_path / "user-hooks"
    blocking = f"#!/bin/sh\ntouch {canary}\nsleep 600\n"
    for name in ("pre-commit", "commit-msg", "post-commit", "post-checkout", "pre-auto-gc"):
        write(hooks / name, blocking, executable=True)
    monitor = write(tmp_path / "fsmonitor.sh", blocking, executable=True)
    home = tmp_path / "home"
    home.mkdir()
    settings = f"[user]\n\tname = u\n\temail = u@example.com\n[core]\n\thooksPath = {hooks}\n"
    config = write(tmp_path / "gitconfig", f"{settings}\tfsmonitor = {monitor}\n")
    env = {"HOME": str(home), "GIT_CONFIG_GLOBAL": str(config), "XDG_CONFIG_HOME": str(home / ".config")}
    yield env, canary


@pytest.mark.parametrize("command", ["check", "dry-run", "update"])
def test_the_users_blocking_hooks_neither_run_nor_hang(
    project: Path, hostile_global_git: tuple[dict[str, str], Path], command: str
) -> None:
    """A global core.hooksPath whose hooks block, and a blocking core.fsmonitor: check, update
    --dry-run and update finish, and none of them runs (the canary stays absent)."""
    env, canary = hostile_global_git
    release(template_of(project), "2.0.0", {"README.md.jinja": "{{ app_name }} two\n"})
    argv = {
        "check": ["check", str(project)],
        "dry-run": ["update", str(project), "--dry-run", "--defaults", "--verify", "none"],
        "update": ["update", str(project), "--defaults", "--verify", "none"],
    }[command]
    try:
        done = gostarter(*argv, env=env, timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{command} hung on the user's hook")
    assert done.returncode == (1 if command == "check" else 0), done.stdout + done.stderr
    assert not canary.exists(), "the user's hook or fsmonitor ran"
    if command == "update":
        assert (project / "README.md").read_text() == "svc two\n"


def test_local_git_has_a_deadline(project: Path, tmp_path: Path) -> None:
    """A git process that does not end (a clean filter of the user's that waits, on a file the
    release adds) is ended at GOSTARTER_GIT_TIMEOUT, in one line; the project is as it was."""
    slow = write(tmp_path / "slow-filter.sh", "#!/bin/sh\nsleep 600\n", executable=True)
    filters = f'[filter "slow"]\n\tclean = {slow}\n\tsmudge = cat\n\trequired = true\n'
    config = write(tmp_path / "gitconfig", filters)
    release(
        template_of(project),
        "2.0.0",
        {"README.md.jinja": "{{ app_name }} two\n", ".gitattributes": "*.txt filter=slow\n", "a.txt": "a\n"},
    )
    before = snapshot(project)
    env = {"GIT_CONFIG_GLOBAL": str(config), "GOSTARTER_GIT_TIMEOUT": "3"}
    try:
        done = gostarter("update", str(project), "--defaults", "--verify", "none", env=env, timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail("update hung on a git process")
    assert_clean_error(done, 2, "did not finish within 3 s")
    assert snapshot(project) == before
