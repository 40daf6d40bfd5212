"""The processes below a process, as Linux's /proc shows them."""

from __future__ import annotations

import contextlib
from pathlib import Path


def descendants(pid: int) -> dict[int, str]:
    """Every live process descending from `pid`, with its command line (Linux /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[-1].split()[1])
    found: dict[int, str] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                found[child] = cmdline(child)
                frontier.append(child)
    return found


def cmdline(pid: int) -> str:
    """A process's command line, or "" when it has gone (or is a zombie)."""
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def alive(pid: int, was: str) -> bool:
    """Whether process `pid` still runs the command line `was` (not a zombie, not a reused pid)."""
    return bool(was) and cmdline(pid) == was
