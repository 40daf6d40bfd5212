# /// script
# requires-python = ">=3.11"
# dependencies = ["docker>=7.1", "tomli-w>=1.0", "pyyaml>=6.0"]
# ///
"""Copier `_tasks` entry point: verify the generated project (see generator/hook.py).

Thin on purpose, and standard library only up to the import of
generator.hook: it finds the `generator` package that ships beside this
template (the clone Copier made, or the copy bundled in an installed wheel).
When gostarter's runtime dependencies (the inline metadata above) cannot be
imported beside Copier, generator/bootstrap.py gets them and runs this script
again. Whatever happens, it exits 0 once it runs: Copier deletes the freshly
generated project when a task fails, and a verification problem must never
cost the user the project.
"""

import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve()


def main(argv: list[str]) -> int:
    for parent in HERE.parents:
        if (parent / "generator" / "__init__.py").is_file():
            sys.path.insert(0, str(parent))
            break
    from generator import bootstrap  # standard library only

    try:
        from generator.hook import main as verify_project
    except ImportError as err:
        return bootstrap.bootstrap(HERE, argv, err.name or str(err))
    return verify_project(argv)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:  # before the verification's own handling (while importing)
        print("gostarter: verification interrupted; the project was kept", file=sys.stderr)
        sys.exit(0)
    except Exception:  # noqa: BLE001 - a bug in verification must not delete the project
        traceback.print_exc()
        print("gostarter: verification crashed (a gostarter bug); the project was kept", file=sys.stderr)
        sys.exit(0)
