"""Rendering with Copier: the one module that imports copier.

The questions, their defaults and validators live in the template's
copier.yml only. Interactive runs let Copier ask them (with questionary:
help text, inline validation, defaults pre-filled, choices as select lists);
scripted runs pass answers as data, and `check_answers` validates them up
front through Copier itself, so an answer is judged exactly the same way
whether it was typed, passed with --data or read from a preset.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import copier
import jinja2
from copier.errors import CopierError, CopierWarning, PathError, UnsafeTemplateError
from plumbum import ProcessExecutionError

from generator import bounds, children, sources
from generator.errors import (
    DestinationError,
    GitDirectoryError,
    GostarterError,
    InvalidAnswerError,
    RenderBoundError,
    RenderError,
    UsageError,
)
from generator.project import ANSWERS_FILE, read_answers, recorded
from generator.template import Template as Template  # re-exported: callers of render.Template keep working
from generator.template import plain_tree
from generator.template import record_provenance as _record_provenance
from generator.template import shipped_template as _shipped_template

BOOL_WORDS = {"true", "false", "yes", "no", "y", "n", "on", "off", "1", "0"}
# Copier's post-generation task verifies unless told not to; gostarter verifies
# by itself after rendering, so that it can choose the exit code.
NO_HOOK_VERIFY = {"verify": "none"}
_VALIDATION = re.compile(r"Validation error for question '(?P<key>[^']+)': (?P<msg>.*)", re.S)
_BLAMED = re.compile(r"invalid (?P<key>\S+): (?P<msg>.*)", re.S)


_FORK_HINT = "fix the template (or report it to whoever maintains it); nothing was written"
_BIG_HINT = f"fix the template, or raise ${bounds.MAX_RENDER_ENV} if it is meant to render this much"
# Passed to every Copier call, whatever the template's own `_exclude` says (Copier puts the
# caller's patterns last, and the last match wins): nothing rendered lands in a git directory.
EXCLUDE = (".git",)


class _IntoGitDir(Exception):
    """Copier was about to render `path` (relative to the destination) into a git directory."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def _into_git_dir(root: Path, relpath: Path) -> bool:
    """Whether `relpath` under `root` is in a git directory: a `.git` part (in any case, as git
    itself refuses on case-insensitive file systems), or a symlink already written leading into one."""
    if any(part.casefold() == ".git" for part in relpath.parts):
        return True
    with contextlib.suppress(OSError, RuntimeError, ValueError):
        real = (root / relpath).resolve().relative_to(root.resolve())
        return any(part.casefold() == ".git" for part in real.parts)
    return False


def _guard_git_dir() -> None:
    """Make Copier refuse, by name, any path it renders into a git directory.

    Copier asks `Worker.match_exclude` (an internal cached property: tests/test_git_safety.py
    holds its contract) about every path it renders, by its rendered name, pretend runs
    included, before writing it: a release whose `{{ '.git' }}/hooks/pre-commit` would add a
    hook is refused when its answers are checked, before Copier's update starts. `EXCLUDE`
    keeps such paths out even should this hook no longer be reached."""
    from copier._main import Worker

    original = Worker.__dict__["match_exclude"]
    if getattr(original, "gostarter_guard", False):
        return

    def match_exclude(self: Any) -> Any:
        excluded = original.func(self)
        root = Path(self.dst_path)

        def match(path: Path) -> bool:
            if _into_git_dir(root, Path(path)):
                raise _IntoGitDir(str(path))
            return bool(excluded(path))

        return match

    guarded: Any = functools.cached_property(match_exclude)
    guarded.__set_name__(Worker, "match_exclude")
    guarded.gostarter_guard = True
    setattr(Worker, "match_exclude", guarded)  # noqa: B010 - a cached_property, not a method


_guard_git_dir()


def _jinja_problem(err: jinja2.TemplateError) -> str:
    """A Jinja error in one line, with the template file and line where Jinja knows them."""
    message = (err.message or type(err).__name__).splitlines()[0]
    if isinstance(err, jinja2.TemplateSyntaxError) and err.lineno:
        return f"{err.name or bounds.template_name(err.filename or '')}:{err.lineno}: {message}"
    return message


