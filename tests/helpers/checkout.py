"""Where the checkout is, and what CI=true promises."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def needs_file(path: Path, what: str) -> None:
    """Skip without `path` on a developer machine; fail under CI=true, where .ci/run provides it."""
    import pytest

    if not path.is_file():
        message = f"needs {what} at {path} (.ci/run installs it)"
        if IN_CI:
            pytest.fail(f"{message}; CI=true")
        pytest.skip(message)
