"""gostarter: generate a containerised Go service and prove that it runs."""


def __getattr__(name: str) -> str:
    """`__version__`, read from the installed metadata only when asked: importing the package stays
    instant, so that `gostarter` handles Ctrl-C from its first milliseconds (see __main__.py)."""
    if name != "__version__":
        raise AttributeError(f"module 'generator' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gostarter")
    except PackageNotFoundError:  # running from a source checkout
        return "0.0.0+source"
