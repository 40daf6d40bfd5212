"""The benchmark: the generated build against the tutorial's Dockerfile, side by side in one run.

Both projects are built with the same builder image, the same runtime image
and the same BuildKit client, each from an empty BuildKit cache, then again
after the same one-line change to main.go. Times on shared machines drift, so
the headline figures are ratios measured in the same run.

It empties the engine's BuildKit cache (docker builder prune) before each cold
build: that is what "cold" means, and it is why this is not a test.
"""

from __future__ import annotations

import io
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import copier
import tomli_w

from generator import verify
from generator.console import Progress
from generator.render import Template

# The tutorial's project, verbatim but for the two image names (../shared/seed/).
TUTORIAL_MAIN = """package main

import (
    "fmt"
    "net/http"
)

func main() {
    http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
        fmt.Fprintf(w, "Hello, World!")
    })
    http.ListenAndServe(":8080", nil)
}
"""
TUTORIAL_GO_MOD = "module myapp\n\ngo 1.16\n"
TUTORIAL_DOCKERFILE = """# Stage 1: Build the application
FROM {builder} as builder

# Set the working directory inside the container
WORKDIR /app

# Copy the Go modules files
COPY go.mod .

# Download all dependencies. Dependencies will be cached if the go.mod and go.sum files are not changed
RUN go mod download

# Copy the source code into the container
COPY . .

# Build the application
RUN go build -o myapp

# Stage 2: Create the final runtime image
FROM {runtime}

# Copy the compiled binary from the builder stage
COPY --from=builder /app/myapp /

# Expose port 8080
EXPOSE 8080

# Command to run the application
CMD ["/myapp"]
"""
ONE_LINE_CHANGE = '\nvar benchmarkEdit = "rebuild"\n'

TARGETS = {
    "rebuild_ratio": ("rebuild(generated) / rebuild(tutorial)", "<=", 0.10),
    "image_over_binary_bytes": ("generated image minus its binary", "<=", 2_500_000),
    "first_response_seconds": ("container start to first 200 (generated)", "<", 1.0),
    "stop_seconds": ("docker stop (generated), exit 0", "<", 2.0),
    "render_median_seconds": ("render, median", "<", 1.0),
    "new_warm_seconds": ("second service, generate to verified", "<", 10.0),
}


@dataclass
class Side:
    """Measurements of one project: the tutorial's or the generated one."""

    name: str
    image: str
    binary_path: str
    cold_build_seconds: float = 0.0
    rebuild_seconds: float = 0.0
    image_size_bytes: int = 0
    binary_size_bytes: int = 0
    first_response_seconds: float = 0.0
    stop_seconds: float = 0.0
    stop_exit_code: int = -1


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cpus": os.cpu_count() or 0,
        "cpu": cpu,
        "memory_gib": round(mem / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def render_times(template: Template, repeat: int, answers: dict[str, str]) -> list[float]:
    times = []
    with tempfile.TemporaryDirectory(prefix="gostarter-bench-render-") as tmp:
        for i in range(repeat):
            started = time.perf_counter()
            copier.run_copy(
                template.src,
                Path(tmp) / f"r{i}",
                data={**answers, "verify": "none"},
                vcs_ref=template.vcs_ref,
                defaults=True,
                quiet=True,
                unsafe=True,
            )
            times.append(time.perf_counter() - started)
    return times


def _binary_size(client: Any, image: str, path: str) -> int:
    container = client.containers.create(image)
    try:
        stream, _ = container.get_archive(path)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            return int(tar.getmembers()[0].size)
    finally:
        container.remove(force=True)


def _run_and_stop(client: Any, image: str, port: int) -> tuple[float, float, int]:
    container = client.containers.create(
        image, ports={f"{port}/tcp": ("127.0.0.1", None)}, labels={verify.LABEL: "bench"}
    )
    try:
        started = time.monotonic()
        container.start()
        host_port = verify.published_port(container, port)
        first = verify.wait_for_hello(host_port, started, lambda: verify.container_exited(container))
        return (first, *verify.timed_stop(container))
    finally:
        container.remove(force=True)


def _build(project: Path, side: Side, build: verify.BuildCommand) -> float:
    result = verify.Result()
    verify.build_image(project, side.image, build, Progress(quiet=True), result)
    return result.build_seconds


def measure_side(client: Any, project: Path, side: Side, build: verify.BuildCommand, port: int) -> None:
    client.api.prune_builds(all=True)
    side.cold_build_seconds = _build(project, side, build)
    with (project / "main.go").open("a") as main_go:
        main_go.write(ONE_LINE_CHANGE)
    side.rebuild_seconds = _build(project, side, build)
    side.image_size_bytes = int(client.images.get(side.image).attrs["Size"])
    side.binary_size_bytes = _binary_size(client, side.image, side.binary_path)
    side.first_response_seconds, side.stop_seconds, side.stop_exit_code = _run_and_stop(
        client, side.image, port
    )


def time_new(dest: Path, name: str, answers: dict[str, str]) -> float:
    argv = [sys.executable, "-m", "generator", "new", str(dest), "--defaults", "--verify", "docker"]
    argv += ["--quiet", "--rm-image", "--data", f"app_name={name}"]
    for key, value in answers.items():
        argv += ["--data", f"{key}={value}"]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"gostarter new {name} failed:\n{done.stderr[-2000:]}")
    return elapsed


