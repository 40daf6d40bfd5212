"""`gostarter rehearse`: what a template change not yet released would do to each service.

For each project, in a throwaway copy (`lifecycle.throwaway_copy`, as `update
--dry-run` makes it): the update to REF of the template SRC (a branch, a
commit or a tag not yet released) through Copier's own three-way merge, then
the verification of the updated copy. Each project is one `Row`: current,
updates cleanly, needs a migration, conflicts (the files, with their hunks),
fails verification (the step and reason), or refused (dirty, unreachable,
not a project). One project's failure is its row, never the end of the run.

The parent clones SRC once (bare: every branch and tag is a ref of its own),
resolves REF to a commit, and sorts out what needs no update (current,
refused); the updates and verifications run in forked worker processes, at
most `jobs` at once, each verification under its own build deadline. The
report (`document`) is the single form of the result: the TOML file, the
HTML page and `--merge` of shards all read it.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import yaml
from packaging.version import InvalidVersion, Version

from generator import children, lifecycle, sources
from generator.errors import GostarterError, UsageError
from generator.project import read_answers, recorded

REPORT_FORMAT = 1
HUNK_CONTEXT = 3  # lines of context around a conflict, as `git diff` shows


class Status(Enum):
    """What a rehearsal found for one project (worst first in `SEVERITY`)."""

    CURRENT = "current"
    CLEAN = "updates cleanly"
    MIGRATION = "needs a migration"
    CONFLICTS = "conflicts"
    FAILS = "fails verification"
    REFUSED = "refused"


# Statuses that keep the exit code at 0; REFUSED makes it 2, any other 1.
PASSING = frozenset({Status.CURRENT, Status.CLEAN})
ORDER = tuple(Status)


@dataclass(frozen=True)
class Target:
    """The template change rehearsed: SRC at REF, resolved once by the parent."""

    source: str
    ref: str
    commit: str
    version: str  # `git describe --tags --always` of the commit: what Copier records


@dataclass
class Row:
    """One project's rehearsal."""

    project: str
    status: Status
    current: str = ""
    reason: str = ""
    changes: list[lifecycle.FileChange] = field(default_factory=list)
    hunks: dict[str, str] = field(default_factory=dict)
    migrations: list[str] = field(default_factory=list)
    verification: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "status": self.status.value,
            "current": self.current,
            "reason": self.reason,
            "seconds": round(self.seconds, 3),
            "migrations": list(self.migrations),
            "changes": [{"path": c.path, "status": c.status} for c in self.changes],
            "hunks": [{"path": path, "text": text} for path, text in sorted(self.hunks.items())],
            "verification": dict(self.verification),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> Row:
        try:
            return cls(
                project=str(data["project"]),
                status=Status(data["status"]),
                current=str(data.get("current", "")),
                reason=str(data.get("reason", "")),
                seconds=float(data.get("seconds", 0.0)),
                migrations=[str(m) for m in data.get("migrations", [])],
                changes=[
                    lifecycle.FileChange(str(c["path"]), str(c["status"])) for c in data.get("changes", [])
                ],
                hunks={str(h["path"]): str(h["text"]) for h in data.get("hunks", [])},
                verification=dict(data.get("verification", {})),
            )
        except (KeyError, ValueError, TypeError, AttributeError) as err:
            raise UsageError(f"{where} is not a rehearsal report (a project row: {err})") from None


@dataclass(frozen=True)
class Options:
    """How each project is rehearsed, the same for all (what a worker needs)."""

    mode: str = "auto"
    build_timeout: float | None = None
    trust: bool = False


@dataclass(frozen=True)
class _Job:
    project: Path
    current: str
    migrations: tuple[str, ...]
    source: str  # SRC as given (the report shows it redacted)


# ---------------------------------------------------------------- the template at REF


