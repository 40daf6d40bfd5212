"""The checks both modes share: the HTTP smoke sequence, the stop verdict, build-log reading."""

from __future__ import annotations

import http.client
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

HELLO = "Hello, World!"
STOP_LIMIT_SECONDS = 2.0
RESPONSE_DEADLINE_SECONDS = 30.0
HEALTHY_DEADLINE_SECONDS = 30.0
POLL_CAP_SECONDS = 0.05  # the longest wait between two tries of GET /
_GO_ERROR = re.compile(r"\S+\.go:\d+(:\d+)?: .+")
_BASE_IMAGE_STEP = re.compile(r"^#(\d+) \[internal\] load metadata for (\S+)$")
_STEP_ERROR = re.compile(r"^#(\d+) ERROR: (.+)$")
_BUILD_NOISE = re.compile(r"^#\d+ (sha256:|DONE |CACHED$|\.\.\.$)|^\s*$")

# Tells whether the service under test has exited; returns why, or None while it runs.
ExitProbe = Callable[[], str | None]
# What is known about a running service that never answered, and its last output.
Diagnosis = Callable[[], tuple[str, str]]


class CheckFailed(Exception):
    """A verification step failed: `reason` is one line, `detail` a log excerpt."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail

    @classmethod
    def of(cls, problem: str) -> CheckFailed:
        """A failure from a probe's text: its first line is the reason, the rest the detail."""
        reason, _, detail = problem.partition("\n")
        return cls(reason, detail)


@dataclass(frozen=True)
class Build:
    """What building the image or the binary measured."""

    seconds: float
    command: tuple[str, ...]
    size_bytes: int = 0


@dataclass(frozen=True)
class Run:
    """What running the service measured, from start to stop."""

    first_response_seconds: float
    healthy_seconds: float
    health: str  # how health was proven, for the report's checks
    user: str  # uids of the service's processes, comma-separated
    in_container: bool  # a container must not run as root; a native run is whoever ran it
    stop: str  # "docker stop" or "SIGTERM"
    stop_seconds: float
    stop_exit_code: int


def judge(run: Run) -> list[str]:
    """The verdict on a run's figures: the checks it passed, or CheckFailed naming the first miss."""
    checks = [
        f"GET / answered 200 {HELLO!r} {run.first_response_seconds:.3f} s after start",
        "GET /healthz answered 200",
        run.health,
    ]
    if run.in_container:
        if any(uid in {"0", "root"} for uid in run.user.split(",")):
            raise CheckFailed("the service runs as root (uid 0); the image must set a non-root USER")
        checks.append(f"runs as uid {run.user}, not root")
    if run.stop_exit_code != 0:
        raise CheckFailed(f"{run.stop} ended the service with exit code {run.stop_exit_code}, expected 0")
    if run.stop_seconds > STOP_LIMIT_SECONDS:
        raise CheckFailed(
            f"{run.stop} took {run.stop_seconds:.1f} s, more than {STOP_LIMIT_SECONDS:.0f} s: "
            "the service does not shut down on SIGTERM"
        )
    checks.append(f"{run.stop}: exit 0 in {run.stop_seconds:.2f} s")
    return checks


# ---------------------------------------------------------------- HTTP


def _http_get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read(4096).decode("utf-8", "replace")
    finally:
        conn.close()


