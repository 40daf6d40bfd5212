"""Child processes that die with gostarter.

Every program gostarter starts (the service binary, `go build`, the docker
build client, git) runs in a process group of its own, so that a terminal's
Ctrl-C reaches gostarter alone and gostarter ends the whole group, with
whatever the child started, on every way out: success, failure, Ctrl-C,
SIGTERM, SIGHUP, and a second signal during that clean-up (signals are held
while a group is being ended, and delivered right after). `kill_strays` is the
last resort on the way out of an interrupted run, for processes started by
libraries (Copier's git calls, a template's task) that gostarter does not
start itself; `adopt_orphans` keeps their orphans within its reach.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import subprocess
    from concurrent.futures import ProcessPoolExecutor

HELD = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP arriving inside are delivered on the way out, so the step inside
    (ending a process group) is never cut short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = signal.pthread_sigmask(signal.SIG_BLOCK, HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, saved)


def popen(argv: Sequence[str | os.PathLike[str]], **kwargs: Any) -> subprocess.Popen[Any]:
    """subprocess.Popen in a new session (a process group of its own); `end` it on every way out."""
    import subprocess  # here: `gostarter --help` starts no process

    return subprocess.Popen(argv, start_new_session=True, **kwargs)


def end(proc: subprocess.Popen[Any], *, grace: float = 0.0) -> int:
    """End `proc` and everything in its process group: SIGTERM first when `grace` > 0, then SIGKILL.
    Returns its exit code. Signals are held meanwhile."""
    import subprocess

    with signals_held():
        if grace > 0 and proc.returncode is None:
            _signal_group(proc, signal.SIGTERM)
            try:
                return proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        if proc.returncode is None:  # not yet reaped: the group id is still ours
            _signal_group(proc, signal.SIGKILL)
        return proc.wait()


def _signal_group(proc: subprocess.Popen[Any], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signum)


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    timeout: float | None = None,
    text: bool = True,
    **kwargs: Any,
) -> subprocess.CompletedProcess[Any]:
    """subprocess.run(argv, capture_output=True, check=False), in a process group of its own that
    is ended on a timeout (TimeoutExpired is raised, as subprocess.run does), an error or a signal."""
    import subprocess

    proc = popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=text, **kwargs)
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException:
        end(proc)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        raise
    return subprocess.CompletedProcess(list(argv), proc.returncode, out, err)


def last_line(done: subprocess.CompletedProcess[Any]) -> str:
    """The line that says why a command failed: its first `fatal:` or `error:` line where it has one
    (git's cause; what follows is advice), else the last non-blank line of its stderr (else
    stdout), else its exit status."""
    said = done.stderr or done.stdout or ""
    if isinstance(said, bytes):
        said = said.decode(errors="replace")
    lines = [line.strip() for line in str(said).splitlines() if line.strip()]
    causes = [line for line in lines if line.lower().startswith(("fatal:", "error:"))]
    return (causes or lines or [f"exit {done.returncode}"])[0 if causes else -1]


def adopt_orphans() -> None:
    """Linux: make this process the "subreaper" of its descendants (PR_SET_CHILD_SUBREAPER), so
    that one whose parent died (a template task's `sleep` after Copier killed its shell) is
    re-parented here rather than to init, where `kill_strays` would no longer find it."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


_PR_SET_CHILD_SUBREAPER = 36


def _parents() -> dict[int, int]:
    """Every process's parent, from Linux's /proc (empty elsewhere)."""
    parents = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                stat = (Path(entry.path) / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[-1].split()
            if len(fields) > 1:
                parents[int(entry.name)] = int(fields[1])
    return parents


def _parent_of(pid: int) -> int | None:
    """`pid`'s parent, from Linux's /proc (None elsewhere, or when it is gone)."""
    try:
        fields = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[-1].split()
    except OSError:
        return None
    return int(fields[1]) if len(fields) > 1 else None


def descendants(root: int) -> list[int]:
    """Every process below `root` (children, their children, ...), from /proc."""
    parents = _parents()
    found: list[int] = []
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        kids = [pid for pid, ppid in parents.items() if ppid == parent and pid not in found]
        found += kids
        frontier += kids
    return found


def kill_strays() -> list[int]:
    """SIGKILL every process that still descends from this one; their pids. Called on the way out
    of an interrupted run, after every clean-up, so whatever is left is a stray."""
    found = descendants(os.getpid())
    for pid in found:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return found


def _worker_start(parent: int, tmp: str | None) -> None:
    """A worker: Ctrl-C in a terminal reaches the whole process group, and the parent alone
    decides when its workers stop; SIGTERM and SIGHUP end a worker at once, and so does its
    parent's death, however it dies (SIGKILL included: the worker would otherwise wait forever
    for work). `parent` is the process that made the pool: the worker's parent when forked, its
    grandparent when started by a fork server (which ends when `parent` does). `tmp`: where its
    temporary files go."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    ppid = os.getppid()
    if ppid != parent and _parent_of(ppid) not in (parent, None):  # it died before the line above
        os._exit(1)
    if tmp is not None:
        import tempfile

        tempfile.tempdir = tmp


_PR_SET_PDEATHSIG = 1


def cores() -> int:
    """The cores this process may run on (its CPU affinity, as taskset or a container sets it)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def workers(count: int, tmp: Path | None = None, *, preload: Sequence[str] = ()) -> ProcessPoolExecutor:
    """`count` worker processes for CPU-bound work on every core: the web initializr's renders, a
    fleet check's predictions. Without `preload` they are forked from this one (what it imported,
    they have: a render in a worker starts warm; fork before starting threads of your own). With
    `preload` (module names) they are forked from a fork server that imported those modules
    first: a clean process that holds none of this one's sockets or files, so a pool made while
    serving inherits no listening socket and no client's connection. `stop` them on a way out
    that must not wait for the work under way."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if preload:
        context: Any = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(preload))
    else:
        context = multiprocessing.get_context("fork")
    return ProcessPoolExecutor(
        max_workers=count,
        mp_context=context,
        initializer=_worker_start,
        initargs=(os.getpid(), str(tmp) if tmp is not None else None),
    )


def stop(pool: ProcessPoolExecutor) -> None:
    """End `pool` now: what has not started never will, and the workers are killed mid-work (what
    they wrote is the caller's to remove). Python 3.14's `kill_workers()` where it exists; before
    it, ProcessPoolExecutor has no public way, so the private process table is the fallback."""
    kill_workers = getattr(pool, "kill_workers", None)
    if callable(kill_workers):
        kill_workers()
        pool.shutdown(wait=True, cancel_futures=True)
        return
    processes = dict(getattr(pool, "_processes", None) or {})
    for process in processes.values():
        with contextlib.suppress(ProcessLookupError, PermissionError, OSError, AttributeError):
            os.kill(process.pid, signal.SIGKILL)
    pool.shutdown(wait=True, cancel_futures=True)