class _Clone:
    """SRC cloned bare once: each branch and tag is a ref, any version's copier.yml readable."""

    def __init__(self, source: str, work: Path) -> None:
        self.source = source
        self.path = work / "template.git"
        argv = ["git", "clone", "--quiet", "--bare", "--", sources.git_url(source), str(self.path)]
        cloned = sources.run_git(argv, source=source, cwd=work)
        if cloned.returncode != 0:
            raise sources.unreachable(source, cloned)

    def _git(self, *args: str) -> str | None:
        done = children.run(["git", "-C", str(self.path), *args])
        return str(done.stdout).strip() if done.returncode == 0 else None

    def commit(self, ref: str) -> str | None:
        """The commit `ref` names (a branch, tag, or commit id), or None."""
        if not ref or ref.startswith("-"):
            return None
        return self._git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")

    def describe(self, commit: str) -> str:
        return self._git("describe", "--tags", "--always", commit) or commit

    def migrations(self, commit: str) -> list[dict[str, Any]]:
        """The `_migrations` of copier.yml at `commit` (empty where there is none)."""
        for name in ("copier.yml", "copier.yaml"):
            text = self._git("show", f"{commit}:{name}")
            if text is not None:
                try:
                    data = yaml.safe_load(text)
                except yaml.YAMLError:
                    return []
                found = data.get("_migrations") if isinstance(data, dict) else None
                return [m for m in found if isinstance(m, dict)] if isinstance(found, list) else []
        return []


def _new_migrations(
    old: list[dict[str, Any]], new: list[dict[str, Any]], current: str, target: str
) -> list[str]:
    """The migrations of the target that an update from `current` crosses, as Copier picks them:
    a version after the project's and not after the target's (a branch's `git describe`, say
    1.1.0-2-gabc, counts as just after its tag). A project at a bare commit has no version to
    compare: it needs those its commit's copier.yml lacked."""
    before = {json.dumps(m, sort_keys=True, default=str) for m in old}
    low, high = lifecycle.as_version(current), lifecycle.as_version(target)
    by_commit = low == Version("0") and bool(lifecycle.commit_of(current))
    found = []
    for migration in new:
        version = str(migration.get("version", ""))
        if by_commit:
            needed = json.dumps(migration, sort_keys=True, default=str) not in before
        else:
            try:
                at = Version(version)
            except InvalidVersion:
                continue
            needed = low < at and (high == Version("0") or at <= high)
        if needed:
            found.append(version or "(unversioned)")
    return found


# ---------------------------------------------------------------- one project


def _hunks(text: str) -> str:
    """The conflict regions of a file Copier merged inline, with context, separated by `...`."""
    lines = text.splitlines()
    opening, closing = lifecycle.CONFLICT_MARKERS
    spans: list[tuple[int, int]] = []
    start = None
    for i, line in enumerate(lines):
        if line.startswith(opening):
            start = i
        elif line.startswith(closing) and start is not None:
            spans.append((max(0, start - HUNK_CONTEXT), min(len(lines), i + 1 + HUNK_CONTEXT)))
            start = None
    return "\n...\n".join("\n".join(lines[a:b]) for a, b in spans)


def _conflict_hunks(copy: Path, conflicts: Sequence[str]) -> dict[str, str]:
    """Each conflicting file's hunks (a .rej file whole)."""
    hunks = {}
    for name in conflicts:
        text = (copy / name).read_text(encoding="utf-8", errors="replace")
        hunks[name] = text if name.endswith(".rej") else _hunks(text)
    return hunks


def verification_figures(result: Any) -> dict[str, Any]:
    keys = ("result", "mode", "reason", "build_seconds", "first_response_seconds", "stop_seconds",
            "image_size_bytes", "binary_size_bytes")  # fmt: skip
    figures = {key: getattr(result, key) for key in keys}
    return {key: round(value, 3) if isinstance(value, float) else value for key, value in figures.items()}


