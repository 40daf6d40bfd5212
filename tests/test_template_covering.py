"""`gostarter test-template`: a fork's template over a covering set of answers from its copier.yml."""

from __future__ import annotations

import tomllib
from pathlib import Path

from generator import covering, render
from tests.helpers.repos import copy_template
from tests.helpers.running import gostarter

CHOICES = ["distroless-static", "scratch", "alpine", "distroless-base"]


def test_a_fork_broken_for_one_choice_fails_in_that_row_only(tmp_path: Path) -> None:
    """Every choice at least once, every boolean both ways; the set with runtime_base=alpine
    renders an unformatted Go file: that row fails lint, the others pass; exit 1."""
    fork = copy_template(tmp_path / "fork")
    broken = fork / "template" / "{% if runtime_base == 'alpine' %}extra.go{% endif %}.jinja"
    broken.write_text("package main\n\nfunc  extra( ) {}\n")
    report = tmp_path / "sets.toml"
    done = gostarter(
        "test-template", str(fork), "--verify", "none", "--samples", "0", "--report", str(report)
    )
    assert done.returncode == 1, done.stdout + done.stderr
    data = tomllib.loads(report.read_text())
    rows = data["rows"]
    assert sorted({row["answers"]["runtime_base"] for row in rows}) == sorted(CHOICES)
    for key in ("with_compose", "with_github_actions", "with_renovate", "with_backstage"):
        assert {row["answers"][key] for row in rows} == {True, False}, key
    for row in rows:
        if row["answers"]["runtime_base"] == "alpine":
            assert row["outcome"] == "fails lint" and row["reason"] == "gofmt: extra.go is not formatted", row
        else:
            assert row["outcome"] == "passes", row
    assert done.stdout.splitlines()[-1] == f"{len(rows)} set(s): {len(rows) - 1} passes, 1 fails lint"


def test_free_text_samples_pass_their_validators_and_are_the_same_every_time() -> None:
    """The sample of free-text and number answers: each value accepted by its validator, the
    default first, at most N more, the same on every call (derandomised)."""
    template = render.Template.resolve()
    first = covering.values(template, samples=2)
    assert first == covering.values(template, samples=2)
    for key in ("app_name", "module_path", "port", "description"):
        assert 2 <= len(first[key]) <= 3, (key, first[key])
        for value in first[key]:
            render.check_answers(template, {key: value})
    assert first["app_name"][0] == "myapp" and first["port"][0] == 8080


def test_usage_errors(tmp_path: Path) -> None:
    done = gostarter("test-template", str(tmp_path), "--verify", "none")
    assert done.returncode == 2 and "has no copier.yml" in done.stderr
    done = gostarter("test-template", "--samples", "11")
    assert done.returncode == 2 and "--samples 11 is not between 0 and 10" in done.stderr
