"""`gostarter rehearse`: a template branch rehearsed on a fleet of real services before its release.

The fleet: six services generated from a template repository, three at 1.0.0 and three at 1.1.0,
each with its owner's edits. The branch `next` (from 1.1.0) changes a Makefile line one service
edited too (a conflict), adds a Go file that does not compile to services answering
with_compose=false (a build broken by an answer), and adds a migration at 1.1.0 (needed by the
services still at 1.0.0). Verification is native, to keep CI short.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.files import snapshot
from tests.helpers.repos import answers, commit_all, copy_template, generate, git, owner_edits, release_1_1
from tests.helpers.running import gostarter, gostarter_process

MIGRATION = """  - version: "1.1.0"
    command:
      - "{{ _copier_python }}"
      - "-c"
      - "print('1.1.0 migration')"
"""
EXPECTED = {
    "svc-a": "needs a migration",
    "svc-b": "needs a migration",
    "svc-c": "conflicts",
    "svc-d": "updates cleanly",
    "svc-e": "fails verification",
    "svc-f": "updates cleanly",
}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """The template (tags 1.0.0, 1.1.0, branch `next`) and six services with their edits."""
    root = tmp_path_factory.mktemp("fleet")
    repo = copy_template(root / "template")
    commit_all(repo, "1.0.0", tag="1.0.0")
    services = []
    for name in ("svc-a", "svc-b", "svc-c"):
        services.append(generate(repo, root / name, {"app_name": name}))
    release_1_1(repo)
    for name, data in (("svc-d", {}), ("svc-e", {"with_compose": "false"}), ("svc-f", {})):
        services.append(generate(repo, root / name, {"app_name": name, **data}))
    for project in services:
        owner_edits(project)
    makefile = services[2] / "Makefile"
    makefile.write_text(makefile.read_text().replace("TAG       ?= dev", "TAG       ?= owners-tag"))
    git(services[2], "commit", "-qam", "owner's tag")

    git(repo, "checkout", "-qb", "next")
    template_makefile = repo / "template" / "Makefile.jinja"
    template_makefile.write_text(
        template_makefile.read_text().replace("TAG       ?= dev", "TAG       ?= next-dev")
    )
    broken = repo / "template" / "{% if not with_compose %}broken.go{% endif %}.jinja"
    broken.write_text("package main\n\nfunc broken() { this does not compile }\n")
    config = repo / "copier.yml"
    text = config.read_text()
    config.write_text(text.replace("_migrations:\n", "_migrations:\n" + MIGRATION, 1))
    commit_all(repo, "next: tag, a file for services without compose, a migration")
    git(repo, "checkout", "-q", "master" if "master" in git(repo, "branch") else "main")
    return repo, services


def _statuses(data: dict[str, Any]) -> dict[str, str]:
    return {Path(row["project"]).name: row["status"] for row in data["projects"]}


def test_rehearsal_rows_say_what_the_branch_does_to_each_service(
    fleet: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    """Each row says exactly what the branch would do; nothing in any service changes; exit 1."""
    repo, services = fleet
    before = {project: snapshot(project) for project in services}
    report, page = tmp_path / "rehearsal.toml", tmp_path / "rehearsal.html"
    done = gostarter_process(
        "rehearse", "--template", str(repo), "--ref", "next", "--trust", "--verify", "native",
        "--report", str(report), "--html", str(page), *map(str, services),
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    data = tomllib.loads(report.read_text())
    assert _statuses(data) == EXPECTED, done.stdout
    rows = {Path(row["project"]).name: row for row in data["projects"]}
    assert [h["path"] for h in rows["svc-c"]["hunks"]] == ["Makefile"]
    hunk = rows["svc-c"]["hunks"][0]["text"]
    assert "owners-tag" in hunk and "next-dev" in hunk and "<<<<<<< before updating" in hunk
    assert rows["svc-e"]["verification"]["result"] == "failed"
    assert "build" in rows["svc-e"]["reason"] and "broken.go" in rows["svc-e"]["reason"]
    assert rows["svc-a"]["migrations"] == ["1.1.0"] and rows["svc-d"]["migrations"] == []
    for name in ("svc-a", "svc-b", "svc-d", "svc-f"):
        assert rows[name]["verification"]["result"] == "passed", rows[name]
        assert rows[name]["verification"]["mode"] == "native"
    assert {"path": "Makefile", "status": "updated"} in rows["svc-d"]["changes"]
    assert data["counts"] == {
        "current": 0, "updates cleanly": 2, "needs a migration": 2, "conflicts": 1,
        "fails verification": 1, "refused": 0,
    }  # fmt: skip
    assert data["commit"] == git(repo, "rev-parse", "next").strip()
    for project in services:
        assert snapshot(project) == before[project], f"{project.name} changed"
    assert page.read_text().startswith("<!doctype html>")


def test_refused_rows_and_exit_2(fleet: tuple[Path, list[Path]], tmp_path: Path) -> None:
    """A dirty service, an unreachable version and a directory that is no project are rows; exit 2."""
    repo, services = fleet
    dirty = tmp_path / "dirty"
    git(tmp_path, "clone", "-q", str(services[3]), str(dirty))
    (dirty / "main.go").write_text((dirty / "main.go").read_text() + "// wip\n")
    stray = tmp_path / "stray"
    git(tmp_path, "clone", "-q", str(services[5]), str(stray))
    text = (stray / ".copier-answers.yml").read_text().replace("_commit: 1.1.0", "_commit: 9.9.9")
    (stray / ".copier-answers.yml").write_text(text)
    commit_all(stray, "a version the template never had")
    done = gostarter(
        "rehearse", "--template", str(repo), "--ref", "1.1.0", "--verify", "none",
        str(dirty), str(stray), str(tmp_path), str(services[4]),
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith(f"{dirty}: refused: dirty: uncommitted changes (main.go)") for line in lines)
    assert any(line.startswith(f"{stray}: refused: unreachable: its version 9.9.9") for line in lines)
    assert any(
        line.startswith(f"{tmp_path}: refused:") and "not a generated project" in line for line in lines
    )
    assert f"{services[4]}: current" in lines
    assert lines[-1] == "4 rehearsed: 1 current, 3 refused"


def test_usage_errors(fleet: tuple[Path, list[Path]], tmp_path: Path) -> None:
    repo, services = fleet
    missing = gostarter("rehearse", "--template", str(repo), "--ref", "no-such-branch", str(services[0]))
    assert missing.returncode == 2 and "has no branch, tag or commit 'no-such-branch'" in missing.stderr
    bad_shard = gostarter(
        "rehearse", "--template", str(repo), "--ref", "next", "--shard", "3/2", str(services[0])
    )
    assert bad_shard.returncode == 2 and "--shard '3/2' is not K/N" in bad_shard.stderr
    nothing = gostarter("rehearse", "--ref", "next")
    assert nothing.returncode == 2 and "needs --template SRC, --ref REF" in nothing.stderr
    assert not list(tmp_path.iterdir())


def test_shards_merge_to_the_same_report_as_one_run(fleet: tuple[Path, list[Path]], tmp_path: Path) -> None:
    """Two shards' reports, merged, equal one run's report (timings aside)."""
    repo, services = fleet
    base = ["rehearse", "--template", str(repo), "--ref", "next", "--trust", "--verify", "none"]
    whole = tmp_path / "whole.toml"
    assert gostarter(*base, "--report", str(whole), *map(str, services)).returncode == 1
    for k in (1, 2):
        done = gostarter(
            *base, "--shard", f"{k}/2", "--report", str(tmp_path / f"s{k}.toml"), *map(str, services)
        )
        assert done.returncode == 1, done.stdout + done.stderr
        assert len(tomllib.loads((tmp_path / f"s{k}.toml").read_text())["projects"]) == 3
    merged, page = tmp_path / "merged.toml", tmp_path / "merged.html"
    done = gostarter(
        "rehearse", "--merge", str(tmp_path / "s1.toml"), str(tmp_path / "s2.toml"),
        "--report", str(merged), "--html", str(page),
    )  # fmt: skip
    assert done.returncode == 1, done.stderr

    def timeless(path: Path) -> dict[str, Any]:
        data = tomllib.loads(path.read_text())
        data.pop("shard", None)
        for row in data["projects"]:
            row.pop("seconds")
        return data

    assert timeless(merged) == timeless(whole)
    assert _statuses(timeless(whole))["svc-c"] == "conflicts"
    assert "from 2 report(s)" in page.read_text()


def test_a_service_at_the_ref_is_current_and_exit_0(fleet: tuple[Path, list[Path]]) -> None:
    repo, services = fleet
    done = gostarter(
        "rehearse", "--template", str(repo), "--ref", "1.1.0", "--verify", "none", str(services[3])
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert answers(services[3])["_commit"] == "1.1.0"
    assert done.stdout.splitlines()[-1] == "1 rehearsed: 1 current"


def test_the_page_in_chromium(fleet: tuple[Path, list[Path]], tmp_path: Path, chromium: Any) -> None:
    """The page opens from disk with nothing fetched from any host; counts, rows, filter, sort,
    conflict hunks on demand and verification figures read through the DOM; no sideways scroll
    on a phone. `GOSTARTER_SCREENSHOT=FILE` saves the screenshot README shows."""
    repo, services = fleet
    report, page_file = tmp_path / "r.toml", tmp_path / "r.html"
    done = gostarter(
        "rehearse", "--template", str(repo), "--ref", "next", "--trust", "--verify", "none",
        "--report", str(report), "--html", str(page_file), *map(str, services),
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    page = chromium.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    try:
        page.goto(page_file.as_uri())
        assert all(url.startswith("file://") for url in requested), requested
        counts = {
            button.get_attribute("data-filter"): int(button.query_selector("b").inner_text())
            for button in page.query_selector_all("#counts button")
        }
        assert counts["needs a migration"] == 2 and counts["conflicts"] == 1 and counts["refused"] == 0
        rows = page.query_selector_all("#rows tbody tr")
        assert {row.get_attribute("data-status") for row in rows} == {
            "needs a migration", "conflicts", "updates cleanly"
        }  # fmt: skip
        conflict = page.query_selector('tr[data-status="conflicts"]')
        hunk = conflict.query_selector("details.hunk")
        assert not hunk.query_selector("pre").is_visible()
        hunk.query_selector("summary").click()
        assert "owners-tag" in hunk.query_selector("pre").inner_text()
        _filter_sort_and_fit(page)
        _screenshot(page, conflict)
    finally:
        page.close()


def test_check_draws_the_fleets_drift(fleet: tuple[Path, list[Path]], tmp_path: Path, chromium: Any) -> None:
    """`check --html`: how many services at each version, a bar each, and a row per service."""
    _, services = fleet
    page_file = tmp_path / "drift.html"
    done = gostarter("check", "--html", str(page_file), *map(str, services))
    assert done.returncode == 1, done.stderr
    page = chromium.new_page()
    try:
        page.goto(page_file.as_uri())
        bars = {
            bar.get_attribute("data-version"): int(bar.query_selector("span:last-child").inner_text())
            for bar in page.query_selector_all(".bar")
        }
        assert bars == {"1.1.0": 3, "1.0.0": 3}
        assert page.query_selector('.bar[data-version="1.1.0"]').inner_text().startswith("1.1.0 (newest)")
        assert len(page.query_selector_all('#rows tbody tr[data-status="behind"]')) == 3
    finally:
        page.close()


def _filter_sort_and_fit(page: Any) -> None:
    """The status filter, the text filter, sorting by a column, and a phone's width."""
    page.select_option("#status", "updates cleanly")
    shown = [r.get_attribute("data-project") for r in page.query_selector_all("#rows tbody tr:not([hidden])")]
    assert sorted(Path(p).name for p in shown) == ["svc-d", "svc-e", "svc-f"]
    page.select_option("#status", "")
    page.fill("#filter", "svc-c")
    assert len(page.query_selector_all("#rows tbody tr:not([hidden])")) == 1
    page.fill("#filter", "")
    page.click('th button[data-column="0"]')
    page.click('th button[data-column="0"]')  # descending
    names = [r.query_selector("td b").inner_text() for r in page.query_selector_all("#rows tbody tr")]
    assert names == sorted(names, reverse=True)
    page.set_viewport_size({"width": 360, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


def _screenshot(page: Any, conflict: Any) -> None:
    """`GOSTARTER_SCREENSHOT=FILE`: the screenshot README shows."""
    screenshot = os.environ.get("GOSTARTER_SCREENSHOT")
    if screenshot:
        page.set_viewport_size({"width": 1100, "height": 700})
        page.click('th button[data-column="1"]')
        conflict.query_selector("details.files summary").click()
        page.screenshot(path=screenshot, full_page=True)


@pytest.mark.docker
def test_docker_verification_of_two_services_at_once(
    template_repo: Path, tmp_path: Path, image_answers: dict[str, str], no_leftovers: None, docker_client: Any
) -> None:
    """With the engine: each updated copy's image is built and its container smoke-tested, two at
    once, and nothing of theirs is left (no container, no image, no APP:dev)."""
    services = [
        generate(template_repo, tmp_path / name, {**image_answers, "app_name": name})
        for name in ("rha", "rhb")
    ]
    release_1_1(template_repo)
    done = gostarter_process(
        "rehearse", "--template", str(template_repo), "--ref", "1.1.0", "--verify", "docker", "--jobs", "2",
        "--report", str(tmp_path / "r.toml"), *map(str, services),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    data = tomllib.loads((tmp_path / "r.toml").read_text())
    assert _statuses(data) == {"rha": "updates cleanly", "rhb": "updates cleanly"}
    for row in data["projects"]:
        assert row["verification"]["result"] == "passed" and row["verification"]["mode"] == "docker"
        assert row["verification"]["image_size_bytes"] > 0
    for name in ("rha", "rhb"):
        assert not docker_client.images.list(name=name), f"{name}'s image was left"