def _rehearse_one(job: _Job, target: Target, options: Options) -> Row:
    """The update to the target on a throwaway copy, then its verification: one row, whatever happens."""
    from generator import render, verify
    from generator.console import Progress
    from generator.template import write_provenance

    started = time.monotonic()
    row = Row(str(job.project), Status.CLEAN, current=job.current, migrations=list(job.migrations))
    try:
        with lifecycle.throwaway_copy(job.project) as copy:
            # The old version is rendered from SRC too (which holds it), whatever URL the project records.
            write_provenance(copy, job.current, job.source)
            children.run(
                [*sources.GIT, "commit", "-qam", "rehearsal: the template SRC as its source"], cwd=copy
            )
            try:
                with lifecycle.about(job.project, copy):  # errors name the project, not its copy
                    render.update(
                        copy, interactive=False, quiet=True, trust=options.trust, run_tasks=False,
                        vcs_ref=target.commit,
                    )  # fmt: skip
            except UsageError as err:
                if job.migrations and "migrations" in err.message:
                    row.status = Status.MIGRATION
                    row.reason = (
                        "its migrations run only for a template you trust (--trust); not rehearsed further"
                    )
                    return row
                raise
            row.changes = lifecycle.classify(job.project, copy)
            conflicts = [c.path for c in row.changes if c.status == "conflict"]
            if conflicts:
                row.status = Status.CONFLICTS
                row.hunks = _conflict_hunks(copy, conflicts)
                row.reason = f"{len(conflicts)} file(s) would hold conflicts: {', '.join(conflicts)}"
                return row
            result = verify.verify(
                copy, mode=options.mode, progress=Progress(quiet=True), remove_image=True,
                build_timeout=options.build_timeout,
            )  # fmt: skip
            row.verification = verification_figures(result)
            if result.failed:
                row.status, row.reason = Status.FAILS, result.reason
            elif job.migrations:
                row.status = Status.MIGRATION
                row.reason = f"runs the migration(s) of {', '.join(job.migrations)}"
    except GostarterError as err:
        row.status, row.reason = Status.REFUSED, sources.redact(err.message)
    except Exception as err:  # noqa: BLE001 - a project's failure is its row
        detail = sources.redact(str(err).splitlines()[0] if str(err) else "")
        row.status, row.reason = Status.REFUSED, f"could not be rehearsed ({type(err).__name__}: {detail})"
    finally:
        row.seconds = time.monotonic() - started
    return row


def _look(project: Path, clone: _Clone, target: Target, new: list[dict[str, Any]]) -> Row | _Job:
    """What the parent can tell without an update: refused, current, or a job for a worker."""
    shown = str(project)
    try:
        project = lifecycle.resolved(project)
        _, current = recorded(project)
        read_answers(project)
    except GostarterError as err:
        return Row(shown, Status.REFUSED, reason=sources.redact(err.message))
    uncommitted = lifecycle.dirty(project)
    if uncommitted:
        listed = ", ".join(uncommitted[:5]) + (", ..." if len(uncommitted) > 5 else "")
        return Row(shown, Status.REFUSED, current=current, reason=f"dirty: uncommitted changes ({listed})")
    at = clone.commit(lifecycle.commit_of(current) or current)
    if at is None:
        return Row(
            shown,
            Status.REFUSED,
            current=current,
            reason=sources.redact(
                f"unreachable: its version {current} is not in the template {target.source}"
            ),
        )
    if at == target.commit:
        return Row(shown, Status.CURRENT, current=current)
    migrations = _new_migrations(clone.migrations(at), new, current, target.version)
    return _Job(project, current, tuple(migrations), clone.source)


def shard(projects: Sequence[Path], spec: tuple[int, int] | None) -> list[Path]:
    """Slice K of N (1-based) of the projects: every N-th, from the K-th."""
    if spec is None:
        return list(projects)
    k, n = spec
    return [project for i, project in enumerate(projects) if i % n == k - 1]


def parse_shard(text: str) -> tuple[int, int]:
    k, sep, n = text.partition("/")
    try:
        spec = int(k), int(n)
    except ValueError:
        spec = (0, 0)
    if not sep or not 1 <= spec[0] <= spec[1]:
        raise UsageError(f"--shard {text!r} is not K/N with 1 <= K <= N", hint="e.g. --shard 2/4")
    return spec


def resolve_target(clone: _Clone, source: str, ref: str) -> Target:
    commit = clone.commit(ref)
    if commit is None:
        raise UsageError(sources.redact(f"the template {source} has no branch, tag or commit {ref!r}"))
    return Target(sources.redact(source), ref, commit, clone.describe(commit))


