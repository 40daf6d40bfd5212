"""Files that come from outside (answers files, presets), read without blocking and within bounds.

A path from a project or the environment may name anything: a FIFO that
never delivers, /dev/zero, a file of gigabytes, a directory. Only a regular
file of at most `MAX_BYTES` is read; anything else is one UsageError.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from generator.errors import UsageError

MAX_BYTES = 1024 * 1024
_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def read_text(path: Path, *, what: str, error: type[UsageError] = UsageError) -> str:
    """The UTF-8 text of the regular file at `path` (`what` names it in errors: "preset").

    FileNotFoundError passes through, so that callers can say how to make the file.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as err:
        raise error(f"cannot read {what} {path}: {err.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        kind = _KINDS.get(stat.S_IFMT(info.st_mode), "something else")
        raise error(f"{what} {path} is {kind}, not a regular file")
    with os.fdopen(fd, "rb") as file:
        try:
            data = file.read(MAX_BYTES + 1)
        except OSError as err:
            raise error(f"cannot read {what} {path}: {err.strerror}") from None
    if len(data) > MAX_BYTES:
        raise error(f"{what} {path} is larger than {MAX_BYTES // 1024 // 1024} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise error(f"{what} {path} is not UTF-8 text (byte {err.start})") from None
