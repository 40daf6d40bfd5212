"""`python -m bench --platforms`: what a second, emulated platform costs.

Two ratios from one run, each the median of paired runs after one warm-up of each (so that both
sides find BuildKit's caches as a second service does):
- the arm64 (emulated) verification of a generated service over its native one: `gostarter
  verify --platform linux/arm64` against `--platform linux/amd64` of the same project, whole
  processes (target: under 4x; the build cross-compiles on the host, only the service runs
  emulated);
- `gostarter new --platform linux/amd64,linux/arm64` over `gostarter new` (the engine's own
  platform only), whole processes to a passed verification (target: at most 2x);
and the one-platform path they build on: `gostarter new` over the same work done by hand
(`copier copy` as a process, `docker build`, `docker run -d`, GET / until the first 200,
`docker stop`; target: at most 0.9).

The runtime image must have both platforms (a registry's manifest list: Docker Hub's distroless
has; the test suite's stand-in is `python -m tests.standin --platforms`), and the engine must
run arm64 (README, "Every platform").
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.run import timed
from generator.errors import GostarterError

BOTH = "linux/amd64,linux/arm64"
EMULATED_LIMIT = 4.0
TWO_PLATFORM_LIMIT = 2.0
BY_HAND_LIMIT = 0.9


@dataclass(frozen=True)
class PlatformFigures:
    native_verify_seconds: float
    emulated_verify_seconds: float
    emulated_over_native: float
    one_platform_new_seconds: float
    two_platform_new_seconds: float
    two_over_one: float
    by_hand_seconds: float
    new_over_by_hand: float
    repeat: int

    def targets_met(self) -> dict[str, bool]:
        emulated = f"arm64 (emulated) verification under {EMULATED_LIMIT:g}x the native one"
        two = f"two-platform new at most {TWO_PLATFORM_LIMIT:g}x the one-platform one"
        hand = f"one-platform new at most {BY_HAND_LIMIT:g}x the same work by hand"
        return {
            emulated: self.emulated_over_native < EMULATED_LIMIT,
            two: self.two_over_one <= TWO_PLATFORM_LIMIT,
            hand: self.new_over_by_hand <= BY_HAND_LIMIT,
        }

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "targets": self.targets_met()}


def _gostarter(*args: str) -> list[str]:
    return [sys.executable, "-m", "generator", *args]


def _new(dest: Path, name: str, answers: dict[str, str], platforms: str | None) -> float:
    argv = _gostarter("new", str(dest), "--defaults", "--verify", "docker", "--quiet", "--rm-image")
    argv += ["--data", f"app_name={name}"]
    for key, value in answers.items():
        argv += ["--data", f"{key}={value}"]
    if platforms:
        argv += ["--platform", platforms]
    return timed(argv, f"gostarter new {name}")


def _verify(project: Path, platform: str) -> float:
    argv = _gostarter(
        "verify", str(project), "--verify", "docker", "--quiet", "--rm-image", "--platform", platform
    )
    return timed(argv, f"gostarter verify --platform {platform}")


def _by_hand(dest: Path, name: str, answers: dict[str, str]) -> float:
    """What a person would type to get the same far: copier copy, docker build, docker run -d, curl
    until 200, docker stop. Timed as a whole; the container and image are removed afterwards."""
    from generator.render import Template
    from generator.verify import find_build_command

    template = Template.resolve(None)
    build = find_build_command()
    docker_cli = build.client
    data = [
        arg for key, value in {**answers, "app_name": name}.items() for arg in ("--data", f"{key}={value}")
    ]
    ref = ["--vcs-ref", template.vcs_ref] if template.vcs_ref else []
    image = f"{name}:hand"
    started = time.perf_counter()
    copier = [sys.executable, "-m", "copier", "copy", "--defaults", "--quiet", "--skip-tasks", "--trust"]
    timed([*copier, *ref, *data, template.src, str(dest)], "copier copy")
    env = {**os.environ, **dict(build.env)}
    built = subprocess.run(
        [*build.argv, "-q", "-t", image, str(dest)], capture_output=True, env=env, check=False
    )
    if built.returncode != 0:
        raise GostarterError(f"docker build by hand failed: {built.stderr.decode()[-500:]}")
    ran = subprocess.run(
        [docker_cli, "run", "-d", "-p", "127.0.0.1::8080", image], capture_output=True, text=True, check=False
    )
    cid = ran.stdout.strip()
    try:
        port = (
            subprocess.run([docker_cli, "port", cid, "8080/tcp"], capture_output=True, text=True, check=True)
            .stdout.splitlines()[0]
            .rsplit(":", 1)[1]
        )
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if time.perf_counter() - started > 120:
                    raise GostarterError("the container built by hand never answered") from None
                time.sleep(0.05)
        subprocess.run([docker_cli, "stop", cid], capture_output=True, check=True)
        return time.perf_counter() - started
    finally:
        subprocess.run([docker_cli, "rm", "-f", cid], capture_output=True, check=False)
        subprocess.run([docker_cli, "rmi", "-f", image], capture_output=True, check=False)


def run_platforms(*, builder_image: str, runtime_image: str, repeat: int) -> PlatformFigures:
    """Time both ratios; each pair's sides alternate which goes first."""
    answers = {"builder_image": builder_image, "runtime_image": runtime_image}
    with tempfile.TemporaryDirectory(prefix="gostarter-bench-platforms-") as tmp:
        work = Path(tmp)
        # One service to verify on each platform; the first new of each kind warms the caches.
        project = work / "verified"
        _new(project, "benchplat", answers, BOTH)
        _new(work / "warm-one", "benchwarm1", answers, None)
        native, emulated = [], []
        for _ in range(repeat):
            native.append(_verify(project, "linux/amd64"))
            emulated.append(_verify(project, "linux/arm64"))
        one, two, hand = [], [], []
        _by_hand(work / "warm-hand", "benchwarmhand", answers)
        for index in range(repeat):
            hand.append(_by_hand(work / f"hand-{index}", f"benchhand{index}", answers))
            one.append(_new(work / f"one-{index}", f"benchone{index}", answers, None))
            two.append(_new(work / f"two-{index}", f"benchtwo{index}", answers, BOTH))
    return PlatformFigures(
        native_verify_seconds=statistics.median(native),
        emulated_verify_seconds=statistics.median(emulated),
        emulated_over_native=statistics.median(e / n for e, n in zip(emulated, native, strict=True)),
        one_platform_new_seconds=statistics.median(one),
        two_platform_new_seconds=statistics.median(two),
        two_over_one=statistics.median(t / o for t, o in zip(two, one, strict=True)),
        by_hand_seconds=statistics.median(hand),
        new_over_by_hand=statistics.median(o / h for o, h in zip(one, hand, strict=True)),
        repeat=repeat,
    )


def platforms_table(figures: PlatformFigures) -> str:
    met = figures.targets_met()
    lines = [
        "| | seconds (median) | ratio | target |",
        "|---|---|---|---|",
        f"| gostarter verify --platform linux/amd64 (native) | {figures.native_verify_seconds:.2f} | | |",
        f"| gostarter verify --platform linux/arm64 (emulated) | {figures.emulated_verify_seconds:.2f} "
        f"| {figures.emulated_over_native:.2f}x | < {EMULATED_LIMIT:g}x |",
        f"| gostarter new (one platform) | {figures.one_platform_new_seconds:.2f} | | |",
        f"| gostarter new --platform {BOTH} | {figures.two_platform_new_seconds:.2f} "
        f"| {figures.two_over_one:.2f}x | <= {TWO_PLATFORM_LIMIT:g}x |",
        f"| by hand: copier copy, docker build, run, GET /, stop | {figures.by_hand_seconds:.2f} "
        f"| new / hand {figures.new_over_by_hand:.2f}x | <= {BY_HAND_LIMIT:g}x |",
    ]
    lines += [f"\n{'met' if ok else 'MISSED'}: {name}" for name, ok in met.items()]
    return "\n".join(lines)
