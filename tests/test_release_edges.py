"""What a release, a project or the environment can do to `update`, `check` and `preset init`
besides breaking the template (issue 24, item 9): each case ends in words that say what happened
and what to do, never a traceback, and nothing is written where nobody asked."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from generator import bounds, outputs, presets
from generator.errors import PresetError
from tests.helpers.repos import COPIER_YML, commit_all, git
from tests.helpers.running import assert_clean_error, gostarter, gostarter_process

DEPTH = 1100  # deeper than Python's recursion limit: rglob, copytree and rmtree all failed on it


def deep_tree(root: Path, depth: int = DEPTH) -> Path:
    """A directory `depth` levels deep under `root`, with a file at the bottom."""
    here = str(root)  # a string: pathlib's mkdir(parents=True) itself recurses
    os.mkdir(here)
    for _ in range(depth):
        here += "/d"
        os.mkdir(here)
    with open(here + "/leaf.txt", "w", encoding="utf-8") as leaf:
        leaf.write("at the bottom\n")
    return root


def plain_release(template: Path) -> None:
    (template / "template" / "NEW.md").write_text("new in 1.1.0\n")
    commit_all(template, "1.1.0", tag="1.1.0")


@pytest.mark.parametrize("how", ["ignored", "allow-dirty", "dry-run", "check"])
def test_an_untracked_tree_thousands_of_levels_deep(
    mini_tracked: tuple[Path, Path], tmp_path: Path, how: str
) -> None:
    """An untracked tree 1,100 levels deep in the project: the update (or its preview, or check)
    goes through as for any project, with no traceback after it and no stash entry left."""
    template, project = mini_tracked
    if how != "allow-dirty":
        (project / ".gitignore").write_text("deep/\n")
        commit_all(project, "ignore deep/")
    deep_tree(project / "deep")
    plain_release(template)
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    argv = {
        "ignored": ["update", str(project), "--defaults", "--verify", "none", "-q"],
        "allow-dirty": ["update", str(project), "--allow-dirty", "--defaults", "--verify", "none", "-q"],
        "dry-run": ["update", "--dry-run", str(project), "--defaults", "--verify", "none", "-q"],
        "check": ["check", str(project)],
    }[how]
    try:
        done = gostarter_process(*argv, env={"TMPDIR": str(tmp)})
        assert "Traceback" not in done.stderr, done.stderr[-2000:]
        assert done.returncode == (1 if how == "check" else 0), done.stderr[-2000:]
        applied = how in {"ignored", "allow-dirty"}
        assert ((project / "NEW.md").exists()) == applied
        assert git(project, "stash", "list") == ""
        assert list(tmp.iterdir()) == [], "the preview's copy was removed, deep tree and all"
        assert len(list(bounds.files_under(project / "deep"))) == 1, "the tree is as it was"
    finally:
        bounds.remove_tree(project / "deep")  # pytest's own clean-up recurses


def test_a_release_that_renames_a_question_says_it_was_applied(mini_tracked: tuple[Path, Path]) -> None:
    """A release that renames `port` is applied; the run that cannot verify it then says that the
    update was applied, and what to do, instead of only "lacks a valid app_name and port"."""
    template, project = mini_tracked
    (template / "copier.yml").write_text(COPIER_YML.replace("port:", "http_port:"))
    commit_all(template, "1.1.0", tag="1.1.0")
    done = gostarter("update", str(project), "--defaults", "--verify", "none", "-q")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("gostarter: error:")]
    assert len(errors) == 1, done.stderr
    for needle in ("the update was applied", "lacks a valid app_name and port", "git diff"):
        assert needle in done.stderr
    assert "_commit: 1.1.0" in (project / ".copier-answers.yml").read_text()


def test_a_preview_names_the_project_not_its_throwaway_copy(mini_tracked: tuple[Path, Path]) -> None:
    """Errors from the dry run and check's preview speak of the project's own path."""
    template, project = mini_tracked
    (template / "copier.yml").write_text(COPIER_YML.replace("port:", "http_port:"))
    commit_all(template, "1.1.0", tag="1.1.0")
    done = gostarter("update", "--dry-run", str(project), "--defaults", "--verify", "none", "-q")
    assert done.returncode == 2, done.stderr
    assert f"{project}/.copier-answers.yml" in done.stderr
    assert "gostarter-preview-" not in done.stderr


def test_preset_init_never_replaces_a_preset_written_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process writes the preset between the existence check and the write: without
    --force, theirs stays (the new file is linked into place, which fails when the path exists)."""
    path = tmp_path / "preset.toml"
    keep_mode = outputs._keep_mode

    def another_writer(target: Path, fd: int) -> None:
        path.write_text("# theirs\n")
        keep_mode(target, fd)

    monkeypatch.setattr(outputs, "_keep_mode", another_writer)
    with pytest.raises(PresetError, match="already exists"):
        presets.write(path, {"module_prefix": "github.com/acme"})
    assert path.read_text() == "# theirs\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preset.toml"], "no temporary file left"
    presets.write(path, {"module_prefix": "github.com/acme"}, force=True)
    assert "github.com/acme" in path.read_text()


