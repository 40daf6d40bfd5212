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

import io
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w
import yaml
from packaging.version import InvalidVersion, Version

from generator import render
from generator.errors import GostarterError, UsageError
from generator.project import ANSWERS_FILE, read_answers, recorded

# What Copier writes around a conflict it could not merge (its "inline" mode).
CONFLICT_MARKERS = ("<<<<<<< before updating", ">>>>>>> after updating")
STATUSES = ("updated", "conflict", "added", "removed")
_GIT = ["git", "-c", "user.name=gostarter", "-c", "user.email=gostarter@localhost"]
_GIT += ["-c", "commit.gpgsign=false"]


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
        return _version(self.newest) > _version(self.current)

    def count(self, status: str) -> int:
        return sum(1 for change in self.changes if change.status == status)


_DESCRIBED = re.compile(r"^v?(?P<tag>.+)-(?P<distance>\d+)-g(?P<sha>[0-9a-f]+)$")


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


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*_GIT, *args], cwd=cwd, capture_output=True, text=True, check=False)


def newest_version(source: str) -> str:
    """The highest PEP 440 release tag of the template at `source` (what Copier and Renovate compare)."""
    argv = ["git", "ls-remote", "--tags", "--refs", git_url(source)]
    listed = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if listed.returncode != 0:
        last = (listed.stderr.strip().splitlines() or [f"exit {listed.returncode}"])[-1]
        raise UsageError(f"cannot reach the template {source}: {last}")
    versions = []
    for line in listed.stdout.splitlines():
        tag = line.rsplit("refs/tags/", 1)[-1]
        try:
            version = Version(tag)
        except InvalidVersion:
            continue
        if not version.is_prerelease:
            versions.append((version, tag))
    if not versions:
        raise UsageError(f"the template {source} has no version tag (PEP 440, e.g. 1.2.0)")
    return max(versions)[1]


def git_url(source: str) -> str:
    """What git itself accepts for a Copier template source (git+https://, gh:, gl:)."""
    if source.startswith("git+"):
        return source[4:]
    for short, host in (("gh:", "https://github.com/"), ("gl:", "https://gitlab.com/")):
        if source.startswith(short):
            return host + source[len(short) :]
    return source


@contextmanager
def throwaway_copy(project: Path) -> Iterator[Path]:
    """A copy of the project as a clean git work tree (uncommitted edits committed in the copy)."""
    with tempfile.TemporaryDirectory(prefix="gostarter-preview-") as tmp:
        copy = Path(tmp) / project.name
        shutil.copytree(project, copy, symlinks=True)
        if not (copy / ".git").exists():
            _git(copy, "init", "-q")
        _git(copy, "add", "-A")
        _git(copy, "commit", "-q", "--no-verify", "-m", "gostarter preview: the project as it is")
        yield copy


def _files(root: Path) -> dict[str, Path]:
    return {
        str(path.relative_to(root)): path
        for path in root.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(root).parts
    }


def conflicted(root: Path) -> list[str]:
    """Files with Copier's conflict markers, and .rej files, under `root`."""
    found = []
    for name, path in sorted(_files(root).items()):
        if name.endswith(".rej"):
            found.append(name)
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if all(marker in text for marker in CONFLICT_MARKERS):
            found.append(name)
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
        elif old[name].read_bytes() != new[name].read_bytes():
            changes.append(FileChange(name, "updated"))
    return changes


def preview(project: Path, copy: Path, *, trust: bool, data: Mapping[str, Any] | None = None) -> Drift:
    """Update `copy` (a throwaway copy of `project`) to the newest version, with the answers in
    `data` changed, and say what changed."""
    source, current = recorded(project)
    newest = newest_version(source)
    drift = Drift(project, source, current, newest)
    if drift.behind or data:
        render.update(copy, interactive=False, quiet=True, trust=trust, run_tasks=False, data=data)
        drift.changes = classify(project, copy)
    return drift


