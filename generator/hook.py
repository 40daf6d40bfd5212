"""The Copier post-generation task: verify the project just generated.

Copier deletes the destination when a task exits non-zero, so this task always
exits 0 once the project exists: a failed verification is stated loudly and
the project is kept for the user to fix. The mode comes from the template's
hidden `verify` answer (`copier copy --data verify=native`); GOSTARTER_REPORT
names a TOML report to write, after the result is shown (a report that cannot
be written is one more line, not the end of the result).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from generator.console import Progress
from generator.errors import ExitCode, GostarterError, terminations_interrupt
from generator.verify import MODES, Result, print_result, verify, write_report


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in MODES:
        print(f"usage: post_generate.py PROJECT_DIR {{{'|'.join(MODES)}}}", file=sys.stderr)
        return ExitCode.USAGE
    project, mode = Path(argv[0]).resolve(), argv[1]
    if mode == "none":
        return ExitCode.SUCCESS
    try:
        with terminations_interrupt():
            result = verify(project, mode=mode, progress=Progress())
    except GostarterError as err:
        print(f"gostarter: verification could not run: {err.message}", file=sys.stderr)
        return ExitCode.SUCCESS
    except KeyboardInterrupt:
        print("gostarter: verification interrupted; the project was kept", file=sys.stderr)
        return ExitCode.SUCCESS
    print_result(result, shown_as=str(project), kept=True, loud=True)
    _write_report(result, project)
    return ExitCode.SUCCESS


def _write_report(result: Result, project: Path) -> None:
    """GOSTARTER_REPORT, written after the result is shown: a report that cannot be written (a
    device, a directory, a full disk, a path inside the project) is one line, never the result's end."""
    report = os.environ.get("GOSTARTER_REPORT")
    if not report:
        return
    try:
        write_report(result, Path(report), project=project)
    except GostarterError as err:
        print(f"gostarter: the report was not written: {err.message}", file=sys.stderr)
