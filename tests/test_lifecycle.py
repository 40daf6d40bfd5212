"""The template lifecycle of a fleet: check, update --dry-run, update, conflicts, dirty trees.

A small template written inline (repos.SMALL_SERVICE) stands for the organisation's template:
tagged 1.0.0, then changed and tagged 1.1.0. The tests that need this repository's own template
(built and run by the engine, its shipped migration, its wheel, Renovate's view of its answers)
take a copy of the working tree instead.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from generator import lifecycle
from tests.helpers.checkout import IN_CI, ROOT
from tests.helpers.files import snapshot
from tests.helpers.processes import alive, cmdline, descendants
from tests.helpers.repos import (
    OWNER_MAIN,
    OWNER_MAKEFILE_LINE,
    answers,
    commit_all,
    copy_template,
    generate,
    git,
    owner_edits,
    release_1_1,
)
from tests.helpers.running import assert_clean_error, gostarter, gostarter_process, run


def test_a_project_records_its_template_and_version(small_template: Path, tmp_path: Path) -> None:
    project = generate(small_template, tmp_path / "svc")
    recorded = answers(project)
    assert recorded["_src_path"] == str(small_template) and recorded["_commit"] == "1.0.0"
    assert lifecycle.newest_version(str(small_template)) == "1.0.0"


def test_check_says_current_then_behind_and_touches_nothing(small_template: Path, tmp_path: Path) -> None:
    """Exit 0 while current; exit 1 naming 1.0.0 -> 1.1.0 and the files once a release is out."""
    project = generate(small_template, tmp_path / "svc")
    owner_edits(project)
    current = gostarter("check", str(project))
    assert current.returncode == 0, current.stderr
    assert "current (1.0.0)" in current.stdout

    release_1_1(small_template)
    before = snapshot(project)
    report = tmp_path / "check.toml"
    behind = gostarter("check", str(project), "--report", str(report))
    assert behind.returncode == 1, behind.stdout + behind.stderr
    assert "behind, 1.0.0 -> 1.1.0" in behind.stdout
    assert "1 updated, 1 added (Makefile, SECURITY.md)" in behind.stdout
    assert snapshot(project) == before
    data = tomllib.loads(report.read_text())
    (found,) = data["projects"]
    assert found["behind"] and found["newest"] == "1.1.0"
    assert {"path": "SECURITY.md", "status": "added"} in found["changes"]
    assert {"path": "Makefile", "status": "updated"} in found["changes"]


def test_check_usage_errors(tmp_path: Path, small_template: Path) -> None:
    """Not a project, or a template that cannot be reached: exit 2, one line each."""
    assert_clean_error(gostarter_process("check", str(tmp_path)), 2, "is not a generated project")
    project = generate(small_template, tmp_path / "svc")
    text = (project / ".copier-answers.yml").read_text()
    (project / ".copier-answers.yml").write_text(text.replace(str(small_template), str(tmp_path / "gone")))
    assert_clean_error(gostarter_process("check", str(project)), 2, "cannot reach the template")


@pytest.mark.docker
def test_dry_run_classifies_verifies_and_changes_nothing(
    template_repo: Path, tmp_path: Path, image_answers: dict[str, str], no_leftovers: None
) -> None:
    project = generate(template_repo, tmp_path / "svc", {**image_answers, "app_name": "drysvc"})
    owner_edits(project)
    release_1_1(template_repo)
    before = snapshot(project)
    done = gostarter_process("update", str(project), "--dry-run", "--verify", "docker")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "svc: template 1.0.0 -> 1.1.0" in done.stdout
    assert "Makefile     updated" in done.stdout and "SECURITY.md  added" in done.stdout
    assert "verification passed (docker)" in done.stdout
    assert snapshot(project) == before
    assert answers(project)["_commit"] == "1.0.0"


@pytest.mark.docker
def test_update_keeps_the_owners_edits_and_verifies(
    template_repo: Path, tmp_path: Path, image_answers: dict[str, str], no_leftovers: None
) -> None:
    project = generate(template_repo, tmp_path / "svc", {**image_answers, "app_name": "updsvc"})
    owner_edits(project)
    release_1_1(template_repo)
    done = gostarter_process("update", str(project), "--defaults", "--trust", "--verify", "docker")
    assert done.returncode == 0, done.stdout + done.stderr
    assert OWNER_MAIN in (project / "main.go").read_text()
    makefile = (project / "Makefile").read_text()
    assert makefile.startswith(OWNER_MAKEFILE_LINE) and "print the version the binary would carry" in makefile
    assert (project / "SECURITY.md").is_file()
    assert answers(project)["_commit"] == "1.1.0"
    assert "verification passed (docker)" in done.stdout


def test_a_conflicting_edit_is_named_and_exits_1(small_template: Path, tmp_path: Path) -> None:
    """The owner changed the line the template changes: exit 1, the file named, both sides kept."""
    project = generate(small_template, tmp_path / "svc")
    makefile = project / "Makefile"
    makefile.write_text(makefile.read_text().replace("TAG       ?= dev", "TAG       ?= owners-tag"))
    git(project, "commit", "-qam", "owner's tag")
    template_makefile = small_template / "template" / "Makefile.jinja"
    template_makefile.write_text(
        template_makefile.read_text().replace("TAG       ?= dev", "TAG       ?= latest-dev")
    )
    git(small_template, "commit", "-qam", "1.1.0: another default tag")
    git(small_template, "tag", "1.1.0")
    done = gostarter_process("update", str(project), "--defaults", "--trust", "--verify", "none")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the update left conflicts in Makefile" in done.stderr
    text = makefile.read_text()
    assert "owners-tag" in text and "latest-dev" in text and "<<<<<<< before updating" in text


def test_a_dirty_tree_is_refused_untouched(small_template: Path, tmp_path: Path) -> None:
    project = generate(small_template, tmp_path / "svc")
    release_1_1(small_template)
    with (project / "main.go").open("a") as main_go:
        main_go.write(OWNER_MAIN)
    before = snapshot(project)
    done = gostarter_process("update", str(project), "--defaults", "--trust", "--verify", "none")
    assert_clean_error(done, 2, "has uncommitted changes (main.go)", "commit or stash")
    assert snapshot(project) == before


def test_check_over_twenty_services_in_one_run(small_template: Path, tmp_path: Path) -> None:
    """A platform team checks a whole checkout of services: one line each and a total."""
    projects = [
        generate(small_template, tmp_path / f"svc{i:02}", {"app_name": f"svc{i:02}"}) for i in range(20)
    ]
    release_1_1(small_template)
    for project in projects[:5]:  # five already updated
        done = gostarter("update", str(project), "--defaults", "--trust", "--verify", "none")
        assert done.returncode == 0, done.stderr
        commit_all(project, "update to 1.1.0")
    started = time.monotonic()
    done = gostarter("check", *map(str, projects))
    elapsed = time.monotonic() - started
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert len(lines) == 21 and lines[-1] == "20 checked: 15 behind, 5 current"
    assert sum("behind, 1.0.0 -> 1.1.0" in line for line in lines) == 15
    print(f"check of 20 services: {elapsed:.1f} s, {elapsed / 20:.2f} s per service")


def test_version_prints_the_package_and_the_template(capsys: pytest.CaptureFixture[str]) -> None:
    done = gostarter("--version")
    package = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert done.returncode == 0 and done.stdout.startswith(f"gostarter {package} (template ")
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"\n## {package}\n" in changelog, "CHANGELOG has no entry for the package version"


def test_a_wheel_installed_gostarter_records_the_template_url_and_updates_from_it(
    template_repo: Path, tmp_path: Path
) -> None:
    """A non-editable install: the project records the git URL and the version, no site-packages
    path; a later release reaches it through that URL."""
    pyproject = template_repo / "pyproject.toml"
    url = f"git+file://{template_repo}"
    text = pyproject.read_text().replace('version = "0.2.0"', 'version = "1.0.0"')
    text = text.replace("# [project.urls]\n# Template = ", "[project.urls]\nTemplate = ", 1)
    pyproject.write_text(text.replace('"git+https://git.example.com/platform/gostarter.git"', f'"{url}"', 1))
    git(template_repo, "commit", "-qam", "1.0.0 with its URL")
    git(template_repo, "tag", "-f", "1.0.0")
    wheels = tmp_path / "dist"
    built = run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels), str(template_repo)]
    )
    assert built.returncode == 0, built.stderr[-2000:]
    venv = tmp_path / "venv"  # without a pip of its own (seconds to make): this one installs into it
    assert run([sys.executable, "-m", "venv", "--without-pip", str(venv)]).returncode == 0
    (wheel,) = wheels.glob("gostarter-1.0.0-*.whl")
    installed = run([sys.executable, "-m", "pip", "--python", str(venv / "bin/python"), "install", "--quiet",
                     str(wheel)])  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-2000:]

    cli = str(venv / "bin/gostarter")
    done = run([cli, "new", str(tmp_path / "svc"), "--defaults", "--verify", "none"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    project = tmp_path / "svc"
    recorded = answers(project)
    assert recorded["_src_path"] == url and recorded["_commit"] == "1.0.0"
    assert "site-packages" not in (project / ".copier-answers.yml").read_text()
    commit_all(project, "generated")

    release_1_1(template_repo)
    check = run([cli, "check", str(project)])
    assert check.returncode == 1 and "behind, 1.0.0 -> 1.1.0" in check.stdout, check.stdout + check.stderr
    update = run([cli, "update", str(project), "--defaults", "--trust", "--verify", "none"])
    assert update.returncode == 0, update.stderr
    assert answers(project)["_commit"] == "1.1.0" and (project / "SECURITY.md").is_file()


def test_the_shipped_migration_carries_a_renamed_answer_over_once(tmp_path: Path) -> None:
    """A project from before 0.2.0 answered with_ci=false; updating renames the answer (the
    workflow stays out) and the migration runs once, not again on the next update."""
    repo = copy_template(tmp_path / "template")
    config = repo / "copier.yml"
    text = config.read_text().replace("with_github_actions", "with_ci")
    config.write_text(re.sub(r"# =+ migrations\n.*?(?=# =+ hidden answers)", "", text, flags=re.S))
    assert "_migrations" not in config.read_text()
    old_dir = repo / "template" / "{% if with_ci %}.github{% endif %}"
    (repo / "template" / "{% if with_github_actions %}.github{% endif %}").rename(old_dir)
    commit_all(repo, "0.1.0", tag="0.1.0")
    project = generate(repo, tmp_path / "svc", {"with_ci": "false"})
    assert answers(project)["with_ci"] is False and not (project / ".github").exists()

    shutil.rmtree(old_dir)
    shutil.copytree(ROOT / "template", repo / "template", dirs_exist_ok=True)
    shutil.copy(ROOT / "copier.yml", config)
    commit_all(repo, "0.2.0", tag="0.2.0")
    first = gostarter_process("update", str(project), "--defaults", "--trust", "--verify", "none")
    assert first.returncode == 0, first.stderr
    assert first.stderr.count("the answer with_ci is now called with_github_actions") == 1
    recorded = answers(project)
    assert recorded["with_github_actions"] is False and "with_ci" not in recorded
    assert not (project / ".github").exists(), "the old answer was lost: the workflow came back"
    commit_all(project, "0.2.0")

    release_1_1(repo)  # a later release: the migration is behind us
    second = gostarter_process("update", str(project), "--defaults", "--trust", "--verify", "none")
    assert second.returncode == 0, second.stderr
    assert "is now called" not in second.stderr
    assert answers(project)["_commit"] == "1.1.0" and (project / "SECURITY.md").is_file()


def test_the_prediction_agrees_with_the_real_update(small_template: Path, tmp_path: Path) -> None:
    """check's three-way prediction and Copier's update on a throwaway copy classify alike:
    an owner's edit elsewhere (clean), a conflicting edit, an added file, an untouched one."""
    project = generate(small_template, tmp_path / "svc")
    owner_edits(project)
    readme = project / "README.md"
    readme.write_text(readme.read_text().replace("A Go HTTP service", "An HTTP service of the payments team"))
    git(project, "commit", "-qam", "owner's README wording")
    template_readme = small_template / "template" / "README.md.jinja"
    template_readme.write_text(template_readme.read_text().replace("A Go HTTP service", "A Go service"))
    release_1_1(small_template)

    ((_, predicted),) = list(lifecycle.check_all([project], trust=False))
    assert isinstance(predicted, lifecycle.Drift)
    with lifecycle.throwaway_copy(project.resolve()) as copy:
        real = lifecycle.preview(project.resolve(), copy, trust=False)
    assert predicted.changes == real.changes
    assert {(c.path, c.status) for c in real.changes} == {
        ("Makefile", "updated"),
        ("README.md", "conflict"),
        ("SECURITY.md", "added"),
    }