@contextmanager
def _scratch() -> Iterator[None]:
    """Copier's temporary clones and renders go into a directory of this call's own, removed on
    every way out: Copier itself leaves its clone in TMPDIR when it is interrupted mid-clone."""
    scratch = tempfile.mkdtemp(prefix="gostarter-copier-")
    saved = tempfile.tempdir
    tempfile.tempdir = scratch
    try:
        yield
    finally:
        tempfile.tempdir = saved
        shutil.rmtree(scratch, ignore_errors=True)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:200]}" if text else type(err).__name__


@contextmanager
def _template_faults() -> Iterator[None]:
    """Whatever template code raises (ZeroDivisionError, TypeError, RecursionError, MemoryError past
    the memory bound, RenderTimeExceeded past the CPU bound, an undefined name...) becomes one
    RenderError naming the template's file and line: a template is code, and a broken fork is the
    template's fault, not the user's. Inside the call's scratch directory, so that the template's
    own files are still there to be named."""
    try:
        yield
    except (UnsafeTemplateError, GostarterError, jinja2.TemplateSyntaxError, _IntoGitDir):
        raise
    except Exception as err:
        place = bounds.template_line(err)
        at = f"{bounds.template_name(place[0], scratch=tempfile.tempdir)}:{place[1]}: " if place else ""
        if isinstance(err, MemoryError):
            what = f"it needs more than {bounds.shown(bounds.memory_budget())} of memory to render"
            raise RenderBoundError(
                f"the template is broken: {at}{what} (a value too big to hold); nothing was written",
                hint=f"fix the template; ${bounds.MAX_RENDER_ENV} (default "
                f"{bounds.shown(bounds.DEFAULT_MAX_RENDER_BYTES)}) sets the bounds",
            ) from None
        if isinstance(err, bounds.RenderTimeExceeded):
            raise RenderBoundError(
                f"the template is broken: {at}it takes {err} to render (a loop too long); "
                "nothing was written",
                hint=f"fix the template; ${bounds.MAX_SECONDS_ENV} (default {bounds.DEFAULT_MAX_SECONDS}) "
                "sets the bound",
            ) from None
        if place is None:
            # outside template code: the template's file only if the machine is not the cause
            at = "" if isinstance(err, OSError) else _copier_file(err)
            if not at:
                raise
        raise RenderError(f"the template is broken: {at}{_first_line(err)}", hint=_FORK_HINT) from None


def _copier_file(err: BaseException) -> str:
    """The template file Copier was rendering when `err` was raised outside template code (a file
    that is not UTF-8: Jinja's loader raises UnicodeDecodeError), from its `_render_file` frame's
    `src_relpath`, as "template/NAME: "; "" when Copier was rendering no file. Copier's internals:
    tests/test_template_faults.py fails naming Copier if this name changes."""
    tb = err.__traceback__
    found = ""
    while tb is not None:
        if tb.tb_frame.f_code.co_name == "_render_file" and "src_relpath" in tb.tb_frame.f_locals:
            found = f"{tb.tb_frame.f_locals['src_relpath']}: "
        tb = tb.tb_next
    return found


@contextmanager
def _git_dir_refused(template: str) -> Iterator[None]:
    """A path Copier was about to render into a git directory, as the refusal that names it."""
    try:
        yield
    except _IntoGitDir as err:
        raise GitDirectoryError(
            f"the template {sources.redact(template)} writes {err.path}, inside a git directory; "
            "gostarter never lets a template write there (it would run commands: hooks, fsmonitor), "
            "nothing was changed",
            path=err.path,
            hint="report it to whoever maintains the template",
        ) from None


