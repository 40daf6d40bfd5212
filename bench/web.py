"""`python -m bench --web`: the web initializr as a user starts it (`gostarter serve`), measured
from clients on loopback with bounded request counts; no container engine involved.

The baseline is rendering the same answers in this process from the same plain tree the server
renders from, so the ratio is what serving adds (HTTP, the worker hop, packing the archive).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.served import serve, wait_served
from bench.targets import Targets
from generator import children
from generator.render import Answers, render
from generator.template import Template
from generator.web.prepare import prepare

# figure: (what it is, operator, limit)
WEB_TARGETS: dict[str, tuple[str, str, float]] = {
    "zip_over_render_ratio": ("zip median latency / in-process render median", "<=", 1.3),
    "cached_median_seconds": ("cached repeat, median", "<=", 0.020),
    "concurrent_speedup": ("8 clients' throughput / 1 client's", ">=", 1.5),
    "errors": ("errors over the run", "<=", 0),
    "memory_growth_mb": ("server memory growth after the requests (MB)", "<=", 50),
    "temp_entries_left": ("entries left in its temporary directory", "<=", 0),
}
_TARGETS = Targets(WEB_TARGETS, thousands=False)


@dataclass(frozen=True)
class WebFigures:
    render_median_seconds: float
    zip_median_seconds: float
    zip_over_render_ratio: float
    cached_median_seconds: float
    one_client_per_second: float
    concurrent_per_second: float
    concurrent_speedup: float
    concurrent_p99_seconds: float
    concurrent_cores_used: float  # CPU seconds of the server and its workers per second, under load
    load_average: float  # the machine's 1-minute load average at the end (other work competes)
    clients: int
    requests: int
    errors: int
    memory_growth_mb: float
    temp_entries_left: int

    def targets_met(self) -> dict[str, bool]:
        return _TARGETS.met(self)

    def as_dict(self) -> dict[str, Any]:
        return {"web": asdict(self), "web_targets_met": self.targets_met()}


def _answers(i: int) -> dict[str, str]:
    return {"app_name": f"svc{i}", "port": str(8000 + i % 1000)}


def _render_baseline(repeat: int, work: Path) -> float:
    """Median in-process render of the same answers, from a plain tree as the server renders."""
    prepared = prepare(Template.resolve(), work / "baseline")
    template, times = Template(str(prepared.tree)), []
    for i in range(repeat):
        started = time.perf_counter()
        render(template, work / "renders" / f"r{i}", answers=Answers(data=_answers(10_000 + i)))
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def get_zip(base: str, answers: dict[str, str]) -> tuple[float, bool]:
    """One zip download: seconds taken, and whether it was a zip."""
    started = time.perf_counter()
    try:
        url = f"{base}/starter.zip?{urllib.parse.urlencode(answers)}"
        with urllib.request.urlopen(url, timeout=120) as response:
            ok = response.status == 200 and response.read()[:2] == b"PK"
    except OSError:
        ok = False
    return time.perf_counter() - started, ok


def _tree(pid: int) -> list[int]:
    """A process and every process below it (the server, its fork server and worker processes)."""
    return [pid, *children.descendants(pid)]


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the server and its workers have used so far."""
    ticks = 0
    for one in _tree(pid):
        fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += sum(int(value) for value in fields[11:15])  # utime, stime, and of waited-for children
    return ticks / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    """Resident memory of the server and its worker processes, in MB."""
    total = 0
    for one in _tree(pid):
        for line in Path(f"/proc/{one}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def _start(work: Path) -> tuple[subprocess.Popen[str], str, Path]:
    temp = work / "tmp"
    server, base = serve(temp, stdout=None, stderr=subprocess.DEVNULL)
    wait_served(base, server)
    return server, base, temp


def left_in(temp: Path) -> int:
    """Entries in the server's temporary directory besides its prepared template tree and its
    workers' directory (whose own entries count: a render's directories left behind)."""
    left = 0
    for served in temp.glob("gostarter-serve-*"):
        for entry in served.iterdir():
            left += len(list(entry.iterdir())) if entry.name.startswith("workers-") else entry.name != "tree"
    return left


def run_web(*, repeat: int, requests: int, clients: int, work: Path) -> WebFigures:
    render_median = _render_baseline(repeat, work)
    server, base, temp = _start(work)
    counter = iter(range(1_000_000))
    try:
        get_zip(base, _answers(next(counter)))  # first request: workers warm
        zips = [get_zip(base, _answers(next(counter))) for _ in range(repeat)]
        cached = [get_zip(base, _answers(0)) for _ in range(max(repeat, 10))]
        batch = max(clients * 3, 24)
        started = time.perf_counter()
        single = [get_zip(base, _answers(next(counter))) for _ in range(batch)]
        one_rate = batch / (time.perf_counter() - started)
        before = _rss_mb(server.pid)
        with ThreadPoolExecutor(clients) as pool:
            started, cpu = time.perf_counter(), _cpu_seconds(server.pid)
            loaded = list(
                pool.map(lambda i: get_zip(base, _answers(i)), [next(counter) for _ in range(batch)])
            )
            wall = time.perf_counter() - started
            many_rate, cores = batch / wall, (_cpu_seconds(server.pid) - cpu) / wall
            rest = list(pool.map(lambda i: get_zip(base, _answers(i % 250)), range(requests - batch)))
        growth = _rss_mb(server.pid) - before
        left = left_in(temp)
    finally:
        server.terminate()
        server.wait(timeout=30)
    left += sum(1 for _ in temp.iterdir())  # after shutdown: nothing at all
    every = zips + cached + single + loaded + rest
    latencies = sorted(seconds for seconds, _ in loaded + rest)
    zip_median = statistics.median(seconds for seconds, _ in zips)
    return WebFigures(
        render_median_seconds=render_median,
        zip_median_seconds=zip_median,
        zip_over_render_ratio=zip_median / render_median,
        cached_median_seconds=statistics.median(seconds for seconds, _ in cached),
        one_client_per_second=one_rate,
        concurrent_per_second=many_rate,
        concurrent_speedup=many_rate / one_rate,
        concurrent_p99_seconds=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        concurrent_cores_used=cores,
        load_average=os.getloadavg()[0],
        clients=clients,
        requests=len(every),
        errors=sum(1 for _, ok in every if not ok),
        memory_growth_mb=growth,
        temp_entries_left=left,
    )


def web_table(figures: WebFigures) -> str:
    lines = [
        f"In-process render (median of the baseline): {figures.render_median_seconds * 1000:.0f} ms; "
        f"zip over HTTP: {figures.zip_median_seconds * 1000:.0f} ms median; "
        f"{figures.clients} clients: {figures.concurrent_per_second:.1f} zips/s "
        f"(1 client: {figures.one_client_per_second:.1f}/s), "
        f"p99 {figures.concurrent_p99_seconds * 1000:.0f} ms, "
        f"server and workers using {figures.concurrent_cores_used:.2f} cores; "
        f"{figures.requests} requests; machine load average {figures.load_average:.1f} "
        f"on {os.cpu_count()} cores.",
        "",
        *_TARGETS.table(figures),
    ]
    return "\n".join(lines)


def main_web(*, repeat: int, requests: int, clients: int) -> WebFigures:
    work = Path(tempfile.mkdtemp(prefix="gostarter-bench-web-"))
    try:
        return run_web(repeat=repeat, requests=requests, clients=clients, work=work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