RENOVATE = os.environ.get("GOSTARTER_RENOVATE") or str(
    Path.home() / ".cache/gostarter-ci/renovate/node_modules/.bin"
)


def test_renovates_copier_manager_sees_the_newer_template(template_repo: Path, tmp_path: Path) -> None:
    """The real Renovate (--platform=local: lookups only) reads the generated service's answers
    file and finds 1.1.0; its git-tags lookup needs a git URL, so the template is git+file://."""
    renovate = Path(RENOVATE) / "renovate"
    if not renovate.is_file():
        message = f"Renovate is not installed at {renovate} (.ci/run installs it; GOSTARTER_RENOVATE=DIR)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    url = f"git+file://{template_repo}"
    done = gostarter("new", str(tmp_path / "svc"), "--template", url, "--defaults", "--verify", "none",
                     "--data", "with_renovate=true")  # fmt: skip
    assert done.returncode == 0, done.stderr
    project = tmp_path / "svc"
    assert answers(project)["_src_path"] == url
    commit_all(project, "generated")
    release_1_1(template_repo)
    env = {
        **os.environ,
        "PATH": f"{renovate.parent}{os.pathsep}{os.environ['PATH']}",
        "LOG_LEVEL": "debug",
        "LOG_FORMAT": "json",
        "RENOVATE_BASE_DIR": str(tmp_path / "renovate-base"),
        "RENOVATE_ENABLED_MANAGERS": '["copier"]',
    }
    looked = run([str(renovate), "--platform=local"], cwd=project, env=env, timeout=600)
    assert looked.returncode == 0, looked.stdout[-3000:] + looked.stderr[-3000:]
    updates = [
        update
        for line in looked.stdout.splitlines()
        if '"packageFiles with updates"' in line
        for files in [json.loads(line)["config"].get("copier", [])]
        for dep in files[0]["deps"]
        for update in dep.get("updates", [])
    ]
    assert [u["newVersion"] for u in updates] == ["1.1.0"], looked.stdout[-3000:]