def run(
    *, builder_image: str, runtime_image: str, repeat: int, work: Path, progress: Progress
) -> dict[str, Any]:
    """Run every measurement once; returns the figures (also what the TOML holds)."""
    client = verify.docker_client()
    build = verify.find_build_command()
    template = Template.resolve()
    answers = {"builder_image": builder_image, "runtime_image": runtime_image}

    progress.phase("render", f"{repeat} times")
    renders = render_times(template, repeat, answers)

    progress.phase("tutorial", "cold build, one-line change, rebuild, run")
    tutorial_dir = work / "tutorial"
    tutorial_dir.mkdir(parents=True)
    (tutorial_dir / "main.go").write_text(TUTORIAL_MAIN)
    (tutorial_dir / "go.mod").write_text(TUTORIAL_GO_MOD)
    (tutorial_dir / "Dockerfile").write_text(
        TUTORIAL_DOCKERFILE.format(builder=builder_image, runtime=runtime_image)
    )
    tutorial = Side("tutorial", "gostarter-bench-tutorial:latest", "/myapp")
    measure_side(client, tutorial_dir, tutorial, build, 8080)

    progress.phase("generated", "cold build, one-line change, rebuild, run")
    generated_dir = work / "generated"
    copier.run_copy(
        template.src,
        generated_dir,
        data={**answers, "app_name": "benchsvc", "verify": "none"},
        vcs_ref=template.vcs_ref,
        defaults=True,
        quiet=True,
        unsafe=True,
    )
    generated = Side("generated", "benchsvc:dev", "/usr/local/bin/benchsvc")
    measure_side(client, generated_dir, generated, build, 8080)

    progress.phase("gostarter new", "first service, cold caches")
    client.api.prune_builds(all=True)
    new_cold = time_new(work / "first", "benchfirst", answers)
    progress.phase("gostarter new", "second service, warm")
    new_warm = time_new(work / "second", "benchsecond", answers)
    progress.close()

    for image in (tutorial.image, generated.image):
        client.images.remove(image, force=True)

    figures: dict[str, Any] = {
        "render_median_seconds": statistics.median(renders),
        "render_runs": len(renders),
        "rebuild_ratio": generated.rebuild_seconds / tutorial.rebuild_seconds,
        "image_over_binary_bytes": generated.image_size_bytes - generated.binary_size_bytes,
        "first_response_seconds": generated.first_response_seconds,
        "stop_seconds": generated.stop_seconds if generated.stop_exit_code == 0 else float("inf"),
        "new_cold_seconds": new_cold,
        "new_warm_seconds": new_warm,
    }
    checks = {}
    for key, (_, op, limit) in TARGETS.items():
        value = figures[key]
        checks[key] = bool(value <= limit if op == "<=" else value < limit)
    sides = {}
    for side in (tutorial, generated):
        sides[side.name] = {
            key: value for key, value in vars(side).items() if key not in {"name", "binary_path"}
        }
    return {
        "machine": {
            **machine(),
            "docker_engine": client.version().get("Version", ""),
            "build_command": " ".join(f"{k}={v}" for k, v in build.env) + " " + " ".join(build.argv),
        },
        "images": answers,
        "figures": figures,
        "sides": sides,
        "targets_met": checks,
        "all_targets_met": all(checks.values()),
    }


def table(results: dict[str, Any]) -> str:
    """The figures as a Markdown table, ready for README."""
    t, g = results["sides"]["tutorial"], results["sides"]["generated"]
    f = results["figures"]
    rows = [
        ("", "tutorial's Dockerfile", "gostarter's Dockerfile"),
        ("cold build", f"{t['cold_build_seconds']:.2f} s", f"{g['cold_build_seconds']:.2f} s"),
        (
            "rebuild after a one-line change",
            f"{t['rebuild_seconds']:.2f} s",
            f"{g['rebuild_seconds']:.2f} s (ratio {f['rebuild_ratio']:.3f})",
        ),
        ("final image", f"{t['image_size_bytes']:,} B", f"{g['image_size_bytes']:,} B"),
        ("Go binary alone", f"{t['binary_size_bytes']:,} B", f"{g['binary_size_bytes']:,} B (stripped)"),
        (
            "container start to first 200",
            f"{t['first_response_seconds'] * 1000:.0f} ms",
            f"{g['first_response_seconds'] * 1000:.0f} ms",
        ),
        (
            "docker stop",
            f"{t['stop_seconds']:.2f} s, exit {t['stop_exit_code']}",
            f"{g['stop_seconds']:.2f} s, exit {g['stop_exit_code']}",
        ),
    ]
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    lines.insert(1, "|---|---|---|")
    lines += [
        "",
        f"Render (median of {f['render_runs']}): {f['render_median_seconds'] * 1000:.0f} ms. "
        f"`gostarter new` to a passed docker verification: first service {f['new_cold_seconds']:.1f} s "
        f"(cold caches), second {f['new_warm_seconds']:.1f} s.",
        "",
        "| target | figure | limit | met |",
        "|---|---|---|---|",
    ]
    for key, (label, op, limit) in TARGETS.items():
        value = f[key]
        shown = f"{value:,}" if isinstance(value, int) else f"{value:.3f}"
        lines.append(
            f"| {label} | {shown} | {op} {limit:,} | {'yes' if results['targets_met'][key] else 'NO'} |"
        )
    m = results["machine"]
    lines += [
        "",
        f"Machine: {m['cpus']} cores ({m['cpu']}), {m['memory_gib']} GiB, {m['os']}; "
        f"Docker engine {m['docker_engine']}; build command `{m['build_command'].strip()}`.",
    ]
    return "\n".join(lines)


def write_toml(results: dict[str, Any], path: Path) -> None:
    def clean(value: Any) -> Any:
        if isinstance(value, float):
            return round(value, 4) if value != float("inf") else -1.0
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        return value

    path.write_text(tomli_w.dumps(clean(results)))
