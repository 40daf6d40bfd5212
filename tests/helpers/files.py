"""What a directory holds (snapshots) and filesystems that fill up."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path


def snapshot(root: Path) -> dict[str, str]:
    """Every file under `root` with the hash of its content."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@contextlib.contextmanager
def tmpfs(mountpoint: Path, size: str) -> Iterator[Path]:
    """A small tmpfs mounted at `mountpoint` (made if absent), unmounted on the way out: a real
    filesystem that fills up. Needs root (CI runs as root)."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mountpoint)], check=True)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def fill(directory: Path) -> None:
    """Fill the filesystem of `directory` (a file named .fill) until a write fails: creating an
    empty file still works afterwards, writing a byte into it does not."""
    fd = os.open(directory / ".fill", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)