def test_update_says_which_answers_took_their_defaults(small_template: Path, tmp_path: Path) -> None:
    """A question new in 1.1.0 is answered by its default, and the update says so."""
    project = generate(small_template, tmp_path / "svc")
    with (small_template / "copier.yml").open("a") as config:
        config.write("\nwith_sbom:\n  type: bool\n  help: Attach an SBOM to the image?\n  default: false\n")
    git(small_template, "commit", "-qam", "1.1.0: a new question")
    git(small_template, "tag", "1.1.0")
    done = gostarter_process("update", str(project), "--defaults", "--trust", "--verify", "none")
    assert done.returncode == 0, done.stderr
    assert "not in the answers file before, so they took their defaults: with_sbom=False" in done.stderr
    assert answers(project)["with_sbom"] is False


def test_update_refuses_an_answers_file_without_its_identity(small_template: Path, tmp_path: Path) -> None:
    """app_name removed by hand: refused, rather than silently renamed to the default."""
    project = generate(small_template, tmp_path / "svc")
    path = project / ".copier-answers.yml"
    path.write_text(
        "".join(line for line in path.read_text().splitlines(True) if not line.startswith("app_name"))
    )
    git(project, "commit", "-qam", "lost app_name")
    done = gostarter_process("update", str(project), "--defaults", "--trust", "--verify", "none")
    assert_clean_error(done, 2, "lacks a valid app_name and port")


