"""Lifecycle gaps: a template without tags is checked and updated by commit, a skipped verification
is said once through plain Copier, `serve` takes $GOSTARTER_TEMPLATE_URL, recopy's verification."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator import hook, lifecycle
from generator.template import Template
from generator.verify import native
from generator.web.prepare import prepare
from tests.helpers.checkout import ROOT
from tests.helpers.repos import (
    SMALL_SERVICE,
    answers,
    build_file_tree,
    commit_all,
    copy_template,
    generate,
    git,
    owner_edits,
)
from tests.helpers.running import gostarter, run


def test_an_untagged_template_is_checked_and_updated_by_commit(tmp_path: Path) -> None:
    """No release tag: check answers current, then behind by commit; update brings the commit."""
    repo = build_file_tree(tmp_path / "template", SMALL_SERVICE)
    commit_all(repo, "first")
    first = git(repo, "rev-parse", "HEAD").strip()
    project = generate(repo, tmp_path / "svc")
    owner_edits(project)
    assert first.startswith(lifecycle.commit_of(answers(project)["_commit"]))
    current = gostarter("check", str(project))
    assert current.returncode == 0, current.stderr
    assert "current" in current.stdout

    (repo / "template" / "SECURITY.md").write_text("Report vulnerabilities to security@example.com.\n")
    commit_all(repo, "security policy")
    second = git(repo, "rev-parse", "HEAD").strip()
    behind = gostarter("check", str(project))
    assert behind.returncode == 1, behind.stderr
    assert f"-> {second}" in behind.stdout and "1 added (SECURITY.md)" in behind.stdout

    updated = gostarter("update", str(project), "--defaults", "--trust", "--verify", "none")
    assert updated.returncode == 0, updated.stderr
    assert (project / "SECURITY.md").is_file()
    assert second.startswith(lifecycle.commit_of(str(answers(project)["_commit"])))
    commit_all(project, "updated")
    again = gostarter("check", str(project))
    assert again.returncode == 0 and "current" in again.stdout, again.stdout + again.stderr


def test_a_skipped_verification_is_said_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Copier task with no engine and no Go: one 'verification skipped' line, not two."""
    project = generate(ROOT, tmp_path / "svc")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-engine.sock'}")
    monkeypatch.setattr(native, "find_go", lambda: None)
    assert hook.main([str(project), "auto"]) == 0
    err = capsys.readouterr().err
    assert sum("verification skipped" in line for line in err.splitlines()) == 1, err


def test_serve_records_the_template_url_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fork served from a path, $GOSTARTER_TEMPLATE_URL set: downloads record that URL."""
    fork = copy_template(tmp_path / "fork")
    monkeypatch.setenv("GOSTARTER_TEMPLATE_URL", "https://git.example.com/acme/gostarter-fork.git")
    work = tmp_path / "work"
    work.mkdir()
    prepared = prepare(Template.resolve(str(fork)), work)
    assert prepared.source == "https://git.example.com/acme/gostarter-fork.git"
    assert prepare(Template.resolve(str(fork)), tmp_path, "https://other.example/t.git").source == (
        "https://other.example/t.git"
    )


def test_recopy_verifies_only_when_not_told_verify_none(tmp_path: Path) -> None:
    """`copier recopy` is Copier's copy operation: README says it verifies, and verify=none skips it."""
    project = generate(ROOT, tmp_path / "svc")
    copier = Path(__import__("sys").executable).parent / "copier"
    done = run([str(copier), "recopy", "--trust", "--defaults", "--overwrite", "--data", "verify=none",
                "--vcs-ref", "HEAD", str(project)])  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "verification" not in done.stderr, done.stderr
    readme = (ROOT / "README.md").read_text()
    assert "copier recopy" in readme and "verify=none" in readme
