"""Getting gostarter's runtime dependencies for the Copier task, when Copier runs without them.

Standard library only: it runs on whatever Python Copier runs on (a pipx or
`uv tool` environment holds nothing but Copier), before anything that needs
the dependencies is imported. The task script (hooks/post_generate.py)
names the dependencies in PEP 723 inline metadata; this module gets them with
standard packaging tools and runs the script again:

1. `uv run --script` when uv is on PATH: uv reads the metadata and caches
   the environment itself;
2. else a virtual environment in the user's cache directory, keyed by those
   dependencies and this Python's version, made with `venv` and filled by pip
   once; later runs reuse it. One that does not start (its base Python was
   removed) or lacks a dependency is rebuilt once; a cache directory that
   cannot be used gives way to a temporary environment, removed afterwards.

When neither can get them (no package index reachable, no venv module), it
says so in one line with the way to verify later, and the task exits 0.
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
from pathlib import Path

from generator import children  # standard library only, like this module

BOOTSTRAPPED = "GOSTARTER_HOOK_BOOTSTRAPPED"  # set in the re-run, so that it never loops
MISSING = 3  # the re-run's exit code when a dependency is still missing: the environment is rebuilt
_METADATA = re.compile(r"^# /// script$\s(?P<content>(^#(| .*)$\s)+)^# ///$", re.M)


def dependencies(script: Path) -> list[str]:
    """The `dependencies` of a script's inline metadata (PEP 723)."""
    block = _METADATA.search(script.read_text(encoding="utf-8"))
    text = "".join(line[2:] + "\n" for line in block["content"].splitlines()) if block else ""
    listed = re.search(r"^dependencies = \[(?P<items>[^\]]*)\]", text, re.M)
    return re.findall(r'"([^"]+)"', listed["items"]) if listed else []


def own_home() -> Path | None:
    """$HOME; with HOME unset, the account's home directory only when this user owns it. A process
    started without HOME (a service, `env -i`, `sudo -u` with a reset environment) may be given a
    home that belongs to someone else (root's, or a shared one): nothing is written there."""
    home = os.environ.get("HOME")
    if home:
        return Path(home)
    try:
        import pwd

        path = Path(pwd.getpwuid(os.getuid()).pw_dir)
        return path if path.is_absolute() and path.stat().st_uid == os.getuid() else None
    except (ImportError, KeyError, OSError):
        return None


def cache_dir() -> Path | None:
    """Where the user's caches go (the platformdirs convention); None where there is no such place
    of this user's own (no XDG_CACHE_HOME, HOME unset and the account's home someone else's)."""
    if sys.platform == "win32":
        return (
            Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "gostarter" / "Cache"
        )
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "gostarter"
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "gostarter"
    home = own_home()
    return home / ".cache" / "gostarter" if home is not None else None


def say(message: str) -> None:
    print(f"gostarter: {message}", file=sys.stderr, flush=True)


def rerun(script: Path, argv: list[str], python_argv: list[str]) -> int | None:
    """Run `script` again through `python_argv`; None when that could not start."""
    env = {**os.environ, BOOTSTRAPPED: "1"}
    try:
        return subprocess.run([*python_argv, str(script), *argv], env=env, check=False).returncode
    except OSError:
        return None


def with_uv(script: Path, argv: list[str]) -> int | None:
    uv = shutil.which("uv")
    if uv is None:
        return None
    say("gostarter's dependencies are not beside Copier; running the verification through uv")
    code = rerun(script, argv, [uv, "run", "--quiet", "--no-project", "--script"])
    return code if code == 0 else None


def _starts(python: Path) -> bool:
    """Whether the environment's Python starts at all (its base interpreter may have gone)."""
    try:
        return subprocess.run([str(python), "-c", "pass"], capture_output=True, check=False).returncode == 0
    except OSError:
        return False


def cached_environment(
    script: Path, base: Path, *, temporary: bool = False, again: bool = False
) -> tuple[Path | None, str]:
    """A virtual environment under `base` holding the dependencies: reused, or made once.
    (its python, or None and why not). OSError when `base` cannot be used."""
    deps = dependencies(script)
    key = hashlib.sha256(f"{sys.version_info[:2]} {sorted(deps)}".encode()).hexdigest()[:16]
    home = base / key
    python = home / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    if (home / ".complete").is_file():
        say(f"reusing the verification environment in {home}")
        return python, ""
    base.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=base))
    where = "a temporary environment (removed afterwards)" if temporary else f"{home} (later runs reuse it)"
    say(f"{'installing' if temporary or again else 'first run: installing'} {', '.join(deps)} into {where}")
    try:
        steps = {
            "python -m venv": [sys.executable, "-m", "venv", str(staging)],
            "pip install": [str(staging / python.relative_to(home)), "-m", "pip", "install", "--quiet",
                            "--disable-pip-version-check", *deps],
        }  # fmt: skip
        for name, step in steps.items():
            done = subprocess.run(step, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                return None, f"{name} failed: {children.last_line(done)}"
        (staging / ".complete").write_text("\n".join(deps) + "\n")
        with contextlib.suppress(OSError):  # another run finished first: use its environment
            staging.rename(home)
        return python, ""
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _verify_in(base: Path, script: Path, argv: list[str], *, temporary: bool = False) -> str:
    """Run the task in the environment under `base`; a cached one that does not start or lacks a
    dependency is rebuilt once. Returns why it could not run, or "" when it ran."""
    for attempt in ("first", "rebuilt"):
        python, why = cached_environment(script, base, temporary=temporary, again=attempt == "rebuilt")
        if python is None:
            return why
        code = rerun(script, argv, [str(python)]) if _starts(python) else None
        if code is not None and code != MISSING:
            return ""
        problem = "does not start" if code is None else "lacks a dependency"
        if attempt == "rebuilt":
            return f"the rebuilt environment {python.parent.parent} {problem}"
        say(f"the verification environment in {python.parent.parent} {problem}: rebuilding it once")
        shutil.rmtree(python.parent.parent, ignore_errors=True)
    return "unreachable"


def bootstrap(script: Path, argv: list[str], missing: str) -> int:
    """Get the dependencies and run again; on failure, one line and exit 0.

    In the re-run itself (BOOTSTRAPPED set), a dependency that is still missing
    exits MISSING, so that the first run rebuilds the environment once. A cache
    directory that cannot be used (XDG_CACHE_HOME naming a file, no
    permission) or that is not the user's own (HOME unset, the account's home
    someone else's) gives way to a temporary environment, removed afterwards.
    """
    if os.environ.get(BOOTSTRAPPED):
        return MISSING
    if with_uv(script, argv) is not None:
        return 0
    cache, why = cache_dir(), ""
    if cache is None:
        say("no cache directory of this user's own (HOME is unset): using a temporary environment instead")
    else:
        try:
            why = _verify_in(cache / "hook-env", script, argv)
        except OSError as err:
            say(
                f"cannot use the cache directory {cache / 'hook-env'} ({err.strerror or err}): "
                "using a temporary environment instead"
            )
            cache = None
    if cache is None:
        try:
            with tempfile.TemporaryDirectory(prefix="gostarter-hook-env-") as tmp:
                why = _verify_in(Path(tmp), script, argv, temporary=True)
        except OSError as again:
            why = f"no temporary environment either: {again.strerror or again}"
    if not why:
        return 0
    project = Path(argv[0]).resolve() if argv else Path.cwd()
    say(
        f"verification skipped: {missing} is not installed beside Copier ({sys.executable}) and could "
        f"not be installed ({why}); the project was kept: "
        f"verify it later with `make smoke` in {project}, or `gostarter verify {project}`"
    )
    return 0