def test_allow_dirty_sets_uncommitted_changes_aside_and_puts_them_back(
    small_template: Path, tmp_path: Path
) -> None:
    project = generate(small_template, tmp_path / "svc")
    release_1_1(small_template)
    with (project / "main.go").open("a") as main_go:
        main_go.write(OWNER_MAIN)
    (project / "notes.txt").write_text("work in progress\n")
    done = gostarter_process(
        "update", str(project), "--defaults", "--trust", "--allow-dirty", "--verify", "none"
    )
    assert done.returncode == 0, done.stderr
    assert (project / "SECURITY.md").is_file() and answers(project)["_commit"] == "1.1.0"
    assert OWNER_MAIN in (project / "main.go").read_text()
    assert (project / "notes.txt").read_text() == "work in progress\n"
    assert "main.go" in git(project, "status", "--porcelain"), "the owner's edit is uncommitted, as it was"
    assert git(project, "stash", "list") == ""


@pytest.mark.parametrize(
    ("current", "newest", "behind"),
    [
        ("1.0.0", "1.1.0", True),
        ("1.1.0", "1.1.0", False),
        ("1.0.0-3-gabc1234", "1.0.0", False),  # Copier records commits after a tag this way
        ("1.0.0-3-gabc1234", "1.1.0", True),
        ("v1.2.0", "1.10.0", True),  # PEP 440, not string order
        ("abc1234", "0.1.0", True),  # a bare commit is behind any release
    ],
)
def test_behind_compares_pep_440_versions(current: str, newest: str, behind: bool) -> None:
    assert lifecycle.Drift(Path("svc"), "src", current, newest).behind is behind


