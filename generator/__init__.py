"""gostarter: generate a containerised Go service and prove that it runs."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gostarter")
except PackageNotFoundError:  # running from a source checkout
    __version__ = "0.0.0+source"
