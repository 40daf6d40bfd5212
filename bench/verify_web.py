"""`python -m bench --web-verify`: verified before download, measured against the CLI in one run.

- a second project of the same answers shape, `gostarter new --verify docker` as a whole process
  against `POST /api/verify` to its passed result (median of paired runs): what the web adds;
- eight zip clients while one verification runs, against the same clients alone: p99 ratio;
- after N verifications, every third one cancelled mid-build by closing the stream: containers,
  run images and temporary entries left.
The server is started as a user would (`gostarter serve --verify docker`) with a preset naming the
builder and runtime images.
"""

from __future__ import annotations

import http.client
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import docker

from bench.served import serve, wait_served
from bench.targets import Targets
from bench.web import get_zip, left_in
from generator import verify

VERIFY_TARGETS: dict[str, tuple[str, str, float]] = {
    "web_over_cli_ratio": ("POST /api/verify to passed / gostarter new to passed, median", "<=", 1.3),
    "zip_p99_ratio": ("zip p99 during a verification / without", "<=", 2.0),
    "containers_left": ("containers left after the verifications", "<=", 0),
    "images_left": ("run images left after the verifications", "<=", 0),
    "temp_entries_left": ("temporary entries left after the verifications", "<=", 0),
}
_TARGETS = Targets(VERIFY_TARGETS, thousands=False)


@dataclass(frozen=True)
class VerifyFigures:
    cli_median_seconds: float
    web_median_seconds: float
    web_over_cli_ratio: float
    zip_p99_alone_seconds: float
    zip_p99_during_seconds: float
    zip_p99_ratio: float
    verifications: int
    cancelled: int
    passed: int
    containers_left: int
    images_left: int
    temp_entries_left: int

    def targets_met(self) -> dict[str, bool]:
        return _TARGETS.met(self)

    def as_dict(self) -> dict[str, Any]:
        return {"web_verify": asdict(self), "web_verify_targets_met": self.targets_met()}


def _cli(work: Path, app: str, images: dict[str, str]) -> float:
    argv = [sys.executable, "-m", "generator", "new", str(work / app), "--defaults", "--quiet",
            "--verify", "docker", "--rm-image", "--data", f"app_name={app}",
            "--data", f"builder_image={images['builder']}",
            "--data", f"runtime_image={images['runtime']}"]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"gostarter new failed: {done.stderr[-500:]}")
    return time.perf_counter() - started


def _verify(port: int, app: str, *, cancel_at_build: bool = False) -> tuple[float, str]:
    """POST /api/verify and read to the result (or close the stream once the build began)."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        conn.request("POST", "/api/verify", body=f'{{"app_name": "{app}"}}',
                     headers={"Content-Type": "application/json"})  # fmt: skip
        response = conn.getresponse()
        result = f"status {response.status}"
        for raw in response:
            line = raw.decode()
            if cancel_at_build and line.startswith("data:") and '"name": "build"' in line:
                return time.perf_counter() - started, "cancelled"
            if line.startswith("data:") and '"result": ' in line:
                result = line.split('"result": "', 1)[1].split('"', 1)[0]
        return time.perf_counter() - started, result
    finally:
        conn.close()


def _p99(base: str, clients: int, requests: int, tag: str) -> float:
    """p99 latency of `requests` zips of distinct answers (no cache hit) from `clients` clients."""
    answers = [{"app_name": f"{tag}{i}"} for i in range(requests)]
    with ThreadPoolExecutor(clients) as pool:
        times = sorted(seconds for seconds, _ in pool.map(lambda a: get_zip(base, a), answers))
    return times[min(len(times) - 1, int(len(times) * 0.99))]


def _start(work: Path, images: dict[str, str]) -> tuple[subprocess.Popen[str], str, Path]:
    """`gostarter serve --verify docker` with a preset naming `images`, once it is ready and its
    workers have rendered one zip."""
    preset = work / "preset.toml"
    preset.write_text(
        f'[defaults]\nbuilder_image = "{images["builder"]}"\nruntime_image = "{images["runtime"]}"\n'
    )
    temp = work / "tmp"
    server, base = serve(temp, "--verify", "docker", "--preset", str(preset), "--verify-queue", "8",
                         stdout=None, stderr=subprocess.DEVNULL)  # fmt: skip
    wait_served(base, server, seconds=120, path="/readyz")
    get_zip(base, {"app_name": "warm"})
    return server, base, temp


def run_verify(*, builder_image: str, runtime_image: str, repeat: int, verifications: int) -> VerifyFigures:
    images = {"builder": builder_image, "runtime": runtime_image}
    client = docker.from_env()
    prefix = f"bv{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory(prefix="gostarter-bench-verify-") as tmp:
        work = Path(tmp)
        server, base, temp = _start(work, images)
        port = int(urllib.parse.urlsplit(base).port or 0)
        try:
            _cli(work, f"{prefix}w0", images)  # caches warm for both: the second project is measured
            _verify(port, f"{prefix}w1")
            cli, web = [], []
            for i in range(repeat):
                cli.append(_cli(work, f"{prefix}c{i}", images))
                seconds, result = _verify(port, f"{prefix}v{i}")
                if result != "passed":
                    raise RuntimeError(f"the web verification {result}")
                web.append(seconds)
            alone = _p99(base, 8, 80, "alone")
            background = threading.Thread(target=_verify, args=(port, f"{prefix}bg"))
            background.start()
            time.sleep(0.5)
            during = _p99(base, 8, 80, "during")
            background.join()
            outcomes = [
                _verify(port, f"{prefix}n{i}", cancel_at_build=i % 3 == 0)[1] for i in range(verifications)
            ]
            time.sleep(5)  # cancelled ones: gone within 5 s
            containers = [c for c in client.containers.list(all=True, filters={"label": verify.LABEL})
                          if str(c.attrs["Config"]["Image"]).startswith(prefix)]  # fmt: skip
            run_images = [t for image in client.images.list() for t in image.tags if t.startswith(prefix)]
            left = left_in(temp)
        finally:
            server.terminate()
            server.wait(timeout=60)
        left += sum(1 for _ in temp.iterdir())
    return VerifyFigures(
        cli_median_seconds=statistics.median(cli),
        web_median_seconds=statistics.median(web),
        web_over_cli_ratio=statistics.median(w / c for w, c in zip(web, cli, strict=True)),
        zip_p99_alone_seconds=alone,
        zip_p99_during_seconds=during,
        zip_p99_ratio=during / alone,
        verifications=len(outcomes),
        cancelled=outcomes.count("cancelled"),
        passed=outcomes.count("passed"),
        containers_left=len(containers),
        images_left=len(run_images),
        temp_entries_left=left,
    )


def verify_table(figures: VerifyFigures) -> str:
    lines = [
        f"Second project of the same answers shape, median of paired runs: gostarter new "
        f"{figures.cli_median_seconds:.2f} s, POST /api/verify {figures.web_median_seconds:.2f} s; "
        f"zip p99 with 8 clients {figures.zip_p99_alone_seconds * 1000:.0f} ms alone, "
        f"{figures.zip_p99_during_seconds * 1000:.0f} ms during a verification; "
        f"{figures.verifications} verifications ({figures.passed} passed, {figures.cancelled} cancelled "
        "mid-build).",
        "",
        *_TARGETS.table(figures),
    ]
    return "\n".join(lines)
