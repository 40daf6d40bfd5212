"""A new project staged on its destination's filesystem, then moved into place whole or not at all.

Copier renders into a hidden staging directory beside (or inside) the
destination; only a complete project is moved into place, by renames that
cannot fail half-way. Whatever fails, the destination is left as it was and
the error names it, never the staging directory. No Copier here.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from generator.errors import DestinationError, RenderError

_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}  # what only the destination's filesystem can cause


def ensure_empty_destination(dest: Path, *, ignore: Path | None = None) -> None:
    """Refuse a destination that is a file or a non-empty directory (`ignore`: gostarter's own
    staging directory inside it)."""
    if dest.is_file() or (dest.exists() and not dest.is_dir()):
        raise DestinationError(f"{dest} exists and is not a directory")
    if dest.is_dir():
        own = ignore.parent.name if ignore is not None and ignore.parent.parent == dest else None
        entries = sorted(p.name for p in dest.iterdir() if p.name != own)
        if entries:
            shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
            raise DestinationError(
                f"{dest} is not empty ({shown}); gostarter never overwrites files",
                hint="choose another directory, or empty this one first",
            )


@contextmanager
def staged(dest: Path | None) -> Iterator[Path]:
    """Where to render a new project (a path not yet made), in a staging directory on `dest`'s
    filesystem that is removed on every way out. A failure to write there (an OSError, or a
    RenderError carrying one that only the destination's filesystem could cause) is said of the
    destination (of the current directory without a `dest`)."""
    parent = _staging_parent(dest)
    shown = dest if dest is not None else parent
    try:
        staging = Path(tempfile.mkdtemp(prefix=".gostarter-", dir=parent))
    except OSError as err:
        raise DestinationError(f"cannot write in {parent}: {err.strerror}") from None
    try:
        yield staging / "project"
    except RenderError as err:
        cause = err.os_error  # Copier's OSError: the destination's filesystem, or the template's?
        if cause is not None and (cause.errno in _FULL or str(cause.filename or "").startswith(str(staging))):
            raise _unwritten(shown, cause) from None
        raise
    except OSError as err:  # writing the staged project (a full disk): name the destination
        raise _unwritten(shown, err) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _staging_parent(dest: Path | None) -> Path:
    """Where to stage a new project: on `dest`'s own filesystem, so that putting it in place is a
    rename, which cannot fail half-way. An existing (empty) `dest` holds the staging directory
    itself (it may be a mount point); otherwise its parent, where `dest` will be made. Without a
    `dest`, the current directory (else the temporary directory: `move_into_place` copies across)."""
    parent = Path.cwd() if dest is None else dest if dest.is_dir() else dest.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DestinationError(f"cannot write in {parent}: {err.strerror}") from None
    if os.access(parent, os.W_OK):
        return parent
    if dest is None:  # ./APP_NAME may still be an empty directory one can write in: see below
        return Path(tempfile.gettempdir())
    raise DestinationError(f"cannot write in {parent}: permission denied")


def move_into_place(project: Path, dest: Path) -> None:
    """Move the rendered project to `dest`, whole or not at all.

    An absent `dest` is one rename of the staged directory. An existing empty
    `dest` is kept (inode, mode, owner) and receives the staged entries by
    renames on its own filesystem; when the project was staged elsewhere (no
    DEST was given and ./APP_NAME turned out to be an empty directory on
    another filesystem), it is first copied into a hidden directory inside
    `dest`. On any failure (a full disk included) `dest` is left as empty as it
    was, and the error names `dest`.
    """
    ensure_empty_destination(dest, ignore=project)
    if not dest.exists():
        try:
            project.rename(dest)
        except OSError as err:
            raise DestinationError(f"cannot create {dest}: {err.strerror}") from None
        return
    inner: Path | None = None
    try:
        if os.stat(project).st_dev != os.stat(dest).st_dev:
            inner = Path(tempfile.mkdtemp(prefix=".gostarter-", dir=dest))
            shutil.copytree(project, inner / "project", symlinks=True)
            project = inner / "project"
        _rename_entries(project, dest)
    except OSError as err:
        raise _unwritten(dest, err) from None
    finally:
        if inner is not None:
            shutil.rmtree(inner, ignore_errors=True)


def _rename_entries(source: Path, dest: Path) -> None:
    """Rename every entry of `source` into `dest` (the same filesystem); on any failure or signal,
    the entries already moved go back, so that `dest` is as it was."""
    moved: list[str] = []
    try:
        for entry in sorted(source.iterdir()):
            entry.rename(dest / entry.name)
            moved.append(entry.name)
    except BaseException:
        for name in reversed(moved):
            with contextlib.suppress(OSError):
                (dest / name).rename(source / name)
        raise


def _unwritten(dest: Path, err: OSError) -> DestinationError:
    """The staged project could not be written: say so of the destination, never of the staging."""
    why = err.strerror
    if isinstance(err, shutil.Error) and err.args and isinstance(err.args[0], list) and err.args[0]:
        why = str(err.args[0][0][-1]).split("] ", 1)[-1].split(":", 1)[0]  # copytree: the first failure
    return DestinationError(f"cannot write the project into {dest}: {why}; {dest} was left as it was")
