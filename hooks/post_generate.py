"""Copier `_tasks` entry point: verify the generated project (see generator/hook.py).

Thin on purpose: it finds the `generator` package that ships beside this
template (a source checkout, or the copy bundled in an installed wheel) and
hands over to it.
"""

import sys
from pathlib import Path

for parent in Path(__file__).resolve().parents:
    if (parent / "generator" / "__init__.py").is_file():
        sys.path.insert(0, str(parent))
        break

from generator.hook import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
