"""The web initializr in a real browser: Debian's Chromium driven by Playwright against a real
`gostarter serve` process. The page's stable contract (README, "Web initializr") is what these
tests select by: each input's name, data-error-for, data-action and data-file."""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import expect

from tests.helpers.checkout import ROOT
from tests.helpers.running import go_env, gostarter, run

ASKED = {
    name: details
    for name, details in yaml.safe_load((ROOT / "copier.yml").read_text()).items()
    if not name.startswith("_") and details.get("when") is not False
}
# The page's order: copier.yml's, grouped by section (sections in the order of their first question).
SECTIONS = list(dict.fromkeys(details["section"] for details in ASKED.values()))
QUESTIONS = [name for section in SECTIONS for name, details in ASKED.items() if details["section"] == section]
TIMEOUT = 30_000  # milliseconds: a validation is one Copier run on the server


@pytest.fixture
def page(chromium: Any, served: str) -> Iterator[Any]:
    page = chromium.new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(served + "/")
    page.wait_for_selector("form[data-ready=true]")
    yield page
    page.close()


def control(page: Any, name: str) -> Any:
    return page.locator(f'[name="{name}"]:not([type=hidden])')


def settled(page: Any) -> None:
    """Wait until the answers on the page have been judged by the server."""
    page.wait_for_selector("form[data-state=valid], form[data-state=invalid]")


def values(page: Any) -> dict[str, Any]:
    found = {}
    for name in QUESTIONS:
        field = control(page, name)
        found[name] = field.is_checked() if field.get_attribute("type") == "checkbox" else field.input_value()
    return found


def test_every_question_has_a_labelled_field(page: Any) -> None:
    for name in QUESTIONS:
        assert control(page, name).count() == 1, name
        assert page.get_by_label(ASKED[name]["label"], exact=True).get_attribute("name") == name
    assert page.locator('[name="verify"], [name="module_prefix"]').count() == 0


def test_an_invalid_app_name_shows_the_validators_message_and_disables_download(page: Any) -> None:
    control(page, "app_name").fill("Pay_ments")
    error = page.locator('[data-error-for="app_name"]')
    error.filter(has_text="must be lowercase letters").wait_for()
    assert page.locator('[data-action="download"]').is_disabled()
    control(page, "app_name").fill("payments")
    expect(page.locator('[data-error-for="app_name"]')).to_have_text("")
    settled(page)
    assert page.locator('[data-action="download"]').is_enabled()


def test_module_path_and_builder_image_follow_their_defaults_until_edited(page: Any) -> None:
    control(page, "go_version").fill("1.26")
    expect(control(page, "builder_image")).to_have_value("golang:1.26")
    control(page, "app_name").fill("payments")
    expect(control(page, "module_path")).to_have_value("payments")
    control(page, "builder_image").fill("mirror.example.com/golang:1.26")
    control(page, "module_path").fill("github.com/acme/payments")
    control(page, "go_version").fill("1.25")
    control(page, "app_name").fill("billing")
    settled(page)
    expect(control(page, "description")).to_have_value(re.compile(r"^billing: "))
    assert control(page, "builder_image").input_value() == "mirror.example.com/golang:1.26"
    assert control(page, "module_path").input_value() == "github.com/acme/payments"


def test_explore_shows_main_go_with_the_typed_name(page: Any) -> None:
    control(page, "app_name").fill("explorer")
    settled(page)
    page.locator('[data-action="explore"]').click()
    page.locator('[data-file="main.go"]').click()
    viewer = page.locator("[data-viewer]")
    viewer.filter(has_text='appName     = "explorer"').wait_for()
    assert page.locator('[data-file="scripts/smoke.sh"]').count() == 1


def _extract(archive: Path, dest: Path) -> Path:
    """Unzip keeping each file's mode (Python's zipfile alone drops it)."""
    with zipfile.ZipFile(archive) as zipped:
        for info in zipped.infolist():
            target = dest / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zipped.read(info))
            target.chmod(info.external_attr >> 16 & 0o777)
    (top,) = dest.iterdir()
    return top


