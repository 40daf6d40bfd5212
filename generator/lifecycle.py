"""The template lifecycle of generated projects: which version they have, what an update would change.

`preview` (behind `update --dry-run`) runs the real update, Copier's
three-way merge, on a throwaway copy of the project and compares the copy with
the project file by file. `check_all` (behind `check`) predicts the same
classification from two renders of the template, the project's version and
the newest, made from plain version trees (each template listed and cloned
once per command), and falls back to `preview` where the prediction cannot
stand in (migrations, a template that needs trust). Neither touches the
project.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w
import yaml
from packaging.version import InvalidVersion, Version

from generator import bounds, children, outputs, render, sources
from generator.errors import GitDirectoryError, GostarterError, RenderBoundError, UsageError
from generator.project import ANSWERS_FILE, read_answers, recorded

# What Copier writes around a conflict it could not merge (its "inline" mode).
CONFLICT_MARKERS = ("<<<<<<< before updating", ">>>>>>> after updating")
STATUSES = ("updated", "conflict", "added", "removed")


@dataclass(frozen=True)
class FileChange:
    path: str
    status: str  # one of STATUSES


@dataclass
class Drift:
    """Where a project stands against its template."""

    project: Path
    source: str
    current: str
    newest: str
    changes: list[FileChange] = field(default_factory=list)

    @property
    def behind(self) -> bool:
        if by_commit(self.newest):  # a template without release tags: compared by commit, as Copier does
            return not self.newest.startswith(commit_of(self.current) or "-")
        return _version(self.newest) > _version(self.current)

    def count(self, status: str) -> int:
        return sum(1 for change in self.changes if change.status == status)


_DESCRIBED = re.compile(r"^v?(?P<tag>.+)-(?P<distance>\d+)-g(?P<sha>[0-9a-f]+)$")
_FULL_SHA = re.compile(r"[0-9a-f]{40}")
_SHORT_SHA = re.compile(r"(?P<sha>[0-9a-f]{4,40})(-dirty)?")


def by_commit(newest: str) -> bool:
    """Whether `newest` is a commit id: what `newest_version` says of a template with no release tag."""
    return bool(_FULL_SHA.fullmatch(newest))


def commit_of(recorded: str) -> str:
    """The commit id in a recorded `_commit` (a bare or `-dirty` id, or `git describe` output);
    "" when it names none (a tag)."""
    described = _DESCRIBED.match(recorded)
    if described:
        return described["sha"]
    bare = _SHORT_SHA.fullmatch(recorded)
    return bare["sha"] if bare else ""


def _version(text: str) -> Version:
    """A recorded `_commit` as a version: a tag, `git describe` output (a tag plus commits, as
    Copier records a commit after a tag), else 0 (a bare commit: behind any release)."""
    try:
        return Version(text)
    except InvalidVersion:
        pass
    described = _DESCRIBED.match(text)
    if described:
        try:
            return Version(f"{described['tag']}.post{described['distance']}+g{described['sha']}")
        except InvalidVersion:
            pass
    return Version("0")


def as_version(text: str) -> Version:
    """A recorded `_commit` or `git describe` output as a PEP 440 version (0 for a bare commit)."""
    return _version(text)


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return sources.run_local_git([*sources.GIT, *args], cwd=cwd)


def newest_version(source: str) -> str:
    """The highest PEP 440 release tag of the template at `source` (what Copier and Renovate
    compare); for a template without one, the commit id of its default branch's head, which is
    what Copier takes and records then (so it is checked and updated by commit)."""
    argv = ["git", "ls-remote", "--", sources.git_url(source)]
    listed = sources.run_git(argv, source=source)
    if listed.returncode != 0:
        raise sources.unreachable(source, listed)
    versions = []
    head = ""
    for line in str(listed.stdout).splitlines():
        sha, _, ref = line.partition("\t")
        if ref == "HEAD":
            head = sha.strip()
        if not ref.startswith("refs/tags/") or ref.endswith("^{}"):
            continue
        tag = ref.removeprefix("refs/tags/")
        try:
            version = Version(tag)
        except InvalidVersion:
            continue
        if not version.is_prerelease:
            versions.append((version, tag))
    if versions:
        return max(versions)[1]
    if by_commit(head):
        return head
    raise UsageError(
        sources.redact(f"the template {source} has neither a version tag (PEP 440, e.g. 1.2.0) nor a HEAD")
    )


@contextmanager
def throwaway_copy(project: Path) -> Iterator[Path]:
    """A copy of the project's files as a clean git work tree of its own: whatever `.git` is in the
    project (a directory, a worktree's file, a `gitdir:` pointing elsewhere), the copy shares no
    repository with it, so nothing done in the copy can reach the user's refs, index or objects."""
    tmp = tempfile.mkdtemp(prefix="gostarter-preview-")
    try:
        copy = Path(tmp) / project.name
        with update_lock(project, shared=True):  # never a half-updated project
            _copy_tree(project, copy)
        for argv in (
            ("init", "-q"),
            ("add", "-A"),
            ("commit", "-q", "--no-verify", "--allow-empty", "-m", "gostarter preview: the project as it is"),
        ):
            done = _git(copy, *argv)
            if done.returncode != 0:
                raise GostarterError(
                    f"cannot prepare a throwaway copy of {project}: {done.stderr.strip()[-200:]}"
                )
        yield copy
    finally:
        bounds.remove_tree(Path(tmp))


@contextmanager
def about(project: Path, copy: Path) -> Iterator[None]:
    """Errors raised inside name `project` where they would name its throwaway `copy`: the user
    asked about the project, and the copy is gone by the time they read the message."""
    try:
        yield
    except GostarterError as err:
        err.message = err.message.replace(str(copy), str(project))
        err.hint = err.hint.replace(str(copy), str(project))
        raise


def _copy_tree(source: Path, dest: Path) -> None:
    """Copy `source` to `dest` as shutil.copytree(symlinks=True) would, any `.git` aside, without
    recursion (a tree thousands of levels deep is copied like any other); what is neither a
    directory, a file nor a symbolic link (a FIFO, a socket) is not copied: no template writes one."""
    pending = [(source, dest)]
    while pending:
        here, there = pending.pop()
        there.mkdir()
        for entry in os.scandir(here):
            target = there / entry.name
            if entry.name == ".git":
                continue
            if entry.is_symlink():
                target.symlink_to(os.readlink(entry.path))
            elif entry.is_dir():
                pending.append((Path(entry.path), target))
            elif entry.is_file():
                shutil.copy2(entry.path, target)


def _files(root: Path) -> dict[str, Path]:
    """Every file under `root`, `.git` aside, by its relative name (however deep the tree)."""
    return {name: root / name for name in bounds.files_under(root)}


def conflicted(root: Path) -> list[str]:
    """Files with Copier's conflict markers, and .rej files, under `root`."""
    found = []
    for name, path in sorted(_files(root).items()):
        if name.endswith(".rej"):
            found.append(name)
            continue
        try:
            if bounds.holds_all(path, [marker.encode() for marker in CONFLICT_MARKERS]):
                found.append(name)
        except OSError:
            continue
    return found


def classify(before: Path, after: Path) -> list[FileChange]:
    """What changed from `before` to `after`, file by file (the answers file aside)."""
    old, new = _files(before), _files(after)
    conflicts = set(conflicted(after))
    changes = []
    for name in sorted(set(old) | set(new)):
        if name == ANSWERS_FILE:
            continue
        if name in conflicts:
            changes.append(FileChange(name, "conflict"))
        elif name not in old:
            changes.append(FileChange(name, "added"))
        elif name not in new:
            changes.append(FileChange(name, "removed"))
        elif not _same(old[name], new[name]):
            changes.append(FileChange(name, "updated"))
    return changes


def preview(project: Path, copy: Path, *, trust: bool, data: Mapping[str, Any] | None = None) -> Drift:
    """Update `copy` (a throwaway copy of `project`) to the newest version, with the answers in
    `data` changed, and say what changed."""
    source, current = recorded(project)
    newest = newest_version(source)
    drift = Drift(project, source, current, newest)
    if drift.behind or data:
        with about(project, copy):
            render.update(copy, interactive=False, quiet=True, trust=trust, run_tasks=False, data=data)
        drift.changes = classify(project, copy)
    return drift


class Sources:
    """What one `check` command learns of each template source, once: its newest version, a
    clone, and a plain tree of each version it needs."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self._newest: dict[str, str] = {}
        self._clones: dict[str, Path] = {}
        self._trees: dict[tuple[str, str], Path] = {}

    def newest(self, source: str) -> str:
        if source not in self._newest:
            self._newest[source] = newest_version(source)
        return self._newest[source]

    def tree(self, source: str, version: str) -> Path:
        """The template at `version` as a plain directory (Copier renders it without cloning)."""
        if source not in self._clones:
            clone = self.work / f"clone{len(self._clones)}"
            argv = ["git", "clone", "--quiet", "--no-checkout", "--", sources.git_url(source), str(clone)]
            cloned = sources.run_git(argv, source=source, cwd=self.work)
            if cloned.returncode != 0:
                last = str(cloned.stderr).strip()[-200:]
                raise UsageError(sources.redact(f"cannot clone the template {source}: {last}"))
            self._clones[source] = clone
        if (source, version) not in self._trees:
            clone = self._clones[source]
            tree = clone.parent / f"{clone.name}-v{len(self._trees)}"  # a version may hold a '/'
            tree.mkdir()
            archive = sources.run_git(
                ["git", "-C", str(clone), "archive", "--format=tar", "--end-of-options", version],
                source=source,
                binary=True,
            )
            if archive.returncode != 0:
                raise UsageError(sources.redact(f"the template {source} has no version {version}"))
            extract_tar(archive.stdout, tree)
            self._trees[(source, version)] = tree
        return self._trees[(source, version)]


def extract_tar(data: bytes, dest: Path) -> None:
    """Unpack a tar archive of a template into `dest`, refusing what could land outside it.

    Python's "data" filter where it exists (3.11.4 and later); on older 3.11 (Debian 12's
    3.11.2), the same rules checked here: no absolute or escaping names or link targets, no
    devices, FIFOs or other special files.
    """
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
            return
        root = dest.resolve()
        members = []
        for member in tar.getmembers():
            if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
                raise UsageError(f"the template archive holds a special file: {member.name}")
            target = (root / member.name).resolve()
            if not target.is_relative_to(root):
                raise UsageError(f"the template archive holds a path outside itself: {member.name}")
            if member.issym() or member.islnk():
                base = target.parent if member.issym() else root
                link = (base / member.linkname).resolve()
                if Path(member.linkname).is_absolute() or not link.is_relative_to(root):
                    raise UsageError(f"the template archive links outside itself: {member.name}")
            member.mode &= 0o755  # neither set-id bits nor group/other write
            members.append(member)
        tar.extractall(dest, members=members)


class _Inexact(Exception):
    """The prediction cannot stand in for the real update here (migrations, extensions, an error)."""


def _migrations_between(tree: Path, old: str, new: str) -> bool:
    config = next((tree / name for name in ("copier.yml", "copier.yaml") if (tree / name).is_file()), None)
    data = yaml.safe_load(config.read_text(encoding="utf-8")) if config else {}
    for migration in (data or {}).get("_migrations") or []:
        version = migration.get("version") if isinstance(migration, dict) else None
        if version is None or _version(old) < _version(str(version)) <= _version(new):
            return True
    return False


def _merges_cleanly(mine: Path, base: Path, theirs: Path) -> bool:
    argv = ["git", "merge-file", "-p", "--quiet", str(mine), str(base), str(theirs)]
    merged = sources.run_local_git(argv, cwd=mine.parent)
    return merged.returncode == 0


def predict(project: Path, old_tree: Path, new_tree: Path, drift: Drift, work: Path) -> list[FileChange]:
    """The files an update would change, by three-way comparison of the project with the old and
    the new version rendered from its answers: what Copier's update does, without its clones."""
    if _migrations_between(new_tree, drift.current, drift.newest):
        raise _Inexact("migrations run between these versions")
    answers = {key: value for key, value in read_answers(project).items() if not key.startswith("_")}
    old_dir, new_dir = work / "old", work / "new"
    _render_both(answers, (old_tree, old_dir), (new_tree, new_dir))
    old, new, mine = _files(old_dir), _files(new_dir), _files(project)
    changes = []
    for name in sorted(set(old) | set(new)):
        if name == ANSWERS_FILE or (name in old and name in new and _same(old[name], new[name])):
            continue  # the template did not change it
        if name not in new:
            if name in mine:
                changes.append(FileChange(name, "removed"))
        elif name not in mine:
            changes.append(FileChange(name, "added"))
        elif _same(mine[name], new[name]):
            continue
        elif name in old and (
            _same(mine[name], old[name]) or _merges_cleanly(mine[name], old[name], new[name])
        ):
            changes.append(FileChange(name, "updated"))
        else:
            changes.append(FileChange(name, "conflict"))
    return changes


