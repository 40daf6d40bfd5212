"""Nothing a template renders lands in a git directory: which paths lead into one, and the refusal.

A file under `.git` (hooks, config: fsmonitor) would run commands the next
time git runs. render.py asks `into_git_dir` about every path Copier renders,
before Copier writes it, and raises `IntoGitDir`; `refused` turns that into
the one error that names the path. No Copier here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from generator import sources
from generator.errors import GitDirectoryError


class IntoGitDir(Exception):
    """Copier was about to render `path` (relative to the destination) into a git directory."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def into_git_dir(root: Path, relpath: Path) -> bool:
    """Whether `relpath` under `root` is in a git directory: a `.git` part (in any case, as git
    itself refuses on case-insensitive file systems), or a symlink already written leading into one."""
    if any(part.casefold() == ".git" for part in relpath.parts):
        return True
    with contextlib.suppress(OSError, RuntimeError, ValueError):
        real = (root / relpath).resolve().relative_to(root.resolve())
        return any(part.casefold() == ".git" for part in real.parts)
    return False


@contextmanager
def refused(template: str) -> Iterator[None]:
    """A path Copier was about to render into a git directory, as the refusal that names it."""
    try:
        yield
    except IntoGitDir as err:
        raise GitDirectoryError(
            f"the template {sources.redact(template)} writes {err.path}, inside a git directory; "
            "gostarter never lets a template write there (it would run commands: hooks, fsmonitor), "
            "nothing was changed",
            path=err.path,
            hint="report it to whoever maintains the template",
        ) from None
