"""`python -m bench`: one run, one machine, a table on stdout and the same figures as TOML."""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import docker
import tomli_w

from bench.run import run, table
from bench.targets import Judged
from generator.console import Progress
from generator.errors import GostarterError


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Build the tutorial's Dockerfile and gostarter's side by side, cold and after a "
        "one-line change; empties the BuildKit cache (docker builder prune) for the cold builds.",
    )
    parser.add_argument("--builder-image", default="golang:1.27", help="builder image for both projects")
    parser.add_argument(
        "--runtime-image",
        default="gcr.io/distroless/static-debian12:nonroot",
        help="runtime image for both projects",
    )
    parser.add_argument("--repeat", type=int, default=5, help="renders to take the median of (default 5)")
    parser.add_argument("--fleet", type=int, default=20, help="services for the check timing (default 20)")
    parser.add_argument("--toml", metavar="FILE", default="bench.toml", help="where to write the figures")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--web",
        action="store_true",
        help="measure the web initializr instead (gostarter serve on loopback; no container engine)",
    )
    parser.add_argument("--requests", type=int, default=500, help="requests of the --web run (default 500)")
    parser.add_argument(
        "--web-verify",
        action="store_true",
        help="measure verified before download instead (gostarter serve --verify docker against "
        "gostarter new; needs the engine and the two images)",
    )
    parser.add_argument(
        "--verifications", type=int, default=50, help="verifications of the --web-verify run (default 50)"
    )
    parser.add_argument(
        "--platforms",
        action="store_true",
        help="measure a second, emulated platform instead (arm64 verification over the native one, "
        "two-platform new over one-platform new); --runtime-image must have both platforms",
    )
    parser.add_argument(
        "--rehearse",
        action="store_true",
        help="measure gostarter rehearse over --fleet services against one update --dry-run plus one "
        "verify (native), and check over --check-sizes services (no container engine)",
    )
    parser.add_argument(
        "--check-sizes", default="20,100,200", metavar="N,N,...", help="fleet sizes of the --rehearse check"
    )
    args = parser.parse_args()
    if args.rehearse:
        return _rehearse(args)
    if args.platforms:
        return _platforms(args)
    if args.web:
        return _web(args)
    if args.web_verify:
        return _web_verify(args)
    if args.repeat < 1 or args.fleet < 1:
        parser.error("--repeat and --fleet must be at least 1")
    warnings.simplefilter("ignore")  # Copier's DirtyLocalWarning on a working tree
    try:
        with tempfile.TemporaryDirectory(prefix="gostarter-bench-") as work:
            results = run(
                builder_image=args.builder_image,
                runtime_image=args.runtime_image,
                repeat=args.repeat,
                work=Path(work),
                progress=Progress(),
                fleet_size=args.fleet,
            )
    except GostarterError as err:
        print(f"bench: error: {err.message}", file=sys.stderr)
        return 1
    except docker.errors.DockerException as err:
        print(f"bench: error: the Docker engine refused: {str(err).splitlines()[0][:300]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return _report(args, results, table(results))


def _report(args: argparse.Namespace, figures: Judged, shown: str) -> int:
    """Write the figures as TOML to --toml, print their table, and exit 1 under --check when a
    target was missed."""
    Path(args.toml).write_text(tomli_w.dumps(figures.as_dict()), encoding="utf-8")
    print(shown)
    print(f"\nFigures written to {args.toml}", file=sys.stderr)
    return 1 if args.check and not all(figures.targets_met().values()) else 0


def _rehearse(args: argparse.Namespace) -> int:
    from bench.rehearse import rehearse_table, run_rehearse

    try:
        sizes = [int(size) for size in args.check_sizes.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1 or args.fleet < 1:
        print(
            "bench: error: --check-sizes takes sizes such as 20,100,200; --fleet at least 1", file=sys.stderr
        )
        return 2
    try:
        with tempfile.TemporaryDirectory(prefix="gostarter-bench-") as work:
            figures = run_rehearse(Path(work), services=args.fleet, check_sizes=sizes)
    except GostarterError as err:
        print(f"bench: error: {err.message}", file=sys.stderr)
        return 1
    return _report(args, figures, rehearse_table(figures))


def _web(args: argparse.Namespace) -> int:
    from bench.web import main_web, web_table

    figures = main_web(repeat=args.repeat, requests=args.requests, clients=8)
    return _report(args, figures, web_table(figures))


def _platforms(args: argparse.Namespace) -> int:
    from bench.platforms import platforms_table, run_platforms

    try:
        figures = run_platforms(
            builder_image=args.builder_image, runtime_image=args.runtime_image, repeat=args.repeat
        )
    except GostarterError as err:
        print(f"bench: error: {err.message}", file=sys.stderr)
        return 1
    return _report(args, figures, platforms_table(figures))


def _web_verify(args: argparse.Namespace) -> int:
    from bench.verify_web import run_verify, verify_table

    figures = run_verify(
        builder_image=args.builder_image,
        runtime_image=args.runtime_image,
        repeat=args.repeat,
        verifications=args.verifications,
    )
    return _report(args, figures, verify_table(figures))


if __name__ == "__main__":
    sys.exit(main())