def _render_both(answers: Mapping[str, Any], *versions: tuple[Path, Path]) -> None:
    """Render each (tree, destination) with the recorded answers; _Inexact where that fails,
    except for a release refused outright (it writes into a git directory) or one past a bound
    (memory, CPU time), which the real update would meet again at the same cost."""
    try:
        for tree, dest in versions:
            render.render_version(tree, dest, answers)
    except (GitDirectoryError, RenderBoundError):
        raise
    except GostarterError as err:
        raise _Inexact(err.message) from None


def _same(a: Path, b: Path) -> bool:
    return bounds.same_content(a, b)


def check_all(projects: list[Path], *, trust: bool) -> Iterator[tuple[Path, Drift | GostarterError]]:
    """Where each project stands, without touching any: each template is listed and cloned once,
    and each project's update is predicted from two renders; where the prediction cannot stand in
    (migrations, extensions), the real update runs on a throwaway copy.

    The renders of a fleet are CPU work that does not depend on each other: with two projects or
    more behind, they run in worker processes, one per core (rows still come in the given order).
    One project's failure, of whatever kind, is that project's row: it never stops the others.
    """
    with tempfile.TemporaryDirectory(prefix="gostarter-check-") as tmp:
        known = Sources(Path(tmp))
        looked = [_row(_look, project, known) for project in projects]
        behind = {i: found for i, found in enumerate(looked) if isinstance(found, _Behind)}
        work = {i: Path(tmp) / f"p{i}" for i in behind}
        pool, started = _in_workers(behind, work, Path(tmp))
        try:
            for i, project in enumerate(projects):
                found = looked[i]
                if isinstance(found, _Behind):
                    found = _row(_finish, found, started.get(i), work[i], trust)
                yield project, found
        except BaseException:  # Ctrl-C, SIGTERM, a consumer gone: no waiting for renders under way
            if pool is not None:
                children.stop(pool)
            raise
        if pool is not None:
            pool.shutdown(wait=True)