class _Sources:
    """What one `check` command learns of each template source, once: its newest version, a
    clone, and a plain tree of each version it needs."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self._newest: dict[str, str] = {}
        self._clones: dict[str, Path] = {}

    def newest(self, source: str) -> str:
        if source not in self._newest:
            self._newest[source] = newest_version(source)
        return self._newest[source]

    def tree(self, source: str, version: str) -> Path:
        """The template at `version` as a plain directory (Copier renders it without cloning)."""
        if source not in self._clones:
            clone = self.work / f"clone{len(self._clones)}"
            cloned = _git(self.work, "clone", "--quiet", "--no-checkout", git_url(source), str(clone))
            if cloned.returncode != 0:
                raise UsageError(f"cannot clone the template {source}: {cloned.stderr.strip()[-200:]}")
            self._clones[source] = clone
        clone = self._clones[source]
        tree = clone.parent / f"{clone.name}-{version}"
        if not tree.is_dir():
            tree.mkdir()
            archive = subprocess.run(
                ["git", "-C", str(clone), "archive", "--format=tar", version],
                capture_output=True,
                check=False,
            )
            if archive.returncode != 0:
                raise UsageError(f"the template {source} has no version {version}")
            with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
                tar.extractall(tree, filter="data")
        return tree


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
    merged = subprocess.run(
        ["git", "merge-file", "-p", "--quiet", str(mine), str(base), str(theirs)],
        capture_output=True,
        check=False,
    )
    return merged.returncode == 0


def predict(project: Path, old_tree: Path, new_tree: Path, drift: Drift, work: Path) -> list[FileChange]:
    """The files an update would change, by three-way comparison of the project with the old and
    the new version rendered from its answers: what Copier's update does, without its clones."""
    if _migrations_between(new_tree, drift.current, drift.newest):
        raise _Inexact("migrations run between these versions")
    answers = {key: value for key, value in read_answers(project).items() if not key.startswith("_")}
    old_dir, new_dir = work / "old", work / "new"
    try:
        render.render_version(old_tree, old_dir, answers)
        render.render_version(new_tree, new_dir, answers)
    except GostarterError as err:
        raise _Inexact(err.message) from None
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


def _same(a: Path, b: Path) -> bool:
    return a.read_bytes() == b.read_bytes()


def check_all(projects: list[Path], *, trust: bool) -> Iterator[tuple[Path, Drift | GostarterError]]:
    """Where each project stands, without touching any: each template is listed and cloned once,
    and each project's update is predicted from two renders; where the prediction cannot stand in
    (migrations, extensions), the real update runs on a throwaway copy."""
    with tempfile.TemporaryDirectory(prefix="gostarter-check-") as tmp:
        sources = _Sources(Path(tmp))
        for index, project in enumerate(projects):
            try:
                yield project, _check(project.resolve(), sources, Path(tmp) / f"p{index}", trust=trust)
            except GostarterError as err:
                yield project, err


def _check(project: Path, sources: _Sources, work: Path, *, trust: bool) -> Drift:
    source, current = recorded(project)
    drift = Drift(project, source, current, sources.newest(source))
    if not drift.behind:
        return drift
    try:
        old_tree, new_tree = sources.tree(source, current), sources.tree(source, drift.newest)
        drift.changes = predict(project, old_tree, new_tree, drift, work)
    except _Inexact:
        with throwaway_copy(project) as copy:
            return preview(project, copy, trust=trust)
    return drift


@dataclass
class Restored:
    """Whether uncommitted changes set aside for an update came back cleanly."""

    ok: bool = True
    problem: str = ""


@contextmanager
def set_aside(project: Path, needed: bool) -> Iterator[Restored]:
    """Stash the uncommitted changes (untracked files too) for the length of an update, then put
    them back, whatever happened. A change that clashes with the update stays in the file between
    conflict markers, and in `git stash list`."""
    restored = Restored()
    if not needed:
        yield restored
        return
    stashed = _git(project, "stash", "push", "--include-untracked", "--quiet", "-m", "gostarter update")
    if stashed.returncode != 0:
        raise UsageError(f"cannot set the uncommitted changes aside: {stashed.stderr.strip()[-200:]}")
    try:
        yield restored
    finally:
        popped = _git(project, "stash", "pop", "--quiet")
        if popped.returncode != 0:
            restored.ok = False
            restored.problem = (
                "your uncommitted changes clash with it (they are also kept in `git stash list`)"
            )


def dirty(project: Path) -> list[str]:
    """Uncommitted paths of a git work tree (empty when clean or not a git repository)."""
    status = _git(project, "status", "--porcelain")
    return [line[3:] for line in status.stdout.splitlines()] if status.returncode == 0 else []


def write_report(drifts: list[Drift], path: Path) -> None:
    """The findings of `check` as TOML."""
    projects = [
        {
            "project": str(drift.project),
            "source": drift.source,
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
        "projects": projects,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(tomli_w.dumps(document), encoding="utf-8")
    except OSError as err:
        raise GostarterError(f"cannot write the report {path}: {err.strerror}") from None
