"""The Copier task's entry, called in-process the way Copier's task calls it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from generator import hook
from generator.errors import ExitCode
from tests.helpers.repos import render_project


def test_bad_arguments_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """A task line edited by hand into nonsense says how it is called."""
    assert hook.main(["."]) == ExitCode.USAGE
    assert hook.main([".", "sometimes"]) == ExitCode.USAGE
    assert "usage: post_generate.py PROJECT_DIR" in capsys.readouterr().err


def test_native_verification_writes_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """verify=native: the binary is built and probed; GOSTARTER_REPORT receives the result."""
    project = render_project(tmp_path / "svc")
    report = tmp_path / "r.toml"
    monkeypatch.setenv("GOSTARTER_REPORT", str(report))
    assert hook.main([str(project), "native"]) == ExitCode.SUCCESS
    assert "verification passed (native)" in capsys.readouterr().err
    assert tomllib.loads(report.read_text())["result"] == "passed"


def test_a_failure_keeps_the_project_and_exits_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Copier deletes the project on a non-zero task: a failed build is said loudly, exit 0."""
    project = render_project(tmp_path / "svc")
    with (project / "main.go").open("a") as main_go:
        main_go.write("\nfunc broken() string { return undefinedThing }\n")
    assert hook.main([str(project), "native"]) == ExitCode.SUCCESS
    err = capsys.readouterr().err
    assert "!" * 72 in err and "undefined: undefinedThing" in err
    assert f"the project at {project.resolve()} was kept" in err
    assert (project / "main.go").is_file()


def test_verification_that_cannot_run_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Not a generated project (answers file gone): one line, exit 0."""
    assert hook.main([str(tmp_path), "auto"]) == ExitCode.SUCCESS
    assert "verification could not run" in capsys.readouterr().err
