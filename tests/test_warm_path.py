"""The warm path: what does not depend on each other runs side by side, and no check is lost.

After the container's first answer, /healthz, the image's HEALTHCHECK and the
process's user are checked at once; the health command's failures before that
first answer do not count, three more in a row after it fail. A checkout's
template renders from a plain tree of its working tree, without a clone.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import threading
import time
import tomllib
from pathlib import Path

import pytest

from generator.verify.background import first_failure, in_background
from tests.helpers.repos import answers, commit_all, copy_template, git, render_project
from tests.helpers.running import gostarter_process as gostarter

# Renders Template(CHECKOUT, "HEAD") into DEST, as `gostarter new` renders its own checkout, and
# prints every program started meanwhile (Python's audit events), one command line a line.
_RENDER_WATCHED = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    from generator.render import Answers, render
    from generator.template import Template

    started = []
    sys.addaudithook(lambda event, args: started.append(args[1]) if event == "subprocess.Popen" else None)
    render(Template(sys.argv[1], "HEAD"), Path(sys.argv[2]), answers=Answers(data={"app_name": "fromtree"}))
    print("\\n".join(" ".join(map(str, argv)) for argv in started))
    """
)


def _render_watched(checkout: Path, dest: Path) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _RENDER_WATCHED, str(checkout), str(dest)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.splitlines()


def test_a_checkout_renders_its_working_tree_without_a_clone(tmp_path: Path) -> None:
    """What Copier took of a checkout at HEAD (committed files, uncommitted edits and new files,
    minus what .gitignore excludes and what was deleted), from a plain tree: no git clone, and the
    project records the checkout and its `git describe`, as Copier recorded them."""
    checkout = copy_template(tmp_path / "checkout")
    (checkout / ".gitignore").write_text("template/ignored.txt\n")
    commit_all(checkout, "template", tag="9.9.9")

    clean = _render_watched(checkout, tmp_path / "clean")
    assert not [line for line in clean if " clone " in f" {line} "], clean
    assert any("ls-files" in line for line in clean), clean
    assert answers(tmp_path / "clean")["_src_path"] == str(checkout)
    assert answers(tmp_path / "clean")["_commit"] == "9.9.9"

    readme = checkout / "template" / "README.md.jinja"
    readme.write_text(readme.read_text() + "\nAn edit not yet committed.\n")
    (checkout / "template" / "NOTES.md").write_text("a file not yet added\n")
    (checkout / "template" / "ignored.txt").write_text("ignored by .gitignore\n")
    (checkout / "template" / "main_test.go").unlink()
    dirty = _render_watched(checkout, tmp_path / "dirty")
    assert not [line for line in dirty if " clone " in f" {line} "], dirty
    project = tmp_path / "dirty"
    assert (project / "README.md").read_text().endswith("An edit not yet committed.\n")
    assert (project / "NOTES.md").is_file()
    assert not (project / "ignored.txt").exists() and not (project / "main_test.go").exists()
    described = git(checkout, "describe", "--tags", "--always", "--dirty").strip()
    assert described == "9.9.9-dirty" and answers(project)["_commit"] == described
    assert answers(project)["_src_path"] == str(checkout) and answers(project)["app_name"] == "fromtree"


def test_the_first_failure_is_raised_without_waiting_for_the_slowest() -> None:
    """Side-by-side checks: one that fails is reported at once, not after a slow one ends."""
    release = threading.Event()

    def fails() -> None:
        raise ValueError("healthz said no")

    slow = in_background(lambda: release.wait(30), "slow")
    began = time.monotonic()
    with pytest.raises(ValueError, match="healthz said no"):
        first_failure(slow, in_background(fails, "fails"))
    assert time.monotonic() - began < 10 and not slow.done()
    release.set()
    assert slow.result(timeout=10) is True


def test_side_by_side_checks_all_finish_and_keep_their_results() -> None:
    """When none fails, each check's own result is there once all have finished."""
    checks = [in_background(lambda n=n: (time.sleep(0.05 * n), n)[1], f"c{n}") for n in range(3)]
    first_failure(*checks)
    assert [check.result() for check in checks] == [0, 1, 2]


@pytest.mark.docker
def test_a_healthcheck_that_fails_once_the_service_answers_fails_at_once(
    tmp_path: Path, image_answers: dict[str, str], no_leftovers: None
) -> None:
    """A health command that fails while the service answers is reported with its exit code and
    output after three failed probes, long before the 30 s deadline; nothing is left behind."""
    project = render_project(tmp_path / "sick", {**image_answers, "app_name": "sick"})
    dockerfile = project / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace('"-healthcheck"]', '"-healthcheck", "-nope"]'))
    began = time.monotonic()
    done = gostarter("verify", str(project), "--verify", "docker", "--rm-image")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the HEALTHCHECK reports unhealthy (exit 1" in done.stderr
    assert "flag provided but not defined: -nope" in done.stderr
    assert time.monotonic() - began < 120  # build included; the health verdict itself takes < 2 s


@pytest.mark.docker
def test_a_service_slow_to_listen_passes_its_healthcheck(
    tmp_path: Path, image_answers: dict[str, str], no_leftovers: None
) -> None:
    """A service that listens only 2 s after start: the probes that fail meanwhile do not count,
    and the HEALTHCHECK is reported healthy after the first answer."""
    project = render_project(tmp_path / "slow", {**image_answers, "app_name": "slowsvc"})
    main_go = project / "main.go"
    serving = "\tlogger := slog.New("
    main_go.write_text(main_go.read_text().replace(serving, "\ttime.Sleep(2 * time.Second)\n" + serving))
    assert "time.Sleep(2 * time.Second)" in main_go.read_text()
    report = tmp_path / "slow.toml"
    done = gostarter("verify", str(project), "--verify", "docker", "--rm-image", "--report", str(report))
    assert done.returncode == 0, done.stdout + done.stderr
    found = tomllib.loads(report.read_text())
    assert 2.0 <= found["first_response_seconds"] <= found["healthy_seconds"]
    assert any(check.startswith("HEALTHCHECK healthy") for check in found["checks"])


def test_a_checkout_links_and_a_checkout_git_cannot_read_still_render(tmp_path: Path) -> None:
    """A link in the template to a file outside the template's parts renders as that file; a
    checkout git will not read (a `.git` that points nowhere) renders as the directory it is, as
    Copier renders a directory that is not a repository: no `_commit`, the checkout as the source."""
    checkout = copy_template(tmp_path / "checkout")
    (checkout / "NOTICE.txt").write_text("Copyright the platform team.\n")
    (checkout / "template" / "NOTICE.md").symlink_to("../NOTICE.txt")
    commit_all(checkout, "template", tag="9.9.9")
    _render_watched(checkout, tmp_path / "linked")
    assert (tmp_path / "linked" / "NOTICE.md").read_text() == "Copyright the platform team.\n"

    shutil.rmtree(checkout / ".git")
    (checkout / ".git").write_text("gitdir: /nonexistent/repository\n")
    _render_watched(checkout, tmp_path / "unreadable")
    recorded = answers(tmp_path / "unreadable")
    assert recorded["_src_path"] == str(checkout) and "_commit" not in recorded
    assert (tmp_path / "unreadable" / "NOTICE.md").is_file() and recorded["app_name"] == "fromtree"
