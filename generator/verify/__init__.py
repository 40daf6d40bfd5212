"""Post-generation verification: prove that the generated service builds and answers.

One implementation for the Copier task, `gostarter new`, `gostarter verify`
and the benchmark; this module declares what they may use.

docker mode (`docker.py`): build the image with the project's own Dockerfile
through BuildKit, as `make docker-build` does; run it with the service port
published on an ephemeral 127.0.0.1 port; poll GET / until it answers 200
"Hello, World!"; check /healthz, that the image's HEALTHCHECK reaches healthy,
that the process is not root, and that `docker stop` ends it with exit code 0
within two seconds. Whatever it started is removed on success, failure and Ctrl-C.

native mode (`native.py`): the same HTTP checks against the binary built with
the Go toolchain, for machines without a container engine.

The checks both share live in `checks.py`, the result and its printer in
`result.py`, and `orchestrate.py` runs the steps and fills the Result. An
engine error is a failed result too (`engine.py`), a container that does not
answer is described by `diagnosis.py`; the deadlines and the container's
resource limits come from `limits.py`; every container and image carries
labels naming its run, and `reaper.py` removes those of runs that died.
`preflight.py` looks the engine up ahead of time (while Copier renders).

Each name below is imported from its module on first use (PEP 562), so that
`from generator.verify import MODES` (the CLI's parser) costs nothing more.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

MODES = ("auto", "docker", "native", "none")
# What the command line's help names: here, so that building the parser imports nothing more.
MEMORY_ENV = "GOSTARTER_MEMORY_LIMIT"
BUILD_TIMEOUT_ENV = "GOSTARTER_BUILD_TIMEOUT"
DEFAULT_BUILD_TIMEOUT_SECONDS = 900.0

if TYPE_CHECKING:
    from generator.verify.checks import STOP_LIMIT_SECONDS, Build, CheckFailed, Run, wait_for_hello
    from generator.verify.diagnosis import container_exited
    from generator.verify.docker import (
        IMAGE_LABEL,
        LABEL,
        BuildCommand,
        build_image,
        docker_client,
        find_build_command,
        published_port,
        remove_image,
        timed_stop,
    )
    from generator.verify.limits import Limits, seconds
    from generator.verify.native import find_go
    from generator.verify.orchestrate import verify
    from generator.verify.preflight import Preflight
    from generator.verify.result import Result, print_result, summary, write_report
    from generator.verify.target import Target

__all__ = [
    "BUILD_TIMEOUT_ENV",
    "DEFAULT_BUILD_TIMEOUT_SECONDS",
    "IMAGE_LABEL",
    "LABEL",
    "MEMORY_ENV",
    "MODES",
    "STOP_LIMIT_SECONDS",
    "Build",
    "BuildCommand",
    "CheckFailed",
    "Limits",
    "Preflight",
    "Result",
    "Run",
    "Target",
    "build_image",
    "container_exited",
    "docker_client",
    "find_build_command",
    "find_go",
    "print_result",
    "published_port",
    "remove_image",
    "seconds",
    "summary",
    "timed_stop",
    "verify",
    "wait_for_hello",
    "write_report",
]

# Where each name of __all__ but the constants above lives; it is imported from there on first use.
_HOMES = {
    "checks": ("STOP_LIMIT_SECONDS", "Build", "CheckFailed", "Run", "wait_for_hello"),
    "diagnosis": ("container_exited",),
    "docker": (
        "IMAGE_LABEL",
        "LABEL",
        "BuildCommand",
        "build_image",
        "docker_client",
        "find_build_command",
        "published_port",
        "remove_image",
        "timed_stop",
    ),
    "limits": ("Limits", "seconds"),
    "native": ("find_go",),
    "orchestrate": ("verify",),
    "preflight": ("Preflight",),
    "result": ("Result", "print_result", "summary", "write_report"),
    "target": ("Target",),
}
_HOME = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> object:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
