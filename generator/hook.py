"""The Copier post-generation task: verify the project just generated.

Copier deletes the destination when a task exits non-zero, so this task always
exits 0 once the project exists: a failed verification is stated loudly and
the project is kept for the user to fix. The mode comes from the template's
hidden `verify` answer (`copier copy --data verify=native`); GOSTARTER_REPORT
names a TOML report to write.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from generator.console import Progress
from generator.errors import GostarterError
from generator.verify import MODES, summary, verify, write_report


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in MODES:
        print(f"usage: post_generate.py PROJECT_DIR {{{'|'.join(MODES)}}}", file=sys.stderr)
        return 2
    project, mode = Path(argv[0]), argv[1]
    if mode == "none":
        return 0
    try:
        result = verify(project, mode=mode, progress=Progress())
        report = os.environ.get("GOSTARTER_REPORT")
        if report:
            write_report(result, Path(report))
    except GostarterError as err:
        print(f"gostarter: verification could not run: {err.message}", file=sys.stderr)
        return 0
    except KeyboardInterrupt:
        print("gostarter: verification interrupted; the project was kept", file=sys.stderr)
        return 0
    if result.failed:
        bar = "!" * 72
        print(f"\n{bar}\ngostarter: {summary(result)}", file=sys.stderr)
        if result.log_tail:
            print(result.log_tail, file=sys.stderr)
        print(
            f"gostarter: the project at {project} was kept; fix it, then run "
            f"`gostarter verify {project}` or `make smoke`\n{bar}",
            file=sys.stderr,
        )
    else:
        print(f"gostarter: {summary(result)}", file=sys.stderr)
    return 0