@contextmanager
def _copier_errors(where: str, *, template: str) -> Iterator[None]:
    """Run a Copier call under gostarter's git policy (allowed transports) and network deadline,
    turning its exceptions into gostarter errors with a one-line message, credentials redacted.
    `where` (" (from --data)") is added to answer errors; `template` is the source being used."""
    sources.apply_git_policy()
    try:
        # Copier writes some blank lines to stdout: keep stdout for results.
        with (
            _scratch(),
            sources.network_deadline(template),
            sources.local_git_deadline(),
            _git_dir_refused(template),
            warnings.catch_warnings(),
            redirect_stdout(sys.stderr),
        ):
            warnings.simplefilter("ignore", CopierWarning)  # DirtyLocalWarning and friends, nothing else
            with _template_faults(), bounds.memory_bound(), bounds.cpu_bound():
                yield
    except (KeyboardInterrupt, UnsafeTemplateError, GostarterError):
        raise
    except PathError as err:  # a path the template renders (a file name, _answers_file), not an answer
        raise RenderError(
            f"the template renders a path outside the template or the project, which Copier forbids: "
            f"{str(err).splitlines()[0]}",
            hint=_FORK_HINT,
        ) from None
    except jinja2.TemplateError as err:
        raise RenderError(f"the template is broken: {_jinja_problem(err)}", hint=_FORK_HINT) from None
    except ValueError as err:
        match = _VALIDATION.match(str(err))
        if match:
            raise InvalidAnswerError(f"invalid {match['key']}{where}: {match['msg'].strip()}") from None
        raise InvalidAnswerError(f"invalid answer{where}: {err}") from None
    except CopierError as err:
        raise RenderError(sources.redact(f"copier: {err}")) from None
    except ProcessExecutionError as err:  # Copier's git could not clone or check out the template
        done = subprocess.CompletedProcess(err.argv, int(err.retcode or 1), err.stdout, err.stderr)
        raise sources.unreachable(template, done) from None
    except OSError as err:
        raise RenderError(
            sources.redact(f"cannot render the template: {err}")
        ) from err  # render() reads the cause
    except Exception as err:  # noqa: BLE001 - Copier's own failure, whatever its kind: one line
        raise RenderError(
            sources.redact(f"copier failed on the template {template}: {_first_line(err)}")
        ) from None


def _check_types(questions: Mapping[str, Any], answers: Mapping[str, Any], source: str) -> None:
    """Copier casts any string to a bool and True to the int 1: an answer must be of its question's type."""
    for key, value in answers.items():
        kind = questions.get(key, {}).get("type")
        if kind == "bool" and isinstance(value, str) and value.strip().lower() not in BOOL_WORDS:
            raise InvalidAnswerError(f"invalid {key}{source}: {value!r} is not true or false")
        if kind == "bool" and isinstance(value, int) and not isinstance(value, bool) and value not in (0, 1):
            raise InvalidAnswerError(f"invalid {key}{source}: {value!r} is not true or false")
        if kind in {"int", "float"} and isinstance(value, bool):
            raise InvalidAnswerError(f"invalid {key}{source}: {value!r} is not a number")


def _check_keys(questions: Mapping[str, Any], answers: Mapping[str, Any], source: str) -> None:
    """Refuse answers to questions the template does not ask, and bools that are not yes or no."""
    unknown = sorted(set(answers) - set(questions))
    if unknown:
        raise InvalidAnswerError(
            f"unknown question{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}{source}",
            hint=f"the template asks: {', '.join(questions)}",
        )
    _check_types(questions, answers, source)


def _refuse_internal_keys(answers: Mapping[str, Any], source: str) -> None:
    """Copier's own variables (_copier_conf, _src_path, ...) are not answers."""
    internal = sorted(key for key in answers if key.startswith("_"))
    if internal:
        raise InvalidAnswerError(
            f"unknown question{'s' if len(internal) > 1 else ''} {', '.join(internal)}{source}",
            hint="names starting with '_' belong to Copier, not to the template's questions",
        )


def check_answers(
    template: Template,
    answers: Mapping[str, Any],
    *,
    source: str = "",
    known_only: bool = False,
    unsafe: bool = True,
) -> dict[str, Any]:
    """Validate `answers` through Copier without writing anything (see `examine`)."""
    return examine(template, answers, source=source, known_only=known_only, unsafe=unsafe).answers


@dataclass(frozen=True)
class Examined:
    """What one pretend run of Copier says about some answers."""

    # copier.yml's questions as Copier read them (type, help, default, choices, when, ...), in order.
    questions: dict[str, dict[str, Any]]
    # The answer to each question, defaults computed from the given answers, in the template's order.
    answers: dict[str, Any]
    # The questions Copier skipped (`when` false) with these answers.
    hidden: frozenset[str]


