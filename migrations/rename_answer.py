"""Copier migration: rename a key in a generated project's answers file.

usage: rename_answer.py ANSWERS_FILE OLD NEW

Run by Copier in the project directory, before the update renders the new
template version, so that an answer given under the old name carries over.
Standard library only (it runs on Copier's own Python); edits the one line
`OLD: value` and nothing else; does nothing when OLD is absent (already
migrated, or never answered).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    path, old, new = Path(argv[0]), argv[1], argv[2]
    if not path.is_file():
        return 0
    text = path.read_text(encoding="utf-8")
    if re.search(rf"^{re.escape(new)}:", text, re.M):
        return 0
    renamed, count = re.subn(rf"^{re.escape(old)}:", f"{new}:", text, flags=re.M)
    if count:
        path.write_text(renamed, encoding="utf-8")
        print(f"gostarter migration: the answer {old} is now called {new}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
