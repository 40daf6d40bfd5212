"""`gostarter test-template`: its arguments and its handler, together (cli.build_parser registers it)."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path
from typing import Any

from generator.errors import UsageError, exit_codes_help
from generator.verify import MODES

DESCRIPTION = textwrap.fill(
    "Test a template (a fork's checkout, default: gostarter's own) over a covering set of answers "
    "from its copier.yml: every choice at least once, every boolean both ways, and a bounded, "
    "derandomised sample of free-text and number answers its validators accept. Each set is "
    "rendered, linted (gofmt, go vet) and verified; one row per set. Exit 0 when every set passes, "
    "1 otherwise, 2 on bad usage."
)


def add_parser(commands: Any) -> None:
    """Add `test-template` to the `gostarter` subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "test-template",
        help="render, lint and verify a template over a covering set of answers",
        description=DESCRIPTION,
        epilog=exit_codes_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("src", nargs="?", metavar="SRC", help="the template (default: gostarter's own)")
    parser.add_argument(
        "--verify", choices=MODES, default="auto", help="how each set is verified (default: auto)"
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=2,
        metavar="N",
        help="free-text and number values per question (default: 2)",
    )
    parser.add_argument("--jobs", type=int, metavar="N", help="sets run at once (default: the cores usable)")
    parser.add_argument("--report", metavar="FILE", help="write the rows as TOML")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from generator import children, covering, outputs, render

    if args.samples < 0 or args.samples > 10:
        raise UsageError(f"--samples {args.samples} is not between 0 and 10")
    jobs = args.jobs if args.jobs is not None else children.cores()
    if jobs < 1:
        raise UsageError(f"--jobs {jobs} is less than 1")
    if args.report:
        outputs.check_target(Path(args.report), what="report")
    template = render.Template.resolve(args.src)
    covered = covering.values(template, samples=args.samples)
    sets = covering.answer_sets(covered)
    print(
        f"testing {template.src}: {len(sets)} answer set(s) over {len(covered)} question(s)", file=sys.stderr
    )
    rows = []
    for row in covering.run_all(template, sets, covered, mode=args.verify, jobs=jobs):
        given = ", ".join(
            f"{key}={value!r}" for key, value in row.answers.items() if value != sets[0].get(key)
        )
        print(f"set {row.index}: {row.outcome.value}" + (f": {row.reason}" if row.reason else "")
              + f" ({given or 'all defaults'})", flush=True)  # fmt: skip
        rows.append(row)
    rows.sort(key=lambda row: row.index)
    counts = {outcome.value: sum(row.outcome is outcome for row in rows) for outcome in covering.Outcome}
    print(f"{len(rows)} set(s): " + ", ".join(f"{count} {name}" for name, count in counts.items() if count))
    if args.report:
        import tomli_w

        document = {"template": template.src, "sets": len(rows), "counts": counts,
                    "rows": [row.as_dict() for row in rows]}  # fmt: skip
        outputs.write_file(Path(args.report), tomli_w.dumps(document).encode("utf-8"), what="report")
    if any(row.outcome is covering.Outcome.REFUSED for row in rows):
        return 1
    return 0 if all(row.outcome is covering.Outcome.PASSES for row in rows) else 1