def examine(
    template: Template,
    answers: Mapping[str, Any],
    *,
    source: str = "",
    known_only: bool = False,
    unsafe: bool = True,
) -> Examined:
    """Validate `answers` through Copier without writing anything.

    Returns the answer to each of the template's questions (defaults filled
    in), in the template's order; nothing of Copier's own context.
    `source` ("from --data", "in preset.toml") is added to error messages.
    Unknown keys are errors that name the valid ones, unless `known_only`
    (an answers file may hold answers to questions a newer version dropped).
    `unsafe=False` for a template nobody chose in this command.
    """
    where = f" ({source})" if source else ""
    _refuse_internal_keys(answers, where)
    try:
        worker = _pretend(template, answers, where, unsafe=unsafe)
    except InvalidAnswerError as err:
        _blame_unparsable(template, answers, where, err)
        raise
    questions = worker.template.questions_data
    if known_only:
        answers = {key: value for key, value in answers.items() if key in questions}
    _check_keys(questions, answers, where)
    combined = worker.answers.combined
    return Examined(
        questions=dict(questions),
        answers={key: combined[key] for key in questions if key in combined},
        hidden=frozenset(worker.answers.hidden),
    )


def _blame_unparsable(
    template: Template, answers: Mapping[str, Any], where: str, err: InvalidAnswerError
) -> None:
    """A value Copier cannot even parse (port=http) comes without the question's name:
    find it by asking about each answer alone, and raise that error instead. Alone, an answer
    may make another question's validator refuse its default (with_backstage=true without an
    owner): that is not the culprit."""
    if err.message.startswith("invalid answer") and len(answers) > 1:
        for key, value in answers.items():
            try:
                _pretend(template, {key: value}, where)
            except InvalidAnswerError as alone:
                if alone.message.startswith(f"invalid {key}{where}: "):
                    raise


def _pretend(template: Template, answers: Mapping[str, Any], where: str, *, unsafe: bool = True) -> Any:
    """A Copier run that asks nothing and writes nothing: it validates `answers`."""
    try:
        with tempfile.TemporaryDirectory(prefix="gostarter-check-") as tmp:
            project = Path(tmp) / "project"
            return _copy(template, project, data=answers, pretend=True, where=where, unsafe=unsafe)
    except InvalidAnswerError as err:
        if err.message.startswith("invalid answer") and len(answers) == 1:
            key = next(iter(answers))
            detail = err.message.split(": ", 1)[-1]
            raise InvalidAnswerError(f"invalid {key}{where}: {detail}") from None
        raise


def _copy(
    template: Template,
    dest: Path,
    *,
    data: Mapping[str, Any],
    user_defaults: Mapping[str, Any] | None = None,
    interactive: bool = False,
    quiet: bool = True,
    pretend: bool = False,
    where: str = "",
    unsafe: bool = True,
) -> Any:
    """The one call of copier.run_copy. Copier's own verification task never runs: a pretend
    run skips tasks (and judges a given `verify` answer); a real one is told verify=none.
    `unsafe=False` (a template no one chose in this command) also skips every task. A checkout
    is rendered from a plain tree of its working tree, made in this call's scratch directory."""
    with _copier_errors(where, template=template.src):
        src, vcs_ref = template.src, template.vcs_ref
        if template.checkout:  # no clone: the caller records the checkout as the source
            src, vcs_ref = str(plain_tree(Path(src), Path(tempfile.mkdtemp(prefix="template-")))), None
        worker = copier.run_copy(
            src,
            dest,
            data=dict(data) if pretend else {**data, **NO_HOOK_VERIFY},
            user_defaults=dict(user_defaults or {}),
            vcs_ref=vcs_ref,
            defaults=not interactive,
            pretend=pretend,
            quiet=quiet,
            skip_tasks=pretend or not unsafe,
            unsafe=unsafe,
            exclude=EXCLUDE,
        )
    too_big = "" if pretend else bounds.oversized(dest, bounds.files_under(dest))
    if too_big:
        raise RenderError(f"the template {too_big}; nothing was written", hint=_BIG_HINT)
    return worker


