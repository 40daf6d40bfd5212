"""Deterministic archives of a rendered project: the same files give the same bytes (kept in a cache).

Entries are sorted, timestamps fixed, owners blank; a file keeps only whether
it is executable (0755) or not (0644), so `scripts/smoke.sh` stays runnable
after `unzip` or `tar x` alike.
"""

from __future__ import annotations

import gzip
import io
import stat
import tarfile
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

FORMATS = {"zip": "application/zip", "tgz": "application/gzip"}
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can hold


def _entries(project: Path) -> list[tuple[str, int, bytes]]:
    """(path inside the archive, mode, content) of each regular file, sorted by path."""
    found = []
    for path in sorted(project.rglob("*")):
        if path.is_file() and not path.is_symlink():
            mode = 0o755 if path.stat().st_mode & stat.S_IXUSR else 0o644
            found.append((path.relative_to(project).as_posix(), mode, path.read_bytes()))
    return found


def pack(project: Path, top: str, kind: str) -> bytes:
    """The project as a `kind` ("zip" or "tgz") archive whose one top folder is `top`."""
    entries = [(f"{top}/{name}", mode, data) for name, mode, data in _entries(project)]
    return _zip(entries) if kind == "zip" else _tgz(entries)


def _zip(entries: list[tuple[str, int, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, mode, data in entries:
            info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
            info.create_system = 3  # Unix, so that unzip applies the mode below
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def _tgz(entries: list[tuple[str, int, bytes]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, mode, data in entries:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            archive.addfile(info, io.BytesIO(data))
    compressed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0) as gz:
        gz.write(raw.getvalue())
    return compressed.getvalue()


class ArchiveCache:
    """The last few archives, by format and answers: the same answers give the same bytes."""

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self._kept: OrderedDict[tuple[Any, ...], tuple[str, bytes, str]] = OrderedDict()

    def get(self, key: tuple[Any, ...]) -> tuple[str, bytes, str] | None:
        found = self._kept.get(key)
        if found is not None:
            self._kept.move_to_end(key)
        return found

    def put(self, key: tuple[Any, ...], value: tuple[str, bytes, str]) -> None:
        if self.entries <= 0:
            return
        self._kept[key] = value
        self._kept.move_to_end(key)
        while len(self._kept) > self.entries:
            self._kept.popitem(last=False)