def _in_workers(
    behind: Mapping[int, _Behind], work: Mapping[int, Path], tmp: Path
) -> tuple[ProcessPoolExecutor | None, dict[int, Future[list[FileChange] | str]]]:
    """The predictions started in worker processes, one per core, when two or more are to be
    made; none where workers cannot be made here (no /dev/shm, no fork): then `_finish` predicts
    each in this process, as it does for one."""
    count = min(children.cores(), len(behind))
    if count < 2:
        return None, {}
    pool = None
    try:
        pool = children.workers(count, tmp)
        return pool, {i: pool.submit(_predicted, found, work[i]) for i, found in behind.items()}
    except (OSError, ImportError, NotImplementedError, BrokenProcessPool):
        if pool is not None:
            children.stop(pool)
        return None, {}


def _row(check: Callable[..., Any], *args: Any) -> Any:
    """What `check(*args)` found, or its failure of whatever kind as a GostarterError: a project's row."""
    try:
        return check(*args)
    except GostarterError as err:
        return err
    except Exception as err:  # noqa: BLE001 - a fleet check reports every project
        detail = sources.redact(str(err).splitlines()[0] if str(err) else "")
        return GostarterError(f"could not be checked ({type(err).__name__}: {detail})")


@dataclass(frozen=True)
class _Behind:
    """A project behind its template, with the two version trees its prediction renders."""

    drift: Drift
    old_tree: Path
    new_tree: Path


