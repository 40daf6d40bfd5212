"""Copier `_tasks` entry point: verify the generated project (see generator/hook.py).

Thin on purpose: it finds the `generator` package that ships beside this
template (a source checkout, or the copy bundled in an installed wheel) and
hands over to it. Whatever happens, it exits 0 once it runs: Copier deletes
the freshly generated project when a task fails, and a verification problem
must never cost the user the project.
"""

import sys
import traceback
from pathlib import Path

for parent in Path(__file__).resolve().parents:
    if (parent / "generator" / "__init__.py").is_file():
        sys.path.insert(0, str(parent))
        break

try:
    from generator.hook import main
except ImportError as err:
    print(
        f"gostarter: verification skipped: {err.name or err} is not installed beside Copier "
        f"({sys.executable}); install gostarter there, or run `gostarter verify` in the project",
        file=sys.stderr,
    )
    sys.exit(0)

try:
    sys.exit(main(sys.argv[1:]))
except Exception:  # noqa: BLE001 - a bug in verification must not delete the project
    traceback.print_exc()
    print("gostarter: verification crashed (a gostarter bug); the project was kept", file=sys.stderr)
    sys.exit(0)