def test_update_refuses_a_recorded_answer_the_template_refuses(small_template: Path, tmp_path: Path) -> None:
    """Copier would drop go_version 1.21 and take the default in silence; gostarter says so instead."""
    project = generate(small_template, tmp_path / "svc")
    path = project / ".copier-answers.yml"
    path.write_text(path.read_text().replace("go_version: '1.27'", "go_version: '1.21'"))
    assert "go_version: '1.21'" in path.read_text()
    commit_all(project, "an answer edited by hand")
    release_1_1(small_template)
    before = snapshot(project)
    done = gostarter_process("update", str(project), "--defaults", "--trust", "--verify", "none")
    assert_clean_error(done, 2, "invalid go_version (in ", ".copier-answers.yml): must be a Go version")
    assert snapshot(project) == before


_CHECKING = os.getpid()  # the test process; a fleet check's workers are forked from it


def _dies_in_a_worker(behind: lifecycle._Behind, work: Path) -> list[lifecycle.FileChange] | str:
    """lifecycle._predicted, except that a worker process dies on the project named svc-dies."""
    if os.getpid() != _CHECKING and behind.drift.project.name == "svc-dies":
        os._exit(9)
    return _PREDICTED(behind, work)


_PREDICTED = lifecycle._predicted


def _rows(found: list[tuple[Path, lifecycle.Drift | Exception]]) -> list[tuple[str, object]]:
    return [
        (project.name, row.changes if isinstance(row, lifecycle.Drift) else f"error: {row}")
        for project, row in found
    ]