def _look(project: Path, known: Sources) -> Drift | _Behind:
    """The project's version against its template's newest (a Drift when current), and the trees."""
    project = resolved(project)
    source, current = recorded(project)
    drift = Drift(project, source, current, known.newest(source))
    if not drift.behind:
        return drift
    # A checkout rendered with uncommitted changes records `<id>-dirty`: its commit is the nearest tree.
    old = commit_of(current) if current.endswith("-dirty") else current
    return _Behind(drift, known.tree(source, old), known.tree(source, drift.newest))


def _predicted(behind: _Behind, work: Path) -> list[FileChange] | str:
    """predict() in a worker: the changes, or why the prediction cannot stand in (a string)."""
    try:
        return predict(behind.drift.project, behind.old_tree, behind.new_tree, behind.drift, work)
    except _Inexact as err:
        return str(err)


def _finish(behind: _Behind, future: Future[list[FileChange] | str] | None, work: Path, trust: bool) -> Drift:
    """The prediction (a worker's, else made here; here too when the worker died), or the real
    update on a throwaway copy where the prediction cannot stand in."""
    predicted: list[FileChange] | str | None = None
    if future is not None:
        with contextlib.suppress(BrokenProcessPool):  # a worker killed: predict here instead
            predicted = future.result()
    if predicted is None:
        shutil.rmtree(work, ignore_errors=True)
        predicted = _predicted(behind, work)
    if isinstance(predicted, str):
        with throwaway_copy(behind.drift.project) as copy:
            return preview(behind.drift.project, copy, trust=trust)
    behind.drift.changes = predicted
    return behind.drift


