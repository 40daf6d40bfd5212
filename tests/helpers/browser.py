"""Chromium as the browser tests drive it, and axe-core's audit of a page."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests.helpers.checkout import needs_file

CHROMIUM = Path("/usr/bin/chromium")


# What Chromium needs on these machines (no sandbox for root, no GPU, nothing fetched on its own).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# axe-core and Lighthouse from npm (.ci/run installs them outside the clone).
WEB_AUDIT = Path(os.environ.get("GOSTARTER_WEB_AUDIT", Path.home() / ".cache/gostarter-ci/web-audit"))


def axe_violations(page: Any) -> list[str]:
    """axe-core's violations on a Playwright page as it is now, one line each (rule, impact, targets).
    The script is evaluated through the DevTools protocol: the page's CSP refuses inline scripts."""
    axe = WEB_AUDIT / "node_modules/axe-core/axe.min.js"
    needs_file(axe, "axe-core")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe.read_text())
    result = page.evaluate(
        "async () => (await axe.run(document, {rules: {'target-size': {enabled: true}}})).violations"
        ".map(v => `${v.id} (${v.impact}): ${v.nodes.map(n => n.target.join(' ')).join(', ')}`)"
    )
    return list(result)
