"""gostarter: generate a containerised Go service and prove that it runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    __version__: str


def __getattr__(name: str) -> str:
    # `__version__` is looked up on first use: importlib.metadata alone costs more
    # than everything `gostarter --help` needs.
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("gostarter")
    except PackageNotFoundError:  # running from a source checkout
        found = "0.0.0+source"
    globals()["__version__"] = found
    return found
