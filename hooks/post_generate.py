# /// script
# requires-python = ">=3.11"
# dependencies = ["docker>=7.1", "tomli-w>=1.0", "pyyaml>=6.0"]
# ///
"""Copier `_tasks` entry point: verify the generated project (see generator/hook.py).

Thin on purpose, and standard library only: it runs on whatever Python Copier
runs on (a pipx or `uv tool` environment holds nothing but Copier). It finds
the `generator` package that ships beside this template (the clone Copier
made, or the copy bundled in an installed wheel); when gostarter's runtime
dependencies (the inline metadata above) cannot be imported there, it gets
them with standard packaging tools and runs itself again:

1. `uv run --script` when uv is on PATH: uv reads the metadata above and
   caches the environment itself;
2. else a virtual environment in the user's cache directory, keyed by those
   dependencies and this Python's version, made with `venv` and filled by pip
   once; later runs reuse it.

When neither can get them (no package index reachable, no venv module), it
says so in one line with the way to verify later. Whatever happens, it exits
0 once it runs: Copier deletes the freshly generated project when a task
fails, and a verification problem must never cost the user the project.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

HERE = Path(__file__).resolve()
BOOTSTRAPPED = "GOSTARTER_HOOK_BOOTSTRAPPED"  # set in the re-run, so that it never loops
_METADATA = re.compile(r"^# /// script$\s(?P<content>(^#(| .*)$\s)+)^# ///$", re.M)


def dependencies() -> list[str]:
    """The `dependencies` of this script's inline metadata (PEP 723)."""
    block = _METADATA.search(HERE.read_text(encoding="utf-8"))
    text = "".join(line[2:] + "\n" for line in block["content"].splitlines()) if block else ""
    listed = re.search(r"^dependencies = \[(?P<items>[^\]]*)\]", text, re.M)
    return re.findall(r'"([^"]+)"', listed["items"]) if listed else []


def cache_dir() -> Path:
    """Where the user's caches go (the platformdirs convention)."""
    if sys.platform == "win32":
        return (
            Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "gostarter" / "Cache"
        )
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "gostarter"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gostarter"


def say(message: str) -> None:
    print(f"gostarter: {message}", file=sys.stderr, flush=True)


def rerun(argv: list[str], python_argv: list[str]) -> int | None:
    """Run this script again through `python_argv`; None when that could not start."""
    env = {**os.environ, BOOTSTRAPPED: "1"}
    try:
        return subprocess.run([*python_argv, str(HERE), *argv], env=env, check=False).returncode
    except OSError:
        return None


def with_uv(argv: list[str]) -> int | None:
    uv = shutil.which("uv")
    if uv is None:
        return None
    say("gostarter's dependencies are not beside Copier; running the verification through uv")
    code = rerun(argv, [uv, "run", "--quiet", "--no-project", "--script"])
    return code if code == 0 else None


def cached_environment() -> tuple[Path | None, str]:
    """A virtual environment holding the dependencies: reused, or made once. (python, why not)"""
    deps = dependencies()
    key = hashlib.sha256(f"{sys.version_info[:2]} {sorted(deps)}".encode()).hexdigest()[:16]
    home = cache_dir() / "hook-env" / key
    python = home / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    if (home / ".complete").is_file():
        say(f"reusing the verification environment in {home}")
        return python, ""
    home.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=home.parent))
    say(f"first run: installing {', '.join(deps)} into {home} (later runs reuse it)")
    try:
        steps = {
            "python -m venv": [sys.executable, "-m", "venv", str(staging)],
            "pip install": [str(staging / python.relative_to(home)), "-m", "pip", "install", "--quiet",
                            "--disable-pip-version-check", *deps],
        }  # fmt: skip
        for name, step in steps.items():
            done = subprocess.run(step, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                lines = [ln.strip() for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
                return None, f"{name} failed: {lines[-1] if lines else f'exit {done.returncode}'}"
        (staging / ".complete").write_text("\n".join(deps) + "\n")
        with contextlib.suppress(OSError):  # another run finished first: use its environment
            staging.rename(home)
        return python, ""
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def bootstrap(argv: list[str], missing: str) -> int:
    """Get the dependencies and run again; on failure, one line and exit 0."""
    if os.environ.get(BOOTSTRAPPED):
        say(f"verification skipped: {missing} is still missing in the prepared environment")
        return 0
    if with_uv(argv) is not None:
        return 0
    python, why = cached_environment()
    if python is not None and rerun(argv, [str(python)]) is not None:
        return 0
    project = Path(argv[0]).resolve() if argv else Path.cwd()
    say(
        f"verification skipped: {missing} is not installed beside Copier ({sys.executable}) and could "
        f"not be installed ({why or 'the prepared environment did not start'}); the project was kept: "
        f"verify it later with `make smoke` in {project}, or `gostarter verify {project}`"
    )
    return 0


def main(argv: list[str]) -> int:
    for parent in HERE.parents:
        if (parent / "generator" / "__init__.py").is_file():
            sys.path.insert(0, str(parent))
            break
    try:
        from generator.hook import main as verify_project
    except ImportError as err:
        return bootstrap(argv, err.name or str(err))
    return verify_project(argv)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Exception:  # noqa: BLE001 - a bug in verification must not delete the project
        traceback.print_exc()
        say("verification crashed (a gostarter bug); the project was kept")
        sys.exit(0)
