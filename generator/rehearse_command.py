"""`gostarter rehearse`: its arguments and its handler, together (cli.build_parser registers it)."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator.errors import UsageError, exit_codes_help
from generator.verify import BUILD_TIMEOUT_ENV, DEFAULT_BUILD_TIMEOUT_SECONDS, MODES

if TYPE_CHECKING:
    from generator.rehearse import Row

DESCRIPTION = textwrap.fill(
    "Before a template release: for each PROJECT, in a throwaway copy, the update to REF of the "
    "template SRC (a branch, a commit or a tag not yet released) as `update --dry-run` does it, then "
    "the verification of the updated copy. One row each: current, updates cleanly, needs a migration, "
    "conflicts (files and hunks), fails verification (step and reason), or refused (dirty, "
    "unreachable). Exit 0 when every project is current or updates cleanly and passes, 1 otherwise, "
    "2 when any could not be rehearsed."
)


def add_parser(commands: Any) -> None:
    """Add `rehearse` to the `gostarter` subcommands."""
    rehearse: argparse.ArgumentParser = commands.add_parser(
        "rehearse",
        help="rehearse a template change on every service before releasing it",
        description=DESCRIPTION,
        epilog=exit_codes_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rehearse.add_argument("projects", nargs="*", metavar="PROJECT", help="generated projects")
    rehearse.add_argument("--template", metavar="SRC", help="the template (path or git URL) holding REF")
    rehearse.add_argument("--ref", metavar="REF", help="the branch, commit or tag to rehearse")
    rehearse.add_argument(
        "--verify",
        choices=MODES,
        default="auto",
        help="how each updated copy is verified (as `gostarter verify --verify`; default: auto)",
    )
    rehearse.add_argument(
        "--jobs", type=int, metavar="N", help="projects rehearsed at once (default: the cores usable)"
    )
    rehearse.add_argument(
        "--build-timeout",
        type=float,
        metavar="SECONDS",
        help=f"each project's build deadline (default: ${BUILD_TIMEOUT_ENV}, else "
        f"{DEFAULT_BUILD_TIMEOUT_SECONDS:.0f})",
    )
    rehearse.add_argument("--trust", action="store_true", help="run the template's migrations in the copies")
    rehearse.add_argument(
        "--shard", metavar="K/N", help="rehearse only slice K of N of the projects (for a CI matrix)"
    )
    rehearse.add_argument("--report", metavar="FILE", help="write the rows as TOML")
    rehearse.add_argument("--html", metavar="FILE", help="write the rows as one self-contained HTML page")
    rehearse.add_argument(
        "--merge",
        nargs="+",
        metavar="REPORT",
        help="join the TOML reports of shards into one report and page (nothing is rehearsed)",
    )
    rehearse.set_defaults(handler=run)


def _line(row: Row) -> str:
    from generator.rehearse import Status

    text = f"{row.project}: {row.status.value}"
    if row.changes and row.status is not Status.CONFLICTS:
        text += f" ({len(row.changes)} file(s))"
    if row.reason:
        text += f": {row.reason}"
    elif row.verification.get("result"):
        text += f"; verification {row.verification['result']} ({row.verification.get('mode', '')})"
    return text


def _rehearsed(args: argparse.Namespace) -> dict[str, Any]:
    """Rehearse the projects (this shard of them), a line each as it is done; the report's mapping."""
    from generator import children, outputs, rehearse

    if not args.template or not args.ref or not args.projects:
        raise UsageError(
            "rehearse needs --template SRC, --ref REF and at least one PROJECT",
            hint="e.g. gostarter rehearse --template ../gostarter --ref next services/*",
        )
    spec = rehearse.parse_shard(args.shard) if args.shard else None
    jobs = args.jobs if args.jobs is not None else children.cores()
    if jobs < 1:
        raise UsageError(f"--jobs {jobs} is less than 1")
    if args.build_timeout is not None and args.build_timeout <= 0:
        raise UsageError("--build-timeout must be more than 0 seconds")
    projects = rehearse.shard([Path(p) for p in args.projects], spec)
    for path in (args.report, args.html):
        if path:
            outputs.check_target(Path(path), what="report", inside=projects)
    options = rehearse.Options(mode=args.verify, build_timeout=args.build_timeout, trust=args.trust)
    rows = []
    with rehearse.rehearsal(args.template, args.ref) as rehearsal:
        target = rehearsal.target
        print(f"rehearsing {target.ref} ({target.version}) on {len(projects)} project(s)", file=sys.stderr)
        for row in rehearsal.rows(projects, options, jobs=jobs):
            print(_line(row), flush=True)
            rows.append(row)
    return rehearse.document(target, rows, shard_spec=args.shard or "")


def _merged(args: argparse.Namespace) -> dict[str, Any]:
    from generator import outputs, rehearse

    if args.projects or args.template or args.ref or args.shard:
        raise UsageError("--merge joins reports: it takes no PROJECT, --template, --ref or --shard")
    for path in (args.report, args.html):
        if path:
            outputs.check_target(Path(path), what="report")
    target, rows = rehearse.merge([Path(p) for p in args.merge])
    return rehearse.document(target, rows)


def run(args: argparse.Namespace) -> int:
    from generator import rehearse, report_html

    data = _merged(args) if args.merge else _rehearsed(args)
    counts = ", ".join(f"{count} {status}" for status, count in data["counts"].items() if count)
    print(f"{data['rehearsed']} rehearsed: {counts or 'nothing'}")
    if args.report:
        rehearse.write_report(data, Path(args.report))
    if args.html:
        shards = len(args.merge) if args.merge else 0
        report_html.write_page(Path(args.html), report_html.rehearsal_page(data, shards=shards))
    return rehearse.exit_code([rehearse.Row.from_dict(row, "the report") for row in data["projects"]])