def test_the_downloaded_project_builds_tests_verifies_and_is_current(page: Any, tmp_path: Path) -> None:
    control(page, "app_name").fill("downloaded")
    control(page, "port").fill("9090")
    settled(page)
    with page.expect_download() as waiting:
        page.locator('[data-action="download"]').click()
    download = waiting.value
    assert download.suggested_filename == "downloaded.zip"
    archive = tmp_path / download.suggested_filename
    download.save_as(archive)
    project = _extract(archive, tmp_path / "out")
    assert project.name == "downloaded" and os.access(project / "scripts/smoke.sh", os.X_OK)
    env = go_env()
    assert run(["gofmt", "-l", "."], project, env=env).stdout == ""
    for argv in (["go", "vet", "./..."], ["go", "test", "./..."]):
        done = run(argv, project, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
    verified = gostarter("verify", "--verify", "native", "--quiet", str(project))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    checked = gostarter("check", str(project))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == f"{project}: current (3.0.0)"


def test_a_share_link_restores_every_field(page: Any, chromium: Any) -> None:
    control(page, "app_name").fill("shared")
    control(page, "port").fill("9191")
    control(page, "runtime_base").select_option("alpine")
    control(page, "with_k8s").check()
    control(page, "with_compose").uncheck()
    control(page, "maintainer").fill("Team <team@example.com>")
    settled(page)
    expect(control(page, "runtime_image")).to_have_value("alpine:3.22")
    page.locator('[data-action="share"]').click()
    link = page.locator("[data-share-link]").input_value()
    assert "app_name=shared" in link and "builder_image" not in link  # untouched fields stay defaults
    expected = values(page)
    other = chromium.new_page()
    other.set_default_timeout(TIMEOUT)
    other.goto(link)
    other.wait_for_selector("form[data-ready=true]")
    assert values(other) == expected
    other.close()


def test_the_page_works_from_the_keyboard_alone(page: Any) -> None:
    """Tab reaches every field and the controls in order; typing answers; Ctrl+Enter downloads."""
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == QUESTIONS[0]
    page.keyboard.press("Control+A")
    page.keyboard.type("keyboard")
    reached = [QUESTIONS[0]]
    for _ in range(len(QUESTIONS) + 12):
        page.keyboard.press("Tab")
        reached.append(
            page.evaluate("document.activeElement.name || document.activeElement.dataset.action || ''")
        )
        if reached[-1] == "with_k8s" and reached.count("with_k8s") == 1:
            page.keyboard.press("Space")  # a checkbox toggles from the keyboard
        if reached[-1] == "runtime_base" and reached.count("runtime_base") == 1:
            page.keyboard.press("ArrowDown")  # and a select changes
    assert [name for name in reached if name in QUESTIONS][: len(QUESTIONS)] == QUESTIONS
    assert {"download", "explore", "share"} <= set(reached)
    settled(page)
    with page.expect_download() as waiting:
        page.keyboard.press("Control+Enter")
    assert waiting.value.suggested_filename == "keyboard.zip"
    assert control(page, "with_k8s").is_checked() and control(page, "runtime_base").input_value() == "scratch"


def test_the_page_follows_the_systems_dark_preference(page: Any, tmp_path: Path) -> None:
    """Light and dark from prefers-color-scheme, with Explore open (README's screenshots are
    tests/test_web_page.py's)."""
    background = "getComputedStyle(document.body).backgroundColor"
    page.emulate_media(color_scheme="light")
    light = page.evaluate(background)
    page.emulate_media(color_scheme="dark")
    dark = page.evaluate(background)
    assert light != dark
    page.emulate_media(color_scheme="light")
    control(page, "app_name").fill("payments")
    settled(page)
    page.locator('[data-action="explore"]').click()
    page.locator('[data-file="main.go"]').click()
    page.locator("[data-viewer]").filter(has_text="payments").wait_for()
    shot = tmp_path / "page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
