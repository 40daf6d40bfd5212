"""Files gostarter writes where a person asked (`--report`, GOSTARTER_REPORT, `preset init`):
a regular file, replaced whole or not at all, and nothing else.

`check_target` judges a path before any work is done; `write_file` judges it
again and writes. What is at the path must be a regular file or nothing: a
device (/dev/null, /dev/full), a FIFO, a socket, a directory or a symbolic
link is refused (exit 2) and left as it is. A path inside a project being
generated, verified or checked is refused too: an output must never replace a
project's file. The content goes to a temporary file in the same directory
(the same filesystem), flushed to disk, then renamed over the path, so a
reader never sees half a file and a full disk leaves no partial, empty or
temporary file; an existing file keeps its mode, a new one gets the umask's.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from generator.errors import GostarterError, UsageError

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def check_target(path: Path, *, what: str = "report", inside: Iterable[Path] = ()) -> None:
    """Refuse (UsageError) a path where `what` must not be written: anything but a regular file
    or nothing, a parent that is not a directory, or a place inside one of the projects `inside`."""
    try:
        existing = path.lstat()
    except FileNotFoundError:
        existing = None
    except OSError as err:
        raise UsageError(f"cannot write the {what} to {path}: {err.strerror}") from None
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        raise UsageError(
            f"the {what} path {path} is {_kind(existing.st_mode)}; gostarter writes only regular files "
            "and left it as it is",
            hint=f"name a file for the {what}",
        )
    where = _resolved(path)
    for project in inside:
        root = _resolved(project)
        if where == root or where.is_relative_to(root):
            raise UsageError(
                f"the {what} path {path} is inside the project {project}; gostarter never writes "
                "into a project it generates, verifies or checks",
                hint=f"write the {what} outside the project",
            )
    ancestor = next((p for p in where.parents if p.exists()), None)
    if ancestor is not None and not ancestor.is_dir():
        raise UsageError(f"cannot write the {what} to {path}: {ancestor} is not a directory")


def _resolved(path: Path) -> Path:
    """`path` made absolute with its directory's symbolic links resolved (not the last name's)."""
    path = path.absolute()
    try:
        return path.parent.resolve() / path.name
    except (OSError, RuntimeError):  # a symlink loop in the directory: compare as given
        return path


def write_file(
    path: Path, data: bytes, *, what: str = "report", inside: Iterable[Path] = (), exclusive: bool = False
) -> None:
    """Write `data` to `path` as a regular file, atomically (see the module's docstring).

    A refused path is a UsageError (exit 2); a write that fails (a full disk,
    no permission) is a GostarterError (exit 1), and leaves the path as it was.
    `exclusive`: never replace a file, not even one another process wrote
    meanwhile (the complete file is linked into place, which fails when the
    path exists: FileExistsError, the path untouched).
    """
    inside = list(inside)
    check_target(path, what=what, inside=inside)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise GostarterError(f"cannot write the {what} {path}: {err.strerror}") from None
    tmp, fd = _create_beside(path, what)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
            _keep_mode(path, out.fileno())
        check_target(path, what=what, inside=inside)  # nothing else took the path meanwhile
        if exclusive:
            os.link(tmp, path)  # O_EXCL's guarantee, for a file that appears whole
        else:
            os.replace(tmp, path)
    except FileExistsError:
        raise
    except OSError as err:
        raise GostarterError(f"cannot write the {what} {path}: {_why(err)}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _create_beside(path: Path, what: str) -> tuple[Path, int]:
    """A new, empty temporary file in `path`'s directory, created with the umask's mode."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    while True:
        tmp = path.with_name(f".{path.name}.{os.urandom(4).hex()}.tmp")
        try:
            return tmp, os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        except OSError as err:
            raise GostarterError(f"cannot write the {what} {path}: {_why(err)}") from None


def _keep_mode(path: Path, fd: int) -> None:
    """An existing file keeps its permission bits through the replacement."""
    try:
        mode = stat.S_IMODE(path.lstat().st_mode)
    except FileNotFoundError:
        return
    os.fchmod(fd, mode)


def _why(err: OSError) -> str:
    if err.errno == errno.ENOSPC:
        return "no space left on the device; nothing was written"
    return err.strerror or str(err)


def encodable(value: Any) -> Any:
    """`value` (strings, in lists and mappings, at any depth) as TOML or JSON can hold it: a name that
    is not UTF-8 (Linux allows any bytes in a path; Python keeps them as surrogates) shows each such
    byte as \\xNN, the rest as it is."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if isinstance(value, dict):
        return {encodable(key): encodable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [encodable(item) for item in value]
    return value
