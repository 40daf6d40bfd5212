"""The initializr's page as people use it, in Debian's Chromium against a real `gostarter serve`:
axe-core finds nothing in any state, nothing scrolls sideways at 320, 390 and 1280 px, the action
bar is in reach without scrolling, a form refused with JavaScript off is the page again, and
Lighthouse (marker `lighthouse`, run by .ci/run) scores at least 98.

axe-core and Lighthouse are the npm packages .ci/run installs outside the clone
($GOSTARTER_WEB_AUDIT, default ~/.cache/gostarter-ci/web-audit); Lighthouse runs on Node >= 22
($GOSTARTER_NODE, default the Node 24 .ci/run installs for Renovate). README's screenshots are
this file's (GOSTARTER_SCREENSHOT=1 writes docs/initializr-{320,390,1280}.png)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS, WEB_AUDIT
from tests.helpers.browser import axe_violations as _axe
from tests.helpers.checkout import ROOT, needs_file

NODE = Path(
    os.environ.get("GOSTARTER_NODE", Path.home() / ".cache/gostarter-ci/renovate/node_modules/.bin/node")
)
LIGHTHOUSE = WEB_AUDIT / "node_modules/lighthouse/cli/index.js"
TIMEOUT = 30_000
WIDTHS = {320: 640, 390: 844, 1280: 800}  # width: height of the screens the page is held to
QUESTIONS = {
    name: details
    for name, details in yaml.safe_load((ROOT / "copier.yml").read_text()).items()
    if not name.startswith("_") and details.get("when") is not False
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium as a browser in which each test opens contexts of its own (JavaScript off,
    dark, a phone)."""
    needs_file(CHROMIUM, "Chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def _open(browser: Any, url: str, width: int = 1280, **options: Any) -> Any:
    context = browser.new_context(viewport={"width": width, "height": WIDTHS.get(width, 900)}, **options)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(url)
    if options.get("java_script_enabled", True):
        page.wait_for_selector("form[data-ready=true]")
    return page


def _wide(page: Any) -> int:
    """How far the document is wider than the window (0: no horizontal scrolling)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def _explore(page: Any) -> None:
    page.locator('[data-action="explore"]').click()
    page.locator('[data-file="main.go"]').click()
    page.locator("[data-viewer]").filter(has_text="package main").wait_for()


def test_axe_finds_no_violation_in_any_state_of_the_page(browser: Any, served: str) -> None:
    """Default, dark, each width, a refused answer, Explore open, a share link's banner."""
    found: dict[str, list[str]] = {}
    for width in WIDTHS:
        for scheme in ("light", "dark"):
            page = _open(browser, served + "/", width, color_scheme=scheme)
            found[f"{scheme} {width}px"] = _axe(page)
            page.locator('[name="app_name"]').fill("Pay_ments")
            page.locator('[data-error-for="app_name"]').filter(has_text="must be").wait_for()
            found[f"{scheme} {width}px refused"] = _axe(page)
            page.locator('[name="app_name"]').fill("payments")
            page.wait_for_selector("form[data-state=valid]")
            _explore(page)
            found[f"{scheme} {width}px explore"] = _axe(page)
            page.context.close()
    linked = _open(browser, served + "/?builder_image=evil.example.com/golang:1.27&with_backstage=true")
    found["share link"] = _axe(linked)
    assert linked.locator('[data-action="download"]').is_disabled()  # owner refuses: the script knows
    # The page a refused form answers without JavaScript (axe itself needs JavaScript: the form is
    # sent as the browser sends it, bypassing the script's checks).
    linked.locator('[name="app_name"]').fill("Pay_ments")
    with linked.expect_response(lambda response: response.url.endswith("/starter.zip")) as refused:
        linked.evaluate("document.getElementById('starter').submit()")
    assert refused.value.status == 400
    linked.wait_for_url("**/starter.zip")
    linked.wait_for_selector("form[data-ready=true]")
    assert linked.locator("[data-refused]").is_visible()
    found["no-JavaScript refusal"] = _axe(linked)
    linked.context.close()
    assert {state: v for state, v in found.items() if v} == {}


def test_nothing_scrolls_sideways_and_download_is_in_reach(browser: Any, served: str, tmp_path: Path) -> None:
    """At 320, 390 and 1280 px the document is never wider than the window (WCAG 1.4.10), with Explore
    open too; Download is on screen before any scrolling at 1280x800 and 390x844, and still after
    scrolling half-way (the bar stays). Writes README's screenshots with GOSTARTER_SCREENSHOT=1."""
    shots = ROOT / "docs" if os.environ.get("GOSTARTER_SCREENSHOT") else tmp_path
    shots.mkdir(exist_ok=True)
    for width, height in WIDTHS.items():
        page = _open(browser, served + "/", width)
        download = page.locator('[data-action="download"]')
        assert _wide(page) <= 0, f"{width}px: {_wide(page)} px wider than the window"
        if (width, height) in {(1280, 800), (390, 844)}:
            assert download.is_visible() and download.is_enabled()
            box = download.bounding_box()
            assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height, (width, box)
            assert page.evaluate("window.scrollTo(0, 900), window.scrollY") > 0
            box = download.bounding_box()
            assert box is not None and box["y"] + box["height"] <= height, (width, "after scrolling", box)
            page.evaluate("window.scrollTo(0, 0)")
        for target in page.locator(".buttons button:visible, input[type=checkbox]").all():
            box = target.bounding_box()
            assert box is not None and min(box["width"], box["height"]) >= 24, (width, box)
        page.locator('[name="app_name"]').fill("payments")
        page.wait_for_selector("form[data-state=valid]")
        page.screenshot(path=str(shots / f"initializr-{width}.png"))
        _explore(page)
        assert _wide(page) <= 0, f"{width}px with Explore open: {_wide(page)} px wider than the window"
        viewer = page.locator("[data-viewer]").bounding_box()
        assert viewer is not None and viewer["width"] >= min(width - 48, 400), (width, viewer)
        page.context.close()


def test_with_javascript_off_a_refused_form_is_the_page_with_its_messages(browser: Any, served: str) -> None:
    """JavaScript disabled in Chromium: Download with a bad name answers the page itself (400), the
    message beside the field and the answers kept, with no violation; fixed, Download downloads."""
    page = _open(browser, served + "/", 1280, java_script_enabled=False)
    page.locator('[name="app_name"]').fill("Pay_ments")
    page.locator('[name="port"]').fill("9090")
    with page.expect_navigation() as navigation:
        page.locator('[data-action="download"]').click()
    assert navigation.value.status == 400
    assert "must be lowercase letters" in page.inner_text('[data-field="app_name"]')
    assert page.locator('[name="app_name"]').input_value() == "Pay_ments"
    assert page.locator('[name="port"]').input_value() == "9090"
    assert page.locator("[data-refused]").is_visible()
    page.locator('[name="app_name"]').fill("payments")
    with page.expect_download() as download:
        page.locator('[data-action="download"]').click()
    assert download.value.suggested_filename == "payments.zip"
    page.context.close()


def test_sections_show_copier_yml_labels_in_order(browser: Any, served: str) -> None:
    """Each field's accessible name is its copier.yml label, inside the group named by its section."""
    page = _open(browser, served + "/")
    for name, details in QUESTIONS.items():
        group = page.get_by_role("group", name=details["section"], exact=True)
        assert group.get_by_label(details["label"], exact=True).get_attribute("name") == name
    page.context.close()


# ---------------------------------------------------------------- Lighthouse (pytest -m lighthouse)


def _lighthouse(url: str, preset: str, out: Path) -> dict[str, float]:
    needs_file(LIGHTHOUSE, "Lighthouse")
    needs_file(NODE, "Node >= 22")
    argv = [str(NODE), str(LIGHTHOUSE), url, "--output=json", f"--output-path={out}", "--quiet"]
    argv += ["--only-categories=performance,accessibility,best-practices"]
    argv += ["--chrome-flags=--headless=new --no-sandbox --disable-gpu"]
    if preset == "desktop":
        argv.append("--preset=desktop")
    env = {**os.environ, "CHROME_PATH": str(CHROMIUM)}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    return {name: category["score"] * 100 for name, category in report["categories"].items()}


@pytest.mark.lighthouse
@pytest.mark.parametrize("preset", ["desktop", "mobile"])
def test_lighthouse_scores_at_least_98(served: str, preset: str, tmp_path: Path) -> None:
    scores = _lighthouse(served + "/", preset, tmp_path / "report.json")
    assert set(scores) == {"performance", "accessibility", "best-practices"}
    assert all(score >= 98 for score in scores.values()), scores
