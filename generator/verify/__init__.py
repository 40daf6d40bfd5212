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
`preflight.py` finds the engine and a BuildKit client, ahead of time when it
can (while Copier renders); the modes are `modes.py`'s, and the progress is
reported to a `generator.reporting.Reporter` (the terminal's or the web's).

What others may call: the names of `modes.py` (imported at once, cheaply: the
CLI's parser uses them), and each name imported below under TYPE_CHECKING,
written there only: at run time each is imported from the module named there
on first use (PEP 562; the block is read from this file then), so that
`from generator.verify import MODES` costs nothing more.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING

# The modes and the names the command line's help uses, at once: building the parser imports nothing more.
from generator.verify import modes
from generator.verify.modes import *  # noqa: F403

if TYPE_CHECKING:  # the names others may call, each from its home (read at run time by _homes)
    from generator.verify.checks import STOP_LIMIT_SECONDS as STOP_LIMIT_SECONDS
    from generator.verify.checks import Build as Build
    from generator.verify.checks import CheckFailed as CheckFailed
    from generator.verify.checks import Run as Run
    from generator.verify.checks import wait_for_hello as wait_for_hello
    from generator.verify.diagnosis import container_exited as container_exited
    from generator.verify.docker import IMAGE_LABEL as IMAGE_LABEL
    from generator.verify.docker import LABEL as LABEL
    from generator.verify.docker import build_image as build_image
    from generator.verify.docker import published_port as published_port
    from generator.verify.docker import remove_image as remove_image
    from generator.verify.docker import timed_stop as timed_stop
    from generator.verify.limits import Limits as Limits
    from generator.verify.limits import seconds as seconds
    from generator.verify.native import find_go as find_go
    from generator.verify.orchestrate import verify as verify
    from generator.verify.preflight import BuildCommand as BuildCommand
    from generator.verify.preflight import Preflight as Preflight
    from generator.verify.preflight import docker_client as docker_client
    from generator.verify.preflight import find_build_command as find_build_command
    from generator.verify.result import Result as Result
    from generator.verify.result import print_result as print_result
    from generator.verify.result import summary as summary
    from generator.verify.result import write_report as write_report
    from generator.verify.target import Target as Target


@cache
def _homes() -> dict[str, str]:
    """Each name of the TYPE_CHECKING block above and the module it is imported from."""
    import ast  # on first use only: the parser's import of MODES needs none of this
    from pathlib import Path

    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    block = next(
        node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    )
    return {
        alias.name: node.module
        for node in block.body
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }


def __getattr__(name: str) -> object:
    if name == "__all__":
        return [*modes.__all__, *_homes()]
    module = _homes().get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
