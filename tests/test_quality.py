"""The project's own code stays lint-clean, formatted and strictly typed."""

from __future__ import annotations

import sys

from tests.helpers.checkout import ROOT
from tests.helpers.running import run

SOURCES = ["generator", "tests", "hooks", "bench", "migrations"]


def test_ruff_lint_and_format() -> None:
    lint = run([sys.executable, "-m", "ruff", "check", *SOURCES], ROOT)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = run([sys.executable, "-m", "ruff", "format", "--check", *SOURCES], ROOT)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_mypy_strict() -> None:
    done = run([sys.executable, "-m", "mypy"], ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
