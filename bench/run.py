"""The benchmark: the generated build against the tutorial's Dockerfile, side by side in one run.

Both projects are built with the same builder image, the same runtime image
and the same BuildKit client, each from an empty BuildKit cache, then again
after the same one-line change to main.go. Times on shared machines drift, so
the headline figures are ratios measured in the same run.

It empties the engine's BuildKit cache (docker builder prune) before each cold
build: that is what "cold" means, and it is why this is not a test.
"""

from __future__ import annotations

import compileall
import io
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bench.fleet import fleet_times
from bench.targets import Targets
from generator import verify
from generator.console import Progress
from generator.errors import GostarterError
from generator.render import Answers, render
from generator.template import PACKAGE_DIR, Template

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
    "new_over_copier_ratio": ("gostarter new --verify none / copier copy, whole process", "<=", 1.15),
    "new_warm_over_necessary_ratio": (
        "second service, new to verified / (its build + first answer + stop)",
        "<=",
        1.3,
    ),
    "help_over_python_ratio": ("gostarter --help / python -c pass, whole process", "<=", 5.0),
    "check_over_render_ratio": ("gostarter check, seconds per service / median render", "<=", 1.5),
}
_TARGETS = Targets(TARGETS, thousands=True)


@dataclass(frozen=True)
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
            render(template, Path(tmp) / f"r{i}", answers=Answers(data=answers))
            times.append(time.perf_counter() - started)
    return times


def timed(argv: list[str], what: str) -> float:
    """Seconds `argv` took as a whole process; GostarterError naming `what` unless it exits 0."""
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise GostarterError(f"{what} failed (exit {done.returncode}): {done.stderr.strip()[-800:]}")
    return elapsed


def new_over_copier(template: Template, repeat: int, answers: dict[str, str], work: Path) -> float:
    """Whole-process `gostarter new --verify none` over plain `copier copy --skip-tasks`, median of pairs."""
    data = [arg for key, value in answers.items() for arg in ("--data", f"{key}={value}")]
    ref = ["--vcs-ref", template.vcs_ref] if template.vcs_ref else []
    ratios = []
    for i in range(repeat):
        copier_s = timed(
            [sys.executable, "-m", "copier", "copy", "--defaults", "--quiet", "--skip-tasks", "--trust",
             *ref, *data, template.src, str(work / f"copier{i}")],
            "copier copy",
        )  # fmt: skip
        new_s = timed(
            [sys.executable, "-m", "generator", "new", str(work / f"new{i}"), "--defaults", "--quiet",
             "--verify", "none", *data],
            "gostarter new",
        )  # fmt: skip
        ratios.append(new_s / copier_s)
    return statistics.median(ratios)


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


def _build(project: Path, image: str, build: verify.BuildCommand) -> float:
    target = verify.Target(project, image.split(":")[0], 8080, "bench")
    try:
        return verify.build_image(target, image, build, Progress(quiet=True)).seconds
    except verify.CheckFailed as failed:
        raise GostarterError(f"building {image} failed: {failed.reason}") from None


def measure_side(client: Any, project: Path, side: Side, build: verify.BuildCommand, port: int) -> Side:
    """Cold build, the one-line change, rebuild, sizes, start and stop of one project."""
    client.api.prune_builds(all=True)
    cold = _build(project, side.image, build)
    with (project / "main.go").open("a") as main_go:
        main_go.write(ONE_LINE_CHANGE)
    rebuild = _build(project, side.image, build)
    first, stop, code = _run_and_stop(client, side.image, port)
    return replace(
        side,
        cold_build_seconds=cold,
        rebuild_seconds=rebuild,
        image_size_bytes=int(client.images.get(side.image).attrs["Size"]),
        binary_size_bytes=_binary_size(client, side.image, side.binary_path),
        first_response_seconds=first,
        stop_seconds=stop,
        stop_exit_code=code,
    )


@dataclass(frozen=True)
class NewRun:
    """`gostarter new` to a passed docker verification: the whole process, and what its report says
    the necessary work took (the build, container start to the first answer, docker stop)."""

    seconds: float
    necessary_seconds: float


