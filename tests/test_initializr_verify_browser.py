"""Verify on the page, in a real browser: Debian's Chromium driven by Playwright against a real
`gostarter serve --verify docker` and the real engine (stand-in images through the preset)."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.browser import axe_violations
from tests.helpers.engine import app_name, until_nothing_left
from tests.helpers.repos import commit_all, copy_template
from tests.helpers.web import Served

pytestmark = pytest.mark.docker
PHASES = ["render", "build", "start", "first response", "healthy", "stop"]
TIMEOUT = 180_000  # milliseconds: a verification builds an image


def _open(chromium: Any, server: Served, app: str) -> Any:
    page = chromium.new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(f"{server.base}/?app_name={app}")
    page.wait_for_selector("form[data-ready=true]")
    page.wait_for_selector("form[data-state=valid]")
    return page


def test_verify_streams_the_phases_in_order_and_offers_the_report(
    chromium: Any, docker_client: Any, verifying_server: Callable[..., Served], tmp_path: Path
) -> None:
    """Good answers: the phases appear in order with their times, the result is passed with the
    figures, and the report downloads as TOML; nothing is left on the engine or the disk."""
    server, app = verifying_server(), app_name()
    page = _open(chromium, server, app)
    page.click('[data-action="verify"]')
    page.wait_for_selector("[data-verify][data-state=passed]")
    phases = page.locator("[data-verify-phases] li")
    assert [phases.nth(i).get_attribute("data-phase") for i in range(phases.count())] == PHASES
    assert all(text.endswith(" s") for text in page.locator("[data-elapsed]").all_inner_texts())
    assert "exporting to image" in (page.text_content("[data-verify-log]") or "")
    result = page.inner_text("[data-verify-result]")
    assert "verification passed" in result and "stopped with exit 0" in result
    assert result.count("built in") == 1, "the result says each figure once"
    assert axe_violations(page) == [], "the verification's stream, as it ends"
    with page.expect_download() as download:
        page.click("[data-verify-report]")
    saved = tmp_path / "report.toml"
    download.value.save_as(saved)
    report = tomllib.loads(saved.read_text())
    assert report["result"] == "passed" and report["project"] == app
    page.close()
    until_nothing_left(docker_client, app, server.temp, 0)


def test_a_fork_whose_main_go_does_not_compile_shows_the_compilers_line(
    chromium: Any, docker_client: Any, verifying_server: Callable[..., Served], tmp_path: Path
) -> None:
    """The compiler's `main.go:LINE:COL: message` appears on the page, with the log tail."""
    fork = copy_template(tmp_path / "fork")
    main_go = fork / "template" / "main.go.jinja"
    main_go.write_text(main_go.read_text() + "\nfunc broken() string { return undefinedThing }\n")
    commit_all(fork, "broken")
    server, app = verifying_server(template=fork), app_name()
    page = _open(chromium, server, app)
    page.click('[data-action="verify"]')
    page.wait_for_selector("[data-verify][data-state=failed]")
    result = page.inner_text("[data-verify-result]")
    assert "main.go:" in result and "undefined: undefinedThing" in result, result
    assert "undefinedThing" in page.inner_text("[data-verify-tail]")
    assert page.locator("[data-verify-report]").is_hidden()
    page.close()
    until_nothing_left(docker_client, app, server.temp, 0)


def test_closing_the_page_mid_build_leaves_nothing_within_5_s(
    chromium: Any, docker_client: Any, verifying_server: Callable[..., Served], slow_fork: Path
) -> None:
    """Closing the page while the (two-minute) build runs: no container, no image tag and no
    temporary directory are left 5 s later, and the server still serves."""
    server, app = verifying_server(template=slow_fork), app_name()
    page = _open(chromium, server, app)
    page.click('[data-action="verify"]')
    page.wait_for_selector('[data-verify-phases] li[data-phase="build"]')
    page.close()
    until_nothing_left(docker_client, app, server.temp, 5)
    assert server.process.poll() is None
