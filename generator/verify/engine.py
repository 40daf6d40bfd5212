"""Engine errors are failed verifications: what the Docker SDK raises becomes a reason in one line.

A verification step that the engine fails (it went away, it refused, the container
or the image was removed from outside, the entrypoint does not exist) ends as a
CheckFailed naming the step and the cause, so it takes the path of every other
failure: the summary line, the report, the "project kept" hint, exit code 1.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from generator.verify.checks import CheckFailed

if TYPE_CHECKING:
    import docker

DEFAULT_HOST = "unix:///var/run/docker.sock"
_MISSING_FILE = re.compile(r'(?:stat|exec:?) "?([^":\s]+)"?: no such file or directory')
_NOT_EXECUTABLE = re.compile(r'exec:? "?([^":\s]+)"?: permission denied')
_NO_SUCH = re.compile(r"No such (container|image): (\S+)", re.IGNORECASE)


def address() -> str:
    """Where the SDK looks for the engine, said the way a person would set it."""
    host = os.environ.get("DOCKER_HOST", "")
    return f"DOCKER_HOST={host}" if host else f"{DEFAULT_HOST} (DOCKER_HOST is not set)"


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:200]


def _root_cause(err: BaseException) -> str:
    """The system's own words under the transport's wrappers ("Connection refused"), else the first line."""
    pending: list[BaseException] = [err]
    seen: set[int] = set()
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return current.strerror
        inner = [*current.args, getattr(current, "reason", None), current.__cause__, current.__context__]
        pending += [item for item in inner if isinstance(item, BaseException)]
    return _first_line(err)


def _api_cause(err: docker.errors.APIError) -> str:
    explanation = str(err.explanation or err)
    no_such = _NO_SUCH.search(explanation)
    if err.status_code == 404 and no_such:
        kind, name = no_such.groups()
        return f"the {kind.lower()} {name} was removed from outside"
    missing = _MISSING_FILE.search(explanation)
    if missing:
        return f"{missing.group(1)} does not exist in the image (the ENTRYPOINT or CMD names a missing file)"
    denied = _NOT_EXECUTABLE.search(explanation)
    if denied:
        return f"{denied.group(1)} in the image is not executable (the ENTRYPOINT or CMD)"
    if "is paused" in explanation:
        return "the container was paused from outside"
    return f"the engine answered {err.status_code}: {explanation.splitlines()[0][:200]}"


def cause(err: Exception) -> str:
    """What an engine error means, in words: the engine went away, something was removed, ..."""
    import docker
    import requests  # the SDK's transport

    if isinstance(err, docker.errors.APIError):
        return _api_cause(err)
    if isinstance(err, requests.exceptions.Timeout):
        return f"the Docker engine at {address()} stopped answering ({type(err).__name__})"
    if isinstance(err, requests.exceptions.ConnectionError):
        return f"the Docker engine at {address()} went away ({_root_cause(err)})"
    return _first_line(err)


def gone(client: docker.DockerClient, timeout: float = 5.0) -> bool:
    """Whether the engine no longer answers (asked with a short deadline)."""
    saved, client.api.timeout = client.api.timeout, timeout
    try:
        client.ping()
    except Exception:  # noqa: BLE001 - whatever the transport raises, the engine is not there
        return True
    finally:
        client.api.timeout = saved
    return False


ENGINE_ERRORS: tuple[type[Exception], ...] = (OSError,)  # requests' errors are OSErrors


def _errors() -> tuple[type[Exception], ...]:
    import docker

    return (docker.errors.DockerException, *ENGINE_ERRORS)


@contextlib.contextmanager
def step(name: str | Callable[[], str], client: docker.DockerClient | None = None) -> Iterator[None]:
    """Inside, an engine error becomes CheckFailed("NAME failed: CAUSE"). With `client`, a
    CheckFailed raised inside (a build that exited 1) names the engine when it went away."""
    try:
        yield
    except CheckFailed as failure:
        if client is not None and gone(client):
            described = name() if callable(name) else name
            raise CheckFailed(
                f"{described} failed: the Docker engine at {address()} went away; {failure.reason}",
                failure.detail,
            ) from None
        raise
    except _errors() as err:
        described = name() if callable(name) else name
        raise CheckFailed(f"{described} failed: {cause(err)}") from None


def quietly(action: Callable[[], object]) -> bool:
    """Run a clean-up `action`; an engine error is swallowed (the reaper removes what is left
    once the engine is back). Whether it succeeded."""
    try:
        action()
    except _errors():
        return False
    return True
