"""Git repositories: templates (a copy of this checkout, or a small one written inline), their
releases, and the projects generated from them."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from generator.render import Answers, render
from generator.template import NOT_TEMPLATE, Template
from tests.helpers.checkout import ROOT
from tests.helpers.running import gostarter

GIT = ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", "-c", "commit.gpgsign=false"]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def commit_all(repo: Path, message: str, *, tag: str = "") -> None:
    """Commit everything in `repo` (made a repository first if it is not one), and tag it."""
    if not (repo / ".git").exists():
        git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    if tag:
        git(repo, "tag", tag)


def copy_template(dest: Path) -> Path:
    """A copy of this repository's template files, without Git history or caches."""
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(*NOT_TEMPLATE))
    return dest


def render_project(dest: Path, data: Mapping[str, Any] | None = None, *, template: Path = ROOT) -> Path:
    """Render the working tree's template (or `template`) without verification."""
    source = Template.resolve() if template == ROOT else Template.resolve(str(template))
    return render(source, dest, answers=Answers(data=dict(data or {})))


# ---------------------------------------------------------------- a copy of this template and its projects

NEW_TARGET = "\nversion: # @HELP print the version the binary would carry\n\t@echo $(VERSION)\n"


OWNER_MAIN = "\n// Owner's note: the payments team owns this service.\n"
OWNER_MAKEFILE_LINE = "# Owner: payments team, see the runbook.\n"


def release_1_1(repo: Path) -> None:
    """A new Makefile target and a new file, as a platform team would ship them."""
    makefile = repo / "template" / "Makefile.jinja"
    makefile.write_text(makefile.read_text() + NEW_TARGET)
    (repo / "template" / "SECURITY.md").write_text("Report vulnerabilities to security@example.com.\n")
    commit_all(repo, "1.1.0: version target, SECURITY.md", tag="1.1.0")


def generate(repo: Path, dest: Path, data: dict[str, str] | None = None) -> Path:
    args = [arg for key, value in (data or {}).items() for arg in ("--data", f"{key}={value}")]
    done = gostarter("new", str(dest), "--template", str(repo), "--defaults", "--verify", "none", *args)
    assert done.returncode == 0, done.stderr
    commit_all(dest, "generated")
    return dest


def owner_edits(project: Path) -> None:
    with (project / "main.go").open("a") as main_go:
        main_go.write(OWNER_MAIN)
    makefile = project / "Makefile"
    makefile.write_text(OWNER_MAKEFILE_LINE + makefile.read_text())
    git(project, "commit", "-qam", "owner's edits")


def answers(project: Path) -> dict[str, Any]:
    return yaml.safe_load((project / ".copier-answers.yml").read_text())


# ---------------------------------------------------------------- templates written inline

COPIER_YML = """\
_subdirectory: template
app_name:
  type: str
  default: demo
port:
  type: int
  default: 8080
"""
ANSWERS = "{{ _copier_answers|to_nice_yaml }}"
ANSWERS_FILE = "template/{{ _copier_conf.answers_file }}.jinja"
# The smallest template gostarter updates: two files.
MINI = {"copier.yml": COPIER_YML, ANSWERS_FILE: ANSWERS, "template/README.md.jinja": "# {{ app_name }}\n"}
# A Go service in miniature, for the lifecycle tests that edit and release it (owner_edits,
# release_1_1): a handful of files where a copy of this checkout has hundreds.
SMALL_SERVICE = {
    **MINI,
    "copier.yml": COPIER_YML
    + """\
go_version:
  type: str
  default: "1.27"
  validator: >-
    {% if not (go_version | regex_search('^1[.]2[2-9]\\\\Z')) %}must be a Go version, 1.22 or later{% endif %}
""",
    "template/README.md.jinja": "# {{ app_name }}\n\nA Go HTTP service, listening on port {{ port }}.\n",
    "template/go.mod.jinja": "module example.com/{{ app_name }}\n\ngo {{ go_version }}\n",
    "template/main.go.jinja": (
        'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("{{ app_name }} on :{{ port }}")\n}\n'
    ),
    "template/Makefile.jinja": (
        "APP       := {{ app_name }}\nTAG       ?= dev\nVERSION   ?= $(TAG)\n\n"
        ".PHONY: help build\nhelp: # @HELP print this help\n\t@grep -h '# @HELP' $(MAKEFILE_LIST)\n\n"
        "build: # @HELP build the binary\n\tgo build -o bin/$(APP) .\n"
    ),
}


def build_file_tree(root: Path, files: Mapping[str, str]) -> Path:
    """Write each file of `files` (its path below `root`: its text), as Copier's own tests build a
    template inline."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def inline_template(repo: Path, files: Mapping[str, str] = MINI) -> Path:
    """A template repository of `files` (MINI, SMALL_SERVICE) at 1.0.0."""
    commit_all(build_file_tree(repo, files), "1.0.0", tag="1.0.0")
    return repo


def release(repo: Path, name: str, content: str, tag: str = "1.1.0") -> None:
    """A release that adds `template/NAME` with `content` on its second line."""
    (repo / "template" / name).write_text(f"line one\n{content}\n")
    commit_all(repo, tag, tag=tag)