def time_new(dest: Path, name: str, answers: dict[str, str]) -> NewRun:
    report = dest.with_name(f"{dest.name}-report.toml")
    argv = [sys.executable, "-m", "generator", "new", str(dest), "--defaults", "--verify", "docker"]
    argv += ["--quiet", "--rm-image", "--report", str(report), "--data", f"app_name={name}"]
    for key, value in answers.items():
        argv += ["--data", f"{key}={value}"]
    seconds = timed(argv, f"gostarter new {name}")
    found = tomllib.loads(report.read_text())
    necessary = found["build_seconds"] + found["first_response_seconds"] + found["stop_seconds"]
    return NewRun(seconds, necessary)


def gostarter_command() -> list[str]:
    """The `gostarter` script beside this interpreter (what a user runs), else `python -m generator`."""
    script = Path(sys.executable).parent / "gostarter"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "generator"]


def help_over_python(repeat: int) -> tuple[float, float, float]:
    """`gostarter --help` and `python -c pass` as whole processes, in pairs: the median of each and
    the median ratio of the pairs (start-up cost only: --help imports neither Copier nor the Docker SDK)."""
    helps, passes = [], []
    for _ in range(max(repeat, 5)):
        passes.append(timed([sys.executable, "-c", "pass"], "python -c pass"))
        helps.append(timed([*gostarter_command(), "--help"], "gostarter --help"))
    ratio = statistics.median(h / p for h, p in zip(helps, passes, strict=True))
    return statistics.median(helps), statistics.median(passes), ratio


def _tutorial_project(work: Path, builder_image: str, runtime_image: str) -> Path:
    project = work / "tutorial"
    project.mkdir(parents=True)
    (project / "main.go").write_text(TUTORIAL_MAIN)
    (project / "go.mod").write_text(TUTORIAL_GO_MOD)
    (project / "Dockerfile").write_text(
        TUTORIAL_DOCKERFILE.format(builder=builder_image, runtime=runtime_image)
    )
    return project


@dataclass(frozen=True)
class Figures:
    """The headline figures, each compared with its target."""

    render_median_seconds: float
    render_runs: int
    new_over_copier_ratio: float
    rebuild_ratio: float
    image_over_binary_bytes: int
    first_response_seconds: float
    stop_seconds: float
    new_cold_seconds: float
    new_warm_seconds: float
    new_warm_necessary_seconds: float
    new_warm_over_necessary_ratio: float
    help_seconds: float
    python_seconds: float
    help_over_python_ratio: float
    check_one_seconds: float
    check_per_service_seconds: float
    check_over_render_ratio: float
    dry_run_seconds: float

    def targets_met(self) -> dict[str, bool]:
        return _TARGETS.met(self)