def test_check_report_holds_a_path_that_is_not_utf8(mini_tracked: tuple[Path, Path], tmp_path: Path) -> None:
    """A project directory whose name is not UTF-8 (Linux allows any bytes): check's report is
    valid TOML, the byte shown as \\xff."""
    template, project = mini_tracked
    odd = Path(os.fsdecode(bytes(tmp_path) + b"/proj\xff"))
    project.rename(odd)
    plain_release(template)
    report = tmp_path / "report.toml"
    done = subprocess.run(
        [sys.executable, "-m", "generator", "check", bytes(odd), "--report", str(report)],
        capture_output=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert b"Traceback" not in done.stderr
    found = tomllib.loads(report.read_text(encoding="utf-8"))
    assert found["projects"][0]["project"].endswith("/proj\\xff")


def test_rehearse_report_holds_names_that_are_not_utf8(tmp_path: Path) -> None:
    """A rehearsal's report, like check's, holds a project path and a conflict hunk that are not
    UTF-8 as valid TOML, each such byte shown as \\xNN (it was a UnicodeEncodeError)."""
    from generator import rehearse

    odd = os.fsdecode(bytes(tmp_path) + b"/svc\xfe")
    data = {"projects": [{"project": odd, "hunks": [{"path": "Makefile", "text": os.fsdecode(b"<<<\xff")}]}]}
    report = tmp_path / "rehearsal.toml"
    rehearse.write_report(data, report)
    found = tomllib.loads(report.read_text(encoding="utf-8"))["projects"][0]
    assert found["project"].endswith("/svc\\xfe") and found["hunks"][0]["text"] == "<<<\\xff"


def test_without_home_nothing_is_written_in_someone_elses_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HOME unset and the account's home directory owned by another user (root's, a shared one):
    `preset init` without FILE writes nothing there and says what to do; with HOME set, it writes."""
    import pwd

    other = tmp_path / "someone-else"
    (other / ".config").mkdir(parents=True)
    if os.geteuid() != 0:
        pytest.skip("needs root to give a directory away (CI runs as root)")
    os.chown(other, 4242, 4242)
    real = pwd.getpwuid(os.getuid())
    account = pwd.struct_passwd((*real[:5], str(other), real[6]))
    monkeypatch.setattr(pwd, "getpwuid", lambda uid: account)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("HOME", raising=False)
    done = gostarter("preset", "init", "--data", "module_prefix=github.com/acme")
    assert_clean_error(done, 2, "HOME is unset", "name the FILE, or set XDG_CONFIG_HOME")
    assert list((other / ".config").iterdir()) == []
    mine = tmp_path / "mine"
    mine.mkdir()
    done = gostarter("preset", "init", "--data", "module_prefix=github.com/acme", env={"HOME": str(mine)})
    assert done.returncode == 0, done.stderr
    assert (mine / ".config" / "gostarter" / "preset.toml").is_file()


def test_without_home_the_copier_task_caches_nothing_in_someone_elses_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same for the Copier task's environment cache: no cache directory (a temporary
    environment instead) unless XDG_CACHE_HOME or HOME names one, or the home is the user's own."""
    import pwd

    from generator import bootstrap

    other = tmp_path / "someone-else"
    other.mkdir()
    if os.geteuid() != 0:
        pytest.skip("needs root to give a directory away (CI runs as root)")
    os.chown(other, 4242, 4242)
    real = pwd.getpwuid(os.getuid())
    monkeypatch.setattr(pwd, "getpwuid", lambda uid: pwd.struct_passwd((*real[:5], str(other), real[6])))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("HOME", raising=False)
    assert bootstrap.cache_dir() is None
    os.chown(other, os.getuid(), os.getgid())
    assert bootstrap.cache_dir() == other / ".cache" / "gostarter", "the account's home, when it is one's own"
    monkeypatch.setenv("HOME", str(tmp_path / "mine"))
    assert bootstrap.cache_dir() == tmp_path / "mine" / ".cache" / "gostarter"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert bootstrap.cache_dir() == tmp_path / "xdg" / "gostarter"