def wait_for_hello(
    port: int,
    started: float,
    exited: ExitProbe,
    known: Diagnosis | None = None,
    *,
    deadline: float = RESPONSE_DEADLINE_SECONDS,
) -> float:
    """Poll GET / with a short bounded backoff; returns seconds from `started` to the first 200.

    The delay between tries grows from 5 ms to at most POLL_CAP_SECONDS, so the
    first answer is seen within that much of the moment the service can give it.
    Past `deadline` seconds (longer for an emulated platform), the failure says what `known`
    finds (where it listens, its output).
    """
    delay, last = 0.005, "no answer"
    while True:
        try:
            status, body = _http_get(port, "/")
        except (OSError, http.client.HTTPException) as err:
            last = type(err).__name__
        else:
            if status == 200 and body == HELLO:
                return time.monotonic() - started
            if status == 200:
                raise CheckFailed(f"GET / answered 200 with {body[:60]!r} instead of {HELLO!r}")
            last = f"status {status}"
        problem = exited()
        if problem:
            raise CheckFailed.of(problem)
        if time.monotonic() - started > deadline:
            what, output = known() if known else ("", "")
            raise CheckFailed(
                f"GET / did not answer 200 {HELLO!r} within {deadline:.0f} s (last: {last})"
                + (f": {what}" if what else ""),
                f"its last output:\n{output}" if output else "",
            )
        time.sleep(delay)
        delay = min(delay * 1.6, POLL_CAP_SECONDS)


def smoke_http(
    port: int,
    started: float,
    exited: ExitProbe,
    known: Diagnosis | None = None,
    *,
    deadline: float = RESPONSE_DEADLINE_SECONDS,
) -> float:
    """GET / until it answers Hello, World!, then GET /healthz; returns the first response time."""
    first = wait_for_hello(port, started, exited, known, deadline=deadline)
    check_healthz(port)
    return first


def check_healthz(port: int) -> None:
    """GET /healthz answers 200 (within the HTTP timeout), else CheckFailed."""
    try:
        status, body = _http_get(port, "/healthz")
    except (OSError, http.client.HTTPException) as err:
        raise CheckFailed(f"GET /healthz failed: {err}") from None
    if status != 200:
        raise CheckFailed(f"GET /healthz answered {status} {body[:60]!r}, expected 200")


# ---------------------------------------------------------------- logs


def tail(lines: Iterable[str], count: int = 25) -> str:
    """The last lines of a build log that say something."""
    kept = [line for line in lines if not _BUILD_NOISE.search(line)]
    return "\n".join(kept[-count:])


def unfetchable_base_image(log: Iterable[str], platform: str | None = None) -> str:
    """A one-line reason when the build failed because a base image could not be fetched, or
    has no variant for the `platform` built for."""
    images: dict[str, str] = {}
    for line in log:
        step = _BASE_IMAGE_STEP.match(line)
        if step:
            images[step.group(1)] = step.group(2)
            continue
        error = _STEP_ERROR.match(line)
        if error and error.group(1) in images:
            cause = error.group(2).rsplit(": ", 1)[-1]
            if "no match for platform" in error.group(2):
                return (
                    f"the base image {images[error.group(1)]} has no {platform or 'matching'} variant "
                    "(its registry lists other platforms only); point builder_image / runtime_image "
                    "at a multi-platform image, or verify without that platform"
                )
            return (
                f"the base image {images[error.group(1)]} could not be fetched ({cause}); "
                "point builder_image / runtime_image at an image this engine has or a reachable "
                "mirror (gostarter new --data builder_image=..., or edit the Dockerfile's FROM lines)"
            )
    return ""


def failed_step_output(log: Iterable[str]) -> str:
    """The last line the failed build step printed (`#11 0.623 app: build constraints exclude all
    Go files in /src`), without BuildKit's step number and time; "" when none failed or printed."""
    lines = list(log)
    failed = next((m.group(1) for m in map(_STEP_ERROR.match, lines) if m), None)
    if failed is None:
        return ""
    printed = re.compile(rf"^#{failed} \d+\.\d+ (.+)$")
    outputs = [m.group(1).strip() for m in map(printed.match, lines) if m]
    return outputs[-1] if outputs else ""


def first_go_error(text: str) -> str:
    """The compiler's first `file.go:L:C: message` line, if any."""
    for line in text.splitlines():
        match = _GO_ERROR.search(line)
        if match:
            return match.group(0).strip()
    return ""
