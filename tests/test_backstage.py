"""The Backstage catalog entry: catalog-info.yaml with with_backstage, held to Backstage's entity
rules, and brought to an existing project by `gostarter update --data with_backstage=true`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.backstage import backstage_problems
from tests.helpers.repos import commit_all, copy_template, render_project
from tests.helpers.running import assert_clean_error, gostarter

CATALOG = "catalog-info.yaml"


def entity(root: Path) -> Any:
    return yaml.safe_load((root / CATALOG).read_text())


def test_the_entity_is_a_component_backstage_accepts(tmp_path: Path) -> None:
    """A Component of type service, experimental, with the owner, the description, a go tag and
    the GitHub slug of the module path; every field by Backstage's rules."""
    root = render_project(
        tmp_path / "svc",
        {
            "app_name": "payments-api",
            "module_path": "github.com/acme-corp/payments-api/v2",
            "description": "Takes payments: 'quoted' # not a comment, {braces} & more",
            "with_backstage": True,
            "owner": "group:default/payments",
        },
    )
    found = entity(root)
    assert backstage_problems(found) == []
    assert found["apiVersion"] == "backstage.io/v1alpha1" and found["kind"] == "Component"
    assert found["metadata"]["name"] == "payments-api"
    assert found["metadata"]["description"] == "Takes payments: 'quoted' # not a comment, {braces} & more"
    assert found["metadata"]["tags"] == ["go"]
    assert found["metadata"]["annotations"] == {"github.com/project-slug": "acme-corp/payments-api"}
    assert found["spec"] == {
        "type": "service",
        "lifecycle": "experimental",
        "owner": "group:default/payments",
    }


@pytest.mark.parametrize("owner", ["team-payments", "User:default/jane.doe", "group:payments-ns/core_team"])
def test_owner_forms_backstage_parses(tmp_path: Path, owner: str) -> None:
    """Every form of reference the validator accepts is one Backstage parses; a module path
    that names no GitHub repository gets no slug annotation."""
    found = entity(render_project(tmp_path / "svc", {"with_backstage": True, "owner": owner}))
    assert backstage_problems(found) == [] and found["spec"]["owner"] == owner
    assert "annotations" not in found["metadata"]


def test_no_entry_without_the_answer(tmp_path: Path) -> None:
    """with_backstage is off by default: no catalog-info.yaml, and owner may stay empty."""
    root = render_project(tmp_path / "svc", {"owner": "team-payments"})
    assert not (root / CATALOG).exists()


def test_the_rules_catch_what_backstage_refuses() -> None:
    """The checker itself refuses bad names, references, tags and missing spec fields."""
    good = {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": {"name": "svc", "tags": ["go"]},
        "spec": {"type": "service", "lifecycle": "experimental", "owner": "team-x"},
    }
    assert backstage_problems(good) == []
    bad_cases = [
        {**good, "kind": "Service"},
        {**good, "apiVersion": "v1"},
        {**good, "metadata": {"name": "-svc"}},
        {**good, "metadata": {"name": "a" * 64}},
        {**good, "metadata": {"name": "svc", "tags": ["Go"]}},
        {**good, "spec": {"type": "service", "lifecycle": "experimental"}},
        {**good, "spec": {**good["spec"], "owner": "component:default/x"}},
        {**good, "spec": {**good["spec"], "owner": "Default/x"}},
    ]
    for bad in bad_cases:
        assert backstage_problems(bad), bad


def test_with_backstage_needs_an_owner(tmp_path: Path) -> None:
    """Switched on without an owner: refused in one line naming owner, nothing written."""
    done = gostarter("new", str(tmp_path / "svc"), "--defaults", "--verify", "none",
                     "--data", "with_backstage=true")  # fmt: skip
    assert_clean_error(done, 2, "invalid owner (from --data)", "needs an owner")
    assert not (tmp_path / "svc").exists()


@pytest.fixture
def project_without_backstage(tmp_path: Path) -> Path:
    """A project generated from the working tree (as a tagged template repository), committed."""
    template = copy_template(tmp_path / "template")
    commit_all(template, "1.0.0", tag="1.0.0")
    project = render_project(tmp_path / "svc", {"module_path": "github.com/acme-corp/svc"}, template=template)
    commit_all(project, "generated")
    return project


def test_update_with_the_answer_switched_on_adds_the_entry(project_without_backstage: Path) -> None:
    """`gostarter update --data with_backstage=true --data owner=...` adds catalog-info.yaml and
    records both answers; the rest of the project stays as it was."""
    project = project_without_backstage
    main_go = (project / "main.go").read_text()
    done = gostarter("update", str(project), "--defaults", "--verify", "none", "--trust",
                     "--data", "with_backstage=true", "--data", "owner=team-payments")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    found = entity(project)
    assert backstage_problems(found) == []
    assert found["spec"]["owner"] == "team-payments"
    assert found["metadata"]["annotations"] == {"github.com/project-slug": "acme-corp/svc"}
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["with_backstage"] is True and answers["owner"] == "team-payments"
    assert (project / "main.go").read_text() == main_go


def test_update_refuses_the_answer_without_an_owner(project_without_backstage: Path) -> None:
    """The same validators guard --data on update: one line naming owner, nothing changed."""
    project = project_without_backstage
    done = gostarter("update", str(project), "--defaults", "--verify", "none", "--trust",
                     "--data", "with_backstage=true")  # fmt: skip
    assert_clean_error(done, 2, "invalid owner (from --data)")
    assert not (project / CATALOG).exists()


def test_dry_run_with_the_answer_previews_the_entry(project_without_backstage: Path) -> None:
    """`update --dry-run --data ...` names catalog-info.yaml as added and leaves the project alone."""
    project = project_without_backstage
    done = gostarter("update", str(project), "--dry-run", "--verify", "none", "--trust",
                     "--data", "with_backstage=true", "--data", "owner=team-payments")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "catalog-info.yaml" in done.stdout and "added" in done.stdout
    assert not (project / CATALOG).exists()