class Rehearsal:
    """SRC cloned and REF resolved (`target`), ready to rehearse projects; see `rehearsal`."""

    def __init__(self, clone: _Clone, target: Target, work: Path) -> None:
        self._clone = clone
        self.target = target
        self._work = work

    def rows(self, projects: Sequence[Path], options: Options, *, jobs: int) -> Iterator[Row]:
        """One row per project, as each is done: refused and current ones first, then the updates
        and verifications, at most `jobs` at once in worker processes (here, one by one, where
        workers cannot be made or `jobs` is 1)."""
        new = self._clone.migrations(self.target.commit)
        pending: list[_Job] = []
        for project in projects:
            found = _look(project, self._clone, self.target, new)
            if isinstance(found, Row):
                yield found
            else:
                pending.append(found)
        pool = None
        count = min(jobs, len(pending))
        if count >= 2:
            try:
                pool = children.workers(count, self._work)
            except (OSError, ImportError, NotImplementedError):
                pool = None
        if pool is None:
            for job in pending:
                yield _rehearse_one(job, self.target, options)
            return
        try:
            futures: dict[Future[Row], _Job] = {
                pool.submit(_rehearse_one, job, self.target, options): job for job in pending
            }
            for future in as_completed(futures):
                try:
                    yield future.result()
                except BrokenProcessPool:  # a worker killed (out of memory, say): that project's row
                    job = futures[future]
                    yield Row(str(job.project), Status.REFUSED, current=job.current,
                              reason="its rehearsal's worker process died")  # fmt: skip
        except BaseException:
            children.stop(pool)
            raise
        pool.shutdown(wait=True)


@contextmanager
def rehearsal(source: str, ref: str) -> Iterator[Rehearsal]:
    """Clone `source` once and resolve `ref`; everything made is removed on the way out."""
    with tempfile.TemporaryDirectory(prefix="gostarter-rehearse-") as tmp:
        clone = _Clone(source, Path(tmp))
        yield Rehearsal(clone, resolve_target(clone, source, ref), Path(tmp))


# ---------------------------------------------------------------- the report


def document(target: Target, rows: Sequence[Row], *, shard_spec: str = "") -> dict[str, Any]:
    """The rehearsal as one mapping (the TOML report, and what the page is drawn from); rows in
    project order, so that shards merge to the same report as one run."""
    ordered = sorted(rows, key=lambda row: row.project)
    counts = {status.value: sum(row.status is status for row in ordered) for status in ORDER}
    data: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "kind": "rehearsal",
        "template": target.source,
        "ref": target.ref,
        "commit": target.commit,
        "version": target.version,
        "rehearsed": len(ordered),
        "counts": counts,
        "projects": [row.as_dict() for row in ordered],
    }
    if shard_spec:
        data["shard"] = shard_spec
    return data


def exit_code(rows: Sequence[Row]) -> int:
    """0 every project current or updating cleanly (and passing), 2 any refused, else 1."""
    if any(row.status is Status.REFUSED for row in rows):
        return 2
    return 0 if all(row.status in PASSING for row in rows) else 1


def write_report(data: Mapping[str, Any], path: Path, *, inside: Sequence[Path] = ()) -> None:
    import tomli_w

    from generator import outputs

    text = tomli_w.dumps(outputs.encodable(dict(data)))  # a path or hunk that is not UTF-8 as \xNN
    outputs.write_file(path, text.encode("utf-8"), what="report", inside=inside)


def merge(paths: Sequence[Path]) -> tuple[Target, list[Row]]:
    """The shards' reports joined: one target (all must rehearse the same commit), every row."""
    import tomllib

    from generator import inputs

    target: Target | None = None
    rows: list[Row] = []
    for path in paths:
        try:
            data = tomllib.loads(inputs.read_text(path, what="report"))
        except FileNotFoundError:
            raise UsageError(f"{path} does not exist") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise UsageError(f"{path} is not a rehearsal report: {err}") from None
        if data.get("kind") != "rehearsal" or data.get("format") != REPORT_FORMAT:
            raise UsageError(f"{path} is not a rehearsal report (format {REPORT_FORMAT})")
        here = Target(str(data.get("template", "")), str(data.get("ref", "")), str(data.get("commit", "")),
                      str(data.get("version", "")))  # fmt: skip
        if target is not None and here.commit != target.commit:
            raise UsageError(
                f"{path} rehearses {here.commit[:12]}, the others {target.commit[:12]}: "
                "only shards of one rehearsal merge"
            )
        target = target or here
        rows += [Row.from_dict(row, str(path)) for row in data.get("projects", [])]
    if target is None:
        raise UsageError("--merge needs at least one report")
    return target, rows