def test_a_fleet_check_predicts_in_workers_as_it_would_one_at_a_time(
    small_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fleet's predictions run in worker processes, one per core: the same rows, in the given
    order, as checking each project alone (a current one, one that cannot be checked and edited ones
    among them); a worker that dies costs no row: what it had not finished is predicted in the
    parent; where no worker can be made, the parent predicts them all."""
    names = ["svc-a", "svc-b", "svc-current", "svc-broken", "svc-dies", "svc-e"]
    projects = [generate(small_template, tmp_path / name, {"app_name": name}) for name in names]
    owner_edits(projects[1])
    (projects[3] / ".copier-answers.yml").write_text("_commit: [not, a, version]\n")
    release_1_1(small_template)
    done = gostarter("update", str(projects[2]), "--defaults", "--trust", "--verify", "none")
    assert done.returncode == 0, done.stderr

    alone = [row for project in projects for row in lifecycle.check_all([project], trust=False)]
    assert [name for name, changes in _rows(alone) if changes == []] == ["svc-current"]
    assert str(_rows(alone)[3][1]).startswith("error: ")
    assert _rows(list(lifecycle.check_all(projects, trust=False))) == _rows(alone)

    monkeypatch.setattr(lifecycle, "_predicted", _dies_in_a_worker)
    assert _rows(list(lifecycle.check_all(projects, trust=False))) == _rows(alone)

    def no_shared_memory(count: int, tmp: Path | None = None) -> None:  # sem_open on a read-only /dev/shm
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(lifecycle.children, "workers", no_shared_memory)
    assert _rows(list(lifecycle.check_all(projects, trust=False))) == _rows(alone)


def _checking_with_workers(projects: list[Path], tmp: Path) -> tuple[subprocess.Popen[str], dict[int, str]]:
    """`gostarter check PROJECTS` as its own process with TMPDIR=`tmp`, once its forked workers (the
    parent's command line, one per core: 2 here) are at work; with every process below it then."""
    check = subprocess.Popen(
        [sys.executable, "-m", "generator", "check", *map(str, projects)],
        env={**os.environ, "TMPDIR": str(tmp)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    parent, workers = "", {}
    deadline = time.monotonic() + 60
    while len(workers) < 2 and check.poll() is None and time.monotonic() < deadline:
        parent = parent or cmdline(check.pid)
        workers = {pid: was for pid, was in descendants(check.pid).items() if was == parent}
        time.sleep(0.005)
    assert len(workers) >= 2, f"no workers seen: {check.communicate()}"
    time.sleep(0.5)  # into the renders
    return check, descendants(check.pid)


def test_a_fleet_check_stopped_leaves_no_worker_and_waits_for_no_render(
    small_template: Path, tmp_path: Path
) -> None:
    """Renders that take long (a template file that loops for minutes): Ctrl-C or SIGTERM to
    gostarter alone ends it within seconds, exit 130 or 143 and one line, the workers killed
    mid-render, nothing left in its temporary directory; SIGKILL to gostarter kills its workers
    too (they would wait for work forever)."""
    projects = [generate(small_template, tmp_path / f"svc{i}", {"app_name": f"svc{i}"}) for i in range(4)]
    slow = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}\n"
    (small_template / "template" / "SLOW.md.jinja").write_text(slow)
    release_1_1(small_template)
    for signum, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGKILL, -9)):
        tmp = tmp_path / f"tmp-{signum.name}"  # what a SIGKILLed gostarter cannot remove stays here
        tmp.mkdir()
        check, left = _checking_with_workers(projects, tmp)
        try:
            stopped = time.monotonic()
            check.send_signal(signum)
            out, err = check.communicate(timeout=30)
            assert check.returncode == code, out + err
            deadline = time.monotonic() + 10
            while [pid for pid, was in left.items() if alive(pid, was)] and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not [was for pid, was in left.items() if alive(pid, was)], signum
            assert time.monotonic() - stopped < 10, f"{signum}: waited for the renders"
            if signum != signal.SIGKILL:
                assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
                assert not list(tmp.iterdir()), f"{signum}: left {sorted(p.name for p in tmp.iterdir())}"
        finally:  # a failure here must not leave minutes of renders running
            for pid, was in [(check.pid, ""), *left.items()]:
                if pid == check.pid or alive(pid, was):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            check.wait()
