"""`gostarter update`: a project follows its template to a newer version, without container builds
inside Copier's temporary rendering of the old version."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers.files import snapshot
from tests.helpers.repos import SMALL_SERVICE, build_file_tree, commit_all, copy_template, git, render_project
from tests.helpers.running import assert_clean_error, gostarter


def test_update_brings_a_template_change_and_runs_no_task(tmp_path: Path) -> None:
    """A new template commit reaches the project; the verification task never runs during update."""
    template = tmp_path / "template"
    copy_template(template)
    commit_all(template, "v1", tag="v1.0.0")

    project = tmp_path / "svc"
    render_project(project, template=template)
    commit_all(project, "generated")

    readme = template / "template" / "README.md.jinja"
    readme.write_text(readme.read_text() + "\nOn-call: see the runbook.\n")
    git(template, "commit", "-qam", "v2: runbook line")
    git(template, "tag", "v2.0.0")

    report = tmp_path / "task-report.toml"
    done = subprocess.run(
        [sys.executable, "-m", "generator", "update", str(project), "--defaults", "--verify", "none",
         "--trust"],
        env={**os.environ, "GOSTARTER_REPORT": str(report)},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "On-call: see the runbook." in (project / "README.md").read_text()
    assert "_commit: v2.0.0" in (project / ".copier-answers.yml").read_text()
    assert not report.exists(), "the post-generation task ran during update"


def test_a_hostile_answers_file_runs_nothing(tmp_path: Path) -> None:
    """A cloned project naming someone else's template: update refuses before any task runs."""
    template = build_file_tree(tmp_path / "hostile", SMALL_SERVICE)
    marker = tmp_path / "pwned"
    with (template / "copier.yml").open("a") as config:
        config.write(f'_tasks:\n  - command: ["touch", "{marker}"]\n    when: "{{{{ true }}}}"\n')
    commit_all(template, "v1", tag="v1.0.0")
    project = tmp_path / "cloned"
    render_project(project, template=template)
    assert marker.exists(), "the task is real: it ran when the user chose this template for `new`"
    marker.unlink()
    commit_all(project, "generated")
    git(template, "commit", "--allow-empty", "-qm", "v2")
    git(template, "tag", "v2.0.0")
    before = snapshot(project)

    done = gostarter("update", str(project), "--defaults", "--verify", "none")
    assert_clean_error(done, 2, "has tasks, and gostarter runs them only", "--trust")
    assert not marker.exists(), "the hostile template's task ran"
    assert snapshot(project) == before