def resolved(project: Path) -> Path:
    """`project` as an absolute path without symlinks, or UsageError (a symlink loop, say)."""
    try:
        return project.resolve()
    except (OSError, RuntimeError) as err:
        raise UsageError(f"{project} cannot be resolved: {err}") from None


LOCK_NAME = "gostarter-update.lock"
# Seconds a second update of the same project waits for the first before it refuses.
LOCK_WAIT_SECONDS = 5.0


@contextmanager
def update_lock(project: Path, *, shared: bool = False) -> Iterator[None]:
    """One update of a project at a time: an exclusive lock on `gostarter-update.lock` in the
    project's git directory (its own, for a linked work tree), held from before the clean-tree
    check to after the uncommitted changes are back, so that no other run's roll-back or stash
    can touch what this one wrote. A copy for a dry run or a check holds it shared: it never
    reads a half-updated project. A second run waits `LOCK_WAIT_SECONDS`, then refuses in one
    line naming the lock. The file is removed by its last holder, so nothing is left behind.
    Outside a git repository there is nothing to lock (the update itself refuses)."""
    found = _git(project, "rev-parse", "--absolute-git-dir")
    if found.returncode != 0:
        yield
        return
    lock = Path(found.stdout.strip()) / LOCK_NAME
    fd = _locked(lock, project, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
    try:
        yield
    finally:
        _unlock(lock, fd)


def _locked(lock: Path, project: Path, mode: int) -> int:
    """An open descriptor of `lock` holding `mode`, once the lock is free and still at its path
    (a holder removes it on the way out: a lock on a removed file would lock nothing)."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        except OSError as err:
            raise UsageError(f"cannot open the update lock {lock}: {err.strerror}; nothing changed") from None
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            held = os.fstat(fd)
            now = os.lstat(lock)
            if (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino):
                return fd
        except (BlockingIOError, FileNotFoundError):
            pass
        os.close(fd)
        if time.monotonic() >= deadline:
            raise UsageError(
                f"another update of {project} is running (it holds {lock}); nothing was changed",
                hint="wait for it to finish, then run this again",
            )
        time.sleep(0.05)


def _unlock(lock: Path, fd: int) -> None:
    """Release the lock held on `fd`, removing the file when no one else holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # alone (a shared holder may not be)
        with contextlib.suppress(OSError):
            lock.unlink()
    except BlockingIOError:
        pass
    finally:
        os.close(fd)


@dataclass
class Restored:
    """Whether uncommitted changes set aside for an update came back cleanly, and if not, where
    each of them is now (one sentence). `stash`: the commit id that holds them meanwhile."""

    ok: bool = True
    problem: str = ""
    stash: str = ""


STASH_MARKERS = ("<<<<<<< Updated upstream", ">>>>>>> Stashed changes")
_STASH_MESSAGE = "gostarter update: your uncommitted changes"


@contextmanager
def set_aside(project: Path, needed: bool) -> Iterator[Restored]:
    """Stash the uncommitted changes (untracked files too) for the length of an update, then put
    them back in the work tree, whatever happened (see `_put_back`).

    The stash is kept by its commit id, read at once by a message of this run's own (`git stash
    create` cannot hold untracked files), and applied by that id: another run, or a template's
    migration that pops, drops or clears the stash list, cannot take it, and every message names it."""
    restored = Restored()
    if not needed:
        yield restored
        return
    token = f"{_STASH_MESSAGE} ({uuid.uuid4().hex})"
    stashed = _git(project, "stash", "push", "--include-untracked", "--quiet", "-m", token)
    if stashed.returncode != 0:
        raise UsageError(f"cannot set the uncommitted changes aside: {stashed.stderr.strip()[-200:]}")
    restored.stash = next((sha for sha, subject in _stashes(project) if subject.endswith(token)), "")
    if not restored.stash:
        raise UsageError(f"cannot set the uncommitted changes aside: git stash kept no entry for {project}")
    try:
        yield restored
    finally:
        _put_back(project, restored)


def _stashes(project: Path) -> list[tuple[str, str]]:
    """The stash list: (commit id, message) of each entry, newest first."""
    listed = _git(project, "stash", "list", "--format=%H %gs")
    return [tuple(line.split(" ", 1)) for line in listed.stdout.splitlines() if " " in line]  # type: ignore[misc]


def _drop(project: Path, stash: str) -> None:
    """Drop the entry for commit `stash` from the stash list, wherever it is now (if it still is)."""
    for i, (sha, _) in enumerate(_stashes(project)):
        if sha == stash:
            _git(project, "stash", "drop", "--quiet", f"stash@{{{i}}}")
            return


def _keep(project: Path, stash: str) -> str:
    """Make sure commit `stash` is in the stash list (a migration may have dropped it); how to get it back."""
    if stash not in {sha for sha, _ in _stashes(project)}:
        _git(project, "stash", "store", "--quiet", "-m", _STASH_MESSAGE, stash)
    return f"`git stash list` (commit {stash[:12]}; `git stash apply {stash[:12]}` brings it back)"


def _put_back(project: Path, restored: Restored) -> None:
    """Bring the stashed changes back over what the update left.

    Nothing changed (no update, a failure, an interruption rolled back): the stash applies onto
    the tree it came from. Otherwise the update is committed for a moment so that the stash
    applies by a real merge, then uncommitted again: a clash leaves both sides in the file
    between git's markers, as `git stash pop` would, with a copy kept in `git stash list`.
    Where git refuses to merge at all (an untracked file of yours where the update adds one),
    the update is undone and the tree is exactly as it was before it.
    """
    stash = restored.stash
    if not dirty(project):
        _pop(project, restored)
        return
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "--no-verify", "-m", "gostarter: the update, for a moment")
    applied = _git(project, "stash", "apply", "--quiet", stash)
    unmerged = _git(project, "diff", "--name-only", "--diff-filter=U").stdout.split()
    if applied.returncode == 0 or unmerged:
        _git(project, "reset", "-q", "--mixed", "HEAD~1")
        if not unmerged:
            _drop(project, stash)
            return
        restored.ok = False
        restored.problem = (
            f"your uncommitted changes clash with the update in {', '.join(unmerged)}: both sides are "
            f"in each of them between {STASH_MARKERS[0]!r} and {STASH_MARKERS[1]!r}; your other "
            f"changes are back as they were, and a copy of all of them stays in {_keep(project, stash)}"
        )
        return
    why = (applied.stderr.strip().splitlines() or ["git stash apply failed"])[0]
    _git(project, "reset", "-q", "--hard", "HEAD~1")
    _git(project, "clean", "-q", "-fd")
    _pop(project, restored)
    if restored.ok:
        restored.ok = False
        restored.problem = (
            f"the update was undone because it clashes with your uncommitted changes ({why}); "
            "your work tree is exactly as it was before: commit or stash your changes, then update"
        )