def ensure_empty_destination(dest: Path, *, ignore: Path | None = None) -> None:
    """Refuse a destination that is a file or a non-empty directory (`ignore`: gostarter's own
    staging directory inside it)."""
    if dest.is_file() or (dest.exists() and not dest.is_dir()):
        raise DestinationError(f"{dest} exists and is not a directory")
    if dest.is_dir():
        own = ignore.parent.name if ignore is not None and ignore.parent.parent == dest else None
        entries = sorted(p.name for p in dest.iterdir() if p.name != own)
        if entries:
            shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
            raise DestinationError(
                f"{dest} is not empty ({shown}); gostarter never overwrites files",
                hint="choose another directory, or empty this one first",
            )


@dataclass(frozen=True)
class Answers:
    """Where the answers of a `gostarter new` come from, so that an error can name its source."""

    data: Mapping[str, Any] = field(default_factory=dict)
    preset: Mapping[str, Any] = field(default_factory=dict)
    preset_source: str = ""

    def source_of(self, key: str) -> str:
        if key in self.data or key not in self.preset:
            return " (from --data)"
        return f" ({self.preset_source})"

    def check_up_front(self, template: Template) -> None:
        """Validate every given answer before any question is asked (interactive runs)."""
        if self.preset:
            check_answers(template, self.preset, source=self.preset_source)
        check_answers(template, {**self.preset, **self.data}, source="from --data")


def _staging_parent(dest: Path | None) -> Path:
    """Where to stage a new project: on `dest`'s own filesystem, so that putting it in place is a
    rename, which cannot fail half-way. An existing (empty) `dest` holds the staging directory
    itself (it may be a mount point); otherwise its parent, where `dest` will be made. Without a
    `dest`, the current directory (else the temporary directory: `_move_into_place` copies across)."""
    parent = Path.cwd() if dest is None else dest if dest.is_dir() else dest.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DestinationError(f"cannot write in {parent}: {err.strerror}") from None
    if os.access(parent, os.W_OK):
        return parent
    if dest is None:  # ./APP_NAME may still be an empty directory one can write in: see below
        return Path(tempfile.gettempdir())
    raise DestinationError(f"cannot write in {parent}: permission denied")


def _move_into_place(project: Path, dest: Path) -> None:
    """Move the rendered project to `dest`, whole or not at all.

    An absent `dest` is one rename of the staged directory. An existing empty
    `dest` is kept (inode, mode, owner) and receives the staged entries by
    renames on its own filesystem; when the project was staged elsewhere (no
    DEST was given and ./APP_NAME turned out to be an empty directory on
    another filesystem), it is first copied into a hidden directory inside
    `dest`. On any failure (a full disk included) `dest` is left as empty as it
    was, and the error names `dest`.
    """
    ensure_empty_destination(dest, ignore=project)
    if not dest.exists():
        try:
            project.rename(dest)
        except OSError as err:
            raise DestinationError(f"cannot create {dest}: {err.strerror}") from None
        return
    inner: Path | None = None
    try:
        if os.stat(project).st_dev != os.stat(dest).st_dev:
            inner = Path(tempfile.mkdtemp(prefix=".gostarter-", dir=dest))
            shutil.copytree(project, inner / "project", symlinks=True)
            project = inner / "project"
        _rename_entries(project, dest)
    except OSError as err:
        raise _unwritten(dest, err) from None
    finally:
        if inner is not None:
            shutil.rmtree(inner, ignore_errors=True)


def _rename_entries(source: Path, dest: Path) -> None:
    """Rename every entry of `source` into `dest` (the same filesystem); on any failure or signal,
    the entries already moved go back, so that `dest` is as it was."""
    moved: list[str] = []
    try:
        for entry in sorted(source.iterdir()):
            entry.rename(dest / entry.name)
            moved.append(entry.name)
    except BaseException:
        for name in reversed(moved):
            with contextlib.suppress(OSError):
                (dest / name).rename(source / name)
        raise


