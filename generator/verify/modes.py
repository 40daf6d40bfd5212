"""The verification's modes and the settings the command line names: cheap to import (the parser's)."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "BUILD_TIMEOUT_ENV", "DEFAULT_BUILD_TIMEOUT_SECONDS", "ENGINE_MODES", "MEMORY_ENV", "MODES",
    "SERVED_MODES", "Mode",
]  # fmt: skip


class Mode(StrEnum):
    """How a project is verified: `auto` prefers docker, then native, then skips."""

    AUTO = "auto"
    DOCKER = "docker"
    NATIVE = "native"
    NONE = "none"


MODES = tuple(mode.value for mode in Mode)  # the command line's choices, in this order
ENGINE_MODES = frozenset({Mode.AUTO, Mode.DOCKER})  # those that look for a Docker engine
SERVED_MODES = (Mode.DOCKER.value, Mode.NONE.value)  # what `gostarter serve --verify` offers
MEMORY_ENV = "GOSTARTER_MEMORY_LIMIT"
BUILD_TIMEOUT_ENV = "GOSTARTER_BUILD_TIMEOUT"
DEFAULT_BUILD_TIMEOUT_SECONDS = 900.0
