"""What one rendering of a template may cost: bytes written, memory used, and where a fault is.

A template is code, and a fork or a release can be broken or hostile. A
rendered file, and all the files of one rendering, may hold at most
`$GOSTARTER_MAX_RENDER_BYTES` (default 64 MiB); more is refused naming the
file. Memory is bounded by the kernel, not by guessing which Jinja expression
is costly: while Copier runs, the process's data limit (RLIMIT_DATA: the heap
and every private writable mapping, which is where a string or a list lives)
is lowered to what it uses now plus `memory_budget()`, so `{{ 'x' * 10**10 }}`
fails at once with MemoryError instead of taking gigabytes, and every other
way of building something huge fails the same way. Time is bounded the same
way: while Copier runs, the process may spend at most
`$GOSTARTER_MAX_RENDER_SECONDS` (default 120) seconds of CPU of its own (a
loop of 10**10 steps is stopped where it runs; git and other children have
deadlines of their own). Nothing here imports Copier or Jinja.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import stat
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType

from generator.errors import UsageError

MAX_RENDER_ENV = "GOSTARTER_MAX_RENDER_BYTES"
DEFAULT_MAX_RENDER_BYTES = 64 << 20
_SIZE = re.compile(r"(\d+)(Ki|Mi|Gi)?")
_UNITS = {"": 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}
# Copier holds a file's text, its UTF-8 bytes and the answers at once, Python and git live
# beside: this much over the limit leaves every honest template far from the bound.
MAX_SECONDS_ENV = "GOSTARTER_MAX_RENDER_SECONDS"
DEFAULT_MAX_SECONDS = 120
_MEMORY_BASE = 512 << 20
_MEMORY_FACTOR = 8


def max_render_bytes() -> int:
    """The most one rendered file, or one rendering in all, may hold (`$GOSTARTER_MAX_RENDER_BYTES`)."""
    text = os.environ.get(MAX_RENDER_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_RENDER_BYTES
    match = _SIZE.fullmatch(text)
    if match is None or int(match.group(1)) == 0:
        raise UsageError(
            f"{MAX_RENDER_ENV}={text!r} is not a size", hint="write bytes, or a size such as 64Mi or 1Gi"
        )
    return int(match.group(1)) * _UNITS[match.group(2) or ""]


def max_render_seconds() -> int:
    """The most CPU time, in seconds, one Copier call may spend (`$GOSTARTER_MAX_RENDER_SECONDS`)."""
    text = os.environ.get(MAX_SECONDS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_SECONDS
    if not (text.isascii() and text.isdigit()) or int(text) == 0:
        raise UsageError(f"{MAX_SECONDS_ENV}={text!r} is not a number of seconds", hint="write e.g. 120")
    return int(text)


class RenderTimeExceeded(Exception):
    """Raised wherever Python is when a rendering has spent its CPU time (see `cpu_bound`)."""

    def __init__(self, seconds: int) -> None:
        super().__init__(f"more than {seconds} s of CPU")
        self.seconds = seconds


@contextlib.contextmanager
def cpu_bound() -> Iterator[None]:
    """Inside, this process may spend at most `max_render_seconds()` seconds of CPU time of its own
    (ITIMER_VIRTUAL: not its children's, not time spent waiting); past it, RenderTimeExceeded is
    raised in the main thread, where the template's code runs. An outer bound already running
    governs alone; outside the main thread (where no signal is delivered), nothing is bounded."""
    seconds = max_render_seconds()
    if (
        not hasattr(signal, "ITIMER_VIRTUAL")
        or threading.current_thread() is not threading.main_thread()
        or signal.getitimer(signal.ITIMER_VIRTUAL)[0] > 0
    ):
        yield
        return

    def expired(signum: int, frame: object) -> None:
        raise RenderTimeExceeded(seconds)

    previous = signal.signal(signal.SIGVTALRM, expired)
    signal.setitimer(signal.ITIMER_VIRTUAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)


def shown(size: int) -> str:
    """A size as a person reads it: 1.5 GiB, 64 MiB, 900 bytes."""
    for unit, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if size >= unit:
            return f"{size / unit:.3g} {name}"
    return f"{size} bytes"


def memory_budget() -> int:
    """How much more memory than it holds now gostarter may use while Copier renders."""
    return _MEMORY_BASE + _MEMORY_FACTOR * max_render_bytes()


def _data_in_use() -> int | None:
    """This process's data size (VmData: what RLIMIT_DATA counts), None where it cannot be read."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmData:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


@contextlib.contextmanager
def memory_bound() -> Iterator[None]:
    """Inside, this process may use at most `memory_budget()` more memory than when it entered
    (never more than an outer bound allows); past it, an allocation raises MemoryError. Where the
    kernel offers no data limit (not Linux), nothing is bounded."""
    try:
        import resource
    except ImportError:  # not a Unix
        yield
        return
    in_use = _data_in_use()
    if in_use is None:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    limit = in_use + memory_budget()
    for ceiling in (soft, hard):
        if ceiling != resource.RLIM_INFINITY:
            limit = min(limit, ceiling)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def template_line(err: BaseException) -> tuple[str, int] | None:
    """Where in a template `err` was raised: the file (as Jinja named it) and line of the innermost
    template code in its traceback, or in that of the exception it was raised from; None
    when no template code raised it. Jinja rewrites a traceback through template code into frames
    of its own (their globals hold `__jinja_exception__`), compiled at the template's line."""
    seen: set[int] = set()
    error: BaseException | None = err
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        place = _innermost(error.__traceback__)
        if place is not None:
            return place
        error = error.__cause__
    return None


def _innermost(tb: TracebackType | None) -> tuple[str, int] | None:
    place = None
    while tb is not None:
        if "__jinja_exception__" in tb.tb_frame.f_globals:
            place = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return place


def template_name(filename: str, *, scratch: str | None = None) -> str:
    """A template file as its author knows it: relative to the template's root (the directory
    with its copier.yml), wherever Copier cloned or unpacked it; a string Jinja rendered that is
    not a file (a file or folder name, a default or validator in copier.yml) is said so. A clone
    Copier made in `scratch` and has removed already is the first directory under `scratch`."""
    if not filename or filename.startswith("<"):
        return "a file or folder name or a value in copier.yml"
    path = Path(filename)
    for parent in path.parents:
        if (parent / "copier.yml").is_file() or (parent / "copier.yaml").is_file():
            return str(path.relative_to(parent))
    if scratch is not None and path.is_relative_to(scratch) and len(path.relative_to(scratch).parts) > 1:
        return str(Path(*path.relative_to(scratch).parts[1:]))
    return path.name


def oversized(root: Path, names: Iterable[str]) -> str:
    """Why the files `names` (relative to `root`) are too big to be a rendering ("" if they are
    not): the first one over the limit, else their total. A name that is not a regular file is
    not counted (a directory, a symbolic link, a file deleted)."""
    limit, total = max_render_bytes(), 0
    for name in names:
        try:
            st = os.lstat(root / name)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        if st.st_size > limit:
            return f"renders {name} at {shown(st.st_size)}, over the {shown(limit)} limit ({MAX_RENDER_ENV})"
        total += st.st_size
        if total > limit:
            return f"renders more than {shown(limit)} in all, over the limit ({MAX_RENDER_ENV})"
    return ""


def files_under(root: Path) -> Iterator[str]:
    """Every file under `root` (a link to one included, any `.git` aside) as a relative name, found without
    recursion: a tree thousands of levels deep is walked like any other."""
    pending = [root]
    while pending:
        directory = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            if entry.name == ".git":  # a repository, or a worktree's pointer to one
                continue
            if entry.is_dir(follow_symlinks=False):
                pending.append(Path(entry.path))
            elif entry.is_file():
                yield os.path.relpath(entry.path, root)


def remove_tree(root: Path) -> None:
    """shutil.rmtree(root, ignore_errors=True) without recursion: a tree thousands of levels deep
    (a project's untracked files, copied for a preview) is removed like any other."""
    if root.is_symlink():  # the link, never what it points to
        with contextlib.suppress(OSError):
            root.unlink()
        return
    directories, pending = [], [root]
    while pending:
        directory = pending.pop()
        directories.append(directory)
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                pending.append(Path(entry.path))
            else:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
    for directory in reversed(directories):
        with contextlib.suppress(OSError):
            os.rmdir(directory)


def same_content(a: Path, b: Path) -> bool:
    """Whether two files hold the same bytes, read a block at a time (never whole)."""
    if a.stat().st_size != b.stat().st_size:
        return False
    with a.open("rb") as one, b.open("rb") as other:
        while True:
            block = one.read(_BLOCK)
            if block != other.read(_BLOCK):
                return False
            if not block:
                return True


def holds_all(path: Path, needles: Iterable[bytes]) -> bool:
    """Whether the file holds every one of `needles`, read a block at a time (never whole)."""
    missing = set(needles)
    keep = max((len(needle) for needle in missing), default=1) - 1
    tail = b""
    with path.open("rb") as stream:
        while missing:
            block = stream.read(_BLOCK)
            if not block:
                return False
            window = tail + block
            missing = {needle for needle in missing if needle not in window}
            tail = window[-keep:] if keep else b""
    return True


_BLOCK = 1 << 20