def render(
    template: Template,
    dest: Path | None,
    *,
    answers: Answers | None = None,
    interactive: bool = False,
    quiet: bool = True,
) -> Path:
    """Render a new project, without verifying it, and return its directory.

    The one rendering entry: `gostarter new`, the benchmark and the tests use
    it. It owns the destination check: a file or a non-empty directory is
    refused before anything is rendered, and again before the move. Copier
    renders into a staging directory that is moved into place only once
    complete, so an interrupted or failed run leaves nothing half-written.
    Without `dest`, the project goes to ./APP_NAME.

    Scripted runs validate every answer in the same Copier run that renders
    (one clone of the template per command); interactive runs validate the
    given answers first, so that nobody answers questions for nothing.
    """
    answers = answers or Answers()
    given = {**answers.preset, **answers.data}
    _refuse_internal_keys(given, " (from --data)")
    if dest is not None:
        dest = dest.absolute()
        ensure_empty_destination(dest)
    if interactive:
        answers.check_up_front(template)
    parent = _staging_parent(dest)
    shown = dest if dest is not None else parent
    try:
        staging = Path(tempfile.mkdtemp(prefix=".gostarter-", dir=parent))
    except OSError as err:
        raise DestinationError(f"cannot write in {parent}: {err.strerror}") from None
    try:
        project = staging / "project"
        if interactive:
            worker = _copy(
                template,
                project,
                data=answers.data,
                user_defaults=answers.preset,
                interactive=True,
                quiet=quiet,
            )
        else:
            worker = _render_scripted(template, project, answers, given)
        questions = worker.template.questions_data
        _check_keys(questions, answers.preset, f" ({answers.preset_source})")
        _check_keys(questions, answers.data, " (from --data)")
        _record_provenance(project, template)
        final = dest if dest is not None else Path.cwd().absolute() / str(worker.answers.combined["app_name"])
        _move_into_place(project, final)
        return final
    except RenderError as err:
        cause = err.__cause__  # Copier's OSError: the destination's filesystem, or the template's?
        if isinstance(cause, OSError) and (
            cause.errno in _FULL or str(cause.filename or "").startswith(str(staging))
        ):
            raise _unwritten(shown, cause) from None
        raise
    except OSError as err:  # writing the staged project (a full disk): name the destination
        raise _unwritten(shown, err) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}  # what only the destination's filesystem can cause


def _unwritten(dest: Path, err: OSError) -> DestinationError:
    """The staged project could not be written: say so of the destination, never of the staging."""
    why = err.strerror
    if isinstance(err, shutil.Error) and err.args and isinstance(err.args[0], list) and err.args[0]:
        why = str(err.args[0][0][-1]).split("] ", 1)[-1].split(":", 1)[0]  # copytree: the first failure
    return DestinationError(f"cannot write the project into {dest}: {why}; {dest} was left as it was")


def _render_scripted(template: Template, project: Path, answers: Answers, given: dict[str, Any]) -> Any:
    """One quiet Copier run, every answer passed as data so that Copier validates it.

    Quiet, because the answers are judged in full only once it is done (Copier
    reads any word as a boolean): the listing of a project about to be thrown
    away would mislead. Errors name the source of the answer at fault.
    """
    try:
        return _copy(template, project, data=given)
    except InvalidAnswerError as err:
        match = _BLAMED.match(err.message)
        if match and match["key"] != "answer":
            raise InvalidAnswerError(
                f"invalid {match['key']}{answers.source_of(match['key'])}: {match['msg']}", hint=err.hint
            ) from None
        # Unparsable, without a question's name: the slow path finds and names it.
        answers.check_up_front(template)
        raise


def render_version(tree: Path, dest: Path, answers: Mapping[str, Any]) -> None:
    """Render one version of a template (a plain directory, not a clone) with recorded answers,
    running nothing of the template's: no task, no extension (UnsafeTemplateError instead)."""
    try:
        _copy(Template(str(tree)), dest, data=answers, unsafe=False)
    except UnsafeTemplateError as err:
        raise RenderError(f"the template uses {', '.join(sorted(_unsafe_features(err)))}") from None