@dataclass(frozen=True)
class Results:
    """Everything one benchmark run measured: `measured` as it was, `as_dict` as the TOML holds it."""

    machine: dict[str, Any]
    images: dict[str, str]
    figures: Figures
    tutorial: Side
    generated: Side

    def as_dict(self) -> dict[str, Any]:
        """Floats to four places; an infinite figure (a stop that did not exit 0) as -1."""
        rounded: dict[str, Any] = _rounded(self.measured())
        return rounded

    def measured(self) -> dict[str, Any]:
        met = self.figures.targets_met()
        sides = {
            side.name: {k: v for k, v in asdict(side).items() if k not in {"name", "binary_path"}}
            for side in (self.tutorial, self.generated)
        }
        return {
            "machine": self.machine,
            "images": self.images,
            "figures": asdict(self.figures),
            "sides": sides,
            "targets_met": met,
            "all_targets_met": all(met.values()),
        }

    def targets_met(self) -> dict[str, bool]:
        return self.figures.targets_met()


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4) if value != float("inf") else -1.0
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def run(
    *,
    builder_image: str,
    runtime_image: str,
    repeat: int,
    work: Path,
    progress: Progress,
    fleet_size: int = 20,
) -> Results:
    """Run every measurement once; the images it builds are removed whatever happens."""
    # The whole-process figures time gostarter as pip leaves an installed package: with its
    # bytecode compiled (a checkout under PYTHONDONTWRITEBYTECODE=1 would compile every module
    # from source in every process, about 10 ms of each --help).
    compileall.compile_dir(PACKAGE_DIR, quiet=1)
    client = verify.docker_client()
    build = verify.find_build_command()
    template = Template.resolve()
    answers = {"builder_image": builder_image, "runtime_image": runtime_image}
    tutorial = Side("tutorial", "gostarter-bench-tutorial:latest", "/myapp")
    generated = Side("generated", "benchsvc:dev", "/usr/local/bin/benchsvc")
    try:
        progress.phase("render", f"{repeat} times, then gostarter new against copier copy")
        renders = render_times(template, repeat, answers)
        new_ratio = new_over_copier(template, repeat, answers, work / "ratio")
        help_seconds, python_seconds, help_ratio = help_over_python(repeat)

        progress.phase("tutorial", "cold build, one-line change, rebuild, run")
        project = _tutorial_project(work, builder_image, runtime_image)
        tutorial = measure_side(client, project, tutorial, build, 8080)

        progress.phase("generated", "cold build, one-line change, rebuild, run")
        project = render(
            template, work / "generated", answers=Answers(data={**answers, "app_name": "benchsvc"})
        )
        generated = measure_side(client, project, generated, build, 8080)

        progress.phase("gostarter new", "first service, cold caches")
        client.api.prune_builds(all=True)
        new_cold = time_new(work / "first", "benchfirst", answers).seconds
        progress.phase("gostarter new", "second service, warm")
        new_warm = time_new(work / "second", "benchsecond", answers)

        progress.phase("fleet", f"gostarter check on 1 and {fleet_size} services, update --dry-run")
        fleet = fleet_times(work, fleet_size)
    finally:
        progress.close()
        for image in (tutorial.image, generated.image):
            verify.remove_image(client, image)

    figures = Figures(
        render_median_seconds=statistics.median(renders),
        render_runs=len(renders),
        new_over_copier_ratio=new_ratio,
        rebuild_ratio=generated.rebuild_seconds / tutorial.rebuild_seconds,
        image_over_binary_bytes=generated.image_size_bytes - generated.binary_size_bytes,
        first_response_seconds=generated.first_response_seconds,
        stop_seconds=generated.stop_seconds if generated.stop_exit_code == 0 else float("inf"),
        new_cold_seconds=new_cold,
        new_warm_seconds=new_warm.seconds,
        new_warm_necessary_seconds=new_warm.necessary_seconds,
        new_warm_over_necessary_ratio=new_warm.seconds / new_warm.necessary_seconds,
        help_seconds=help_seconds,
        python_seconds=python_seconds,
        help_over_python_ratio=help_ratio,
        check_one_seconds=fleet.check_one_seconds,
        check_per_service_seconds=fleet.check_per_service_seconds,
        check_over_render_ratio=fleet.check_per_service_seconds / statistics.median(renders),
        dry_run_seconds=fleet.dry_run_seconds,
    )
    machine_info = {
        **machine(),
        "docker_engine": client.version().get("Version", ""),
        "build_command": " ".join(build.shown()),
    }
    return Results(machine_info, answers, figures, tutorial, generated)


def table(run_results: Results) -> str:
    """The figures as a Markdown table, ready for README."""
    results = run_results.measured()
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
        f"(cold caches), second {f['new_warm_seconds']:.2f} s, of which its build, first answer and stop "
        f"{f['new_warm_necessary_seconds']:.2f} s. `gostarter --help` {f['help_seconds'] * 1000:.0f} ms, "
        f"`python -c pass` {f['python_seconds'] * 1000:.0f} ms (whole processes, medians). "
        f"`gostarter check`: one service {f['check_one_seconds']:.2f} s, "
        f"{f['check_per_service_seconds']:.2f} s per service over a fleet; "
        f"`update --dry-run --verify none` {f['dry_run_seconds']:.2f} s.",
        "",
        *_TARGETS.table(run_results.figures),
    ]
    m = results["machine"]
    lines += [
        "",
        f"Machine: {m['cpus']} cores ({m['cpu']}), {m['memory_gib']} GiB, {m['os']}; "
        f"Docker engine {m['docker_engine']}; build command `{m['build_command'].strip()}`.",
    ]
    return "\n".join(lines)
