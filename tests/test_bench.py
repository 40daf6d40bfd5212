"""A smoke test of the benchmark itself: one render, every measurement once, real figures."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

from bench.run import TARGETS, Figures
from tests.helpers.checkout import ROOT
from tests.helpers.running import run


@pytest.mark.docker
def test_benchmark_runs_and_writes_real_figures(tmp_path: Path, images: dict[str, str]) -> None:
    """`python -m bench` prints the table and writes TOML with measured, plausible figures."""
    out = tmp_path / "bench.toml"
    done = run(
        [sys.executable, "-m", "bench", "--repeat", "1", "--fleet", "2", "--toml", str(out), "--check",
         "--builder-image", images["builder"], "--runtime-image", images["distroless-static"]],
        ROOT,
    )  # fmt: skip
    assert out.is_file(), done.stderr[-3000:]
    assert "| rebuild after a one-line change |" in done.stdout
    results = tomllib.loads(out.read_text())
    # --check: exit 1 exactly when a target of this run was missed (tiny counts on a shared machine).
    assert done.returncode == (0 if results["all_targets_met"] else 1), done.stderr[-3000:]
    tutorial, generated = results["sides"]["tutorial"], results["sides"]["generated"]
    for side in (tutorial, generated):
        assert side["cold_build_seconds"] > 0 and side["rebuild_seconds"] > 0
        assert side["image_size_bytes"] >= side["binary_size_bytes"] > 1_000_000
        assert 0 < side["first_response_seconds"] < 10
    # The cache mounts are the point: the generated rebuild is far cheaper than the tutorial's.
    assert results["figures"]["rebuild_ratio"] < 0.5
    assert generated["stop_exit_code"] == 0
    assert results["figures"]["render_runs"] == 1
    assert 0.5 < results["figures"]["new_over_copier_ratio"] < 3
    assert 0 < results["figures"]["check_one_seconds"] < 60 and results["figures"]["dry_run_seconds"] > 0
    # The warm-path ratios, each from figures of this run.
    figures = results["figures"]
    assert 0 < figures["new_warm_necessary_seconds"] < figures["new_warm_seconds"]
    assert figures["new_warm_over_necessary_ratio"] == pytest.approx(
        figures["new_warm_seconds"] / figures["new_warm_necessary_seconds"], rel=1e-3
    )
    assert 0 < figures["python_seconds"] < figures["help_seconds"]
    assert figures["help_over_python_ratio"] > 1
    assert figures["check_over_render_ratio"] == pytest.approx(
        figures["check_per_service_seconds"] / figures["render_median_seconds"], rel=1e-2
    )
    assert set(results["targets_met"]) >= {
        "new_warm_over_necessary_ratio",
        "help_over_python_ratio",
        "check_over_render_ratio",
    }
    assert "| gostarter --help / python -c pass, whole process |" in done.stdout
    assert results["machine"]["cpus"] >= 1


def test_the_web_benchmark_runs_without_an_engine_and_writes_real_figures(tmp_path: Path) -> None:
    """`python -m bench --web` with tiny counts: real requests to a real `gostarter serve`."""
    out = tmp_path / "web.toml"
    done = run(
        [sys.executable, "-m", "bench", "--web", "--repeat", "2", "--requests", "30", "--toml", str(out)],
        ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| zip median latency / in-process render median |" in done.stdout
    web = tomllib.loads(out.read_text())["web"]
    assert web["errors"] == 0 and web["temp_entries_left"] == 0 and web["requests"] >= 30
    assert 0 < web["cached_median_seconds"] < web["zip_median_seconds"] < 30
    assert web["concurrent_per_second"] > 0 and web["concurrent_p99_seconds"] > 0


@pytest.mark.docker
def test_the_verify_benchmark_runs_and_writes_real_figures(tmp_path: Path, images: dict[str, str]) -> None:
    """`python -m bench --web-verify` with tiny counts: real verifications through a real server."""
    out = tmp_path / "verify.toml"
    done = run(
        [sys.executable, "-m", "bench", "--web-verify", "--repeat", "1", "--verifications", "3",
         "--toml", str(out), "--builder-image", images["builder"],
         "--runtime-image", images["distroless-static"]],
        ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    figures = tomllib.loads(out.read_text())["web_verify"]
    assert figures["cli_median_seconds"] > 0 and figures["web_median_seconds"] > 0
    assert figures["verifications"] == 3 and figures["cancelled"] == 1 and figures["passed"] == 2
    assert figures["containers_left"] == figures["images_left"] == figures["temp_entries_left"] == 0
    assert figures["zip_p99_alone_seconds"] > 0 and figures["zip_p99_during_seconds"] > 0


@pytest.mark.docker
def test_the_platforms_benchmark_runs_and_writes_real_figures(
    tmp_path: Path, multiplatform: dict[str, str]
) -> None:
    """`python -m bench --platforms --repeat 1`: both ratios from real, passed verifications."""
    out = tmp_path / "platforms.toml"
    done = run(
        [sys.executable, "-m", "bench", "--platforms", "--repeat", "1", "--toml", str(out),
         "--builder-image", multiplatform["builder_image"],
         "--runtime-image", multiplatform["runtime_image"]],
        ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    figures = tomllib.loads(out.read_text())
    assert figures["native_verify_seconds"] > 0 and figures["emulated_verify_seconds"] > 0
    assert figures["emulated_over_native"] > 0 and figures["two_over_one"] > 0
    assert len(figures["targets"]) == 3 and figures["by_hand_seconds"] > 0 and figures["new_over_by_hand"] > 0
    assert "gostarter verify --platform linux/arm64 (emulated)" in done.stdout


def test_a_figure_past_its_limit_is_the_target_missed() -> None:
    """Each target is judged from its figure alone (what `--check` exits 1 on)."""
    met = {key: 0.0 for key in TARGETS}
    fields = {name: 0.0 for name in Figures.__dataclass_fields__} | {"render_runs": 1}
    assert all(Figures(**(fields | met)).targets_met().values())
    missed = Figures(**(fields | met | {"help_over_python_ratio": 5.01}))
    assert missed.targets_met() == {key: key != "help_over_python_ratio" for key in TARGETS}


def test_the_rehearse_benchmark_runs_and_writes_real_figures(tmp_path: Path) -> None:
    """`python -m bench --rehearse` on a tiny fleet: real, passed timings, both targets judged."""
    out = tmp_path / "rehearse.toml"
    done = run(
        [
            sys.executable,
            "-m",
            "bench",
            "--rehearse",
            "--fleet",
            "2",
            "--check-sizes",
            "1,2",
            "--toml",
            str(out),
        ],
        ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = tomllib.loads(out.read_text())
    assert (
        figures["rehearsal_seconds"] > 0 and figures["dry_run_seconds"] > 0 and figures["verify_seconds"] > 0
    )
    assert figures["check_sizes"] == [1, 2] and all(kib > 0 for kib in figures["check_peak_kib"])
    assert figures["rehearsal_ratio"] > 0 and len(figures["targets"]) == 2
    assert "rehearsal of 2 services (native)" in done.stdout