def update(
    project: Path,
    *,
    interactive: bool,
    quiet: bool,
    trust: bool = False,
    run_tasks: bool = True,
    data: Mapping[str, Any] | None = None,
    vcs_ref: str | None = None,
) -> None:
    """Bring a generated project up to the newest template version (copier update), or to its
    template's `vcs_ref` (a rehearsal: a branch or commit of the template not yet released).

    `data` changes answers on the way (`--data with_backstage=true`): Copier
    renders the old version with the recorded answers and the new one with
    these, so a file that an answer switches on is added like any other.

    A template's tasks and migrations run only for a template the user trusts:
    the one shipped with gostarter, one named in Copier's settings (`trust:`),
    or any with `trust=True` (`--trust`). An answers file is data from the
    project, and a cloned repository must not be able to run code by naming a
    template. An interrupted update is rolled back with git, so it lands whole
    or not at all (Copier updates only clean git work trees).
    """
    src, _ = recorded(project)
    answers = read_answers(project)
    problem = _unclean(project)
    if problem:
        raise UsageError(
            f"{project} {problem}; Copier updates only a clean git work tree, nothing was changed"
        )
    trusted = trust or _shipped_template(src)

    def run(unsafe: bool) -> None:
        with _copier_errors("", template=src):
            copier.run_update(
                project,
                defaults=not interactive,
                overwrite=True,
                skip_answered=True,
                quiet=quiet,
                unsafe=unsafe,
                skip_tasks=not run_tasks,
                data=dict(data or {}),
                vcs_ref=vcs_ref,
                exclude=EXCLUDE,
            )

    try:
        # Copier would drop an answer its validator refuses and take the default in silence.
        given = {key: value for key, value in answers.items() if not key.startswith("_")}
        where = f"in {project / ANSWERS_FILE}"
        known = check_answers(Template(src), given, source=where, known_only=True, unsafe=trusted)
        if data:
            recorded_known = {key: value for key, value in given.items() if key in known}
            check_answers(Template(src), {**recorded_known, **data}, source="from --data", unsafe=trusted)
        try:
            run(trusted)
        except UnsafeTemplateError as err:
            # Decided for this project, this time: a preview skips tasks, so a template whose only
            # unsafe feature here is tasks puts nothing at risk; migrations would run, so they refuse.
            if run_tasks or _unsafe_features(err) != {"tasks"}:
                raise
            run(True)
        too_big = bounds.oversized(project, _changed(project))
        if too_big:
            raise RenderError(f"the new template version {too_big}; the update was undone", hint=_BIG_HINT)
    except UnsafeTemplateError as err:
        raise UsageError(
            f"the template {sources.redact(src)} (named in {project / ANSWERS_FILE}) has "
            f"{' and '.join(sorted(_unsafe_features(err)))}, and gostarter runs them only for a template "
            "you trust; nothing was changed",
            hint="if you trust it, pass --trust, or add its location to `trust:` in Copier's settings "
            "file (~/.config/copier/settings.yml, or $COPIER_SETTINGS_PATH)",
        ) from None
    except BaseException:
        # Copier updates only clean work trees, so HEAD is what the tree was: whatever stopped the
        # update (an error, a timeout, Ctrl-C), it is applied whole or not at all.
        _roll_back(project)
        raise


def _unsafe_features(err: UnsafeTemplateError) -> set[str]:
    """The features Copier named: tasks, migrations, jinja_extensions."""
    listed = re.search(r"features?: ([^.\n]*)", str(err))
    return {name.strip() for name in listed.group(1).split(",")} if listed else {"unknown features"}


def _unclean(project: Path) -> str:
    """Why `project` is not a clean git work tree ("" when it is): the roll-back needs one."""
    status = sources.run_local_git(["git", "status", "--porcelain"], cwd=project)
    if status.returncode != 0:
        return "is not in a git repository"
    return "has uncommitted changes" if status.stdout.strip() else ""


def _changed(project: Path) -> list[str]:
    """The files an update wrote or added (untracked ones each by name)."""
    status = children.run(["git", "status", "--porcelain", "-z", "-uall", "--no-renames"], cwd=project)
    return [entry[3:] for entry in status.stdout.split("\0") if len(entry) > 3 and entry[1] != "D"]


def _roll_back(project: Path) -> None:
    """Undo a half-applied update: the tree was clean before it, so HEAD is what it was. A tree
    still clean is left alone (not even a reflog entry)."""
    if not _unclean(project):
        return
    for argv in (["git", "reset", "--quiet", "--hard", "HEAD"], ["git", "clean", "--quiet", "-fd"]):
        sources.run_local_git(argv, cwd=project)