def _pop(project: Path, restored: Restored) -> None:
    """Apply the stash by its id onto the tree it came from, then drop it from the list."""
    popped = _git(project, "stash", "apply", "--quiet", restored.stash)
    if popped.returncode != 0:
        restored.ok = False
        last = (popped.stderr.strip().splitlines() or ["git stash apply failed"])[-1]
        restored.problem = (
            f"your uncommitted changes could not be put back ({last}); they are in "
            f"{_keep(project, restored.stash)}"
        )
        return
    _drop(project, restored.stash)


def dirty(project: Path) -> list[str]:
    """Uncommitted paths of a git work tree (empty when clean or not a git repository)."""
    status = _git(project, "status", "--porcelain")
    return [line[3:] for line in status.stdout.splitlines()] if status.returncode == 0 else []


def write_report(drifts: list[Drift], path: Path, *, unchecked: Sequence[tuple[str, str]] = ()) -> None:
    """The findings of `check` as TOML: every project checked, and every one that could not be
    (with the reason), so that a fleet's report is whole whatever happened to one project."""
    projects = [
        {
            "project": str(drift.project),
            "source": sources.redact(drift.source),
            "current": drift.current,
            "newest": drift.newest,
            "behind": drift.behind,
            "changes": [{"path": change.path, "status": change.status} for change in drift.changes],
        }
        for drift in drifts
    ]
    behind = sum(drift.behind for drift in drifts)
    document = {
        "checked": len(drifts),
        "behind": behind,
        "current": len(drifts) - behind,
        "unchecked": len(unchecked),
        "projects": projects,
        "errors": [{"project": project, "error": error} for project, error in unchecked],
    }
    inside = [drift.project for drift in drifts]
    outputs.write_file(
        path, tomli_w.dumps(outputs.encodable(document)).encode("utf-8"), what="report", inside=inside
    )
