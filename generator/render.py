"""Rendering with Copier: the one module that imports copier.

The questions, their defaults and validators live in the template's
copier.yml only. Interactive runs let Copier ask them (with questionary:
help text, inline validation, defaults pre-filled, choices as select lists);
scripted runs pass answers as data, and `check_answers` validates them up
front through Copier itself, so an answer is judged exactly the same way
whether it was typed, passed with --data or read from a preset.
"""

from __future__ import annotations

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
from copier.errors import CopierError, UnsafeTemplateError

from generator.errors import DestinationError, InvalidAnswerError, RenderError, UsageError
from generator.project import ANSWERS_FILE, read_answers, recorded
from generator.template import Template as Template  # re-exported: callers of render.Template keep working
from generator.template import record_provenance as _record_provenance
from generator.template import shipped_template as _shipped_template

BOOL_WORDS = {"true", "false", "yes", "no", "y", "n", "on", "off", "1", "0"}
# Copier's post-generation task verifies unless told not to; gostarter verifies
# by itself after rendering, so that it can choose the exit code.
NO_HOOK_VERIFY = {"verify": "none"}
_VALIDATION = re.compile(r"Validation error for question '(?P<key>[^']+)': (?P<msg>.*)", re.S)
_BLAMED = re.compile(r"invalid (?P<key>\S+): (?P<msg>.*)", re.S)


_FORK_HINT = "fix the template (or report it to whoever maintains it); nothing was written"


def _jinja_problem(err: jinja2.TemplateError) -> str:
    """A Jinja error in one line, with the template file and line where Jinja knows them."""
    message = (err.message or type(err).__name__).splitlines()[0]
    if isinstance(err, jinja2.TemplateSyntaxError) and err.lineno:
        return f"{err.filename or err.name or 'a template string'}:{err.lineno}: {message}"
    return message


@contextmanager
def _copier_errors(source: str) -> Iterator[None]:
    """Turn Copier's exceptions into gostarter errors with a one-line message."""
    try:
        # Copier writes some blank lines to stdout: keep stdout for results.
        with warnings.catch_warnings(), redirect_stdout(sys.stderr):
            warnings.simplefilter("ignore")  # DirtyLocalWarning and friends
            yield
    except (KeyboardInterrupt, UnsafeTemplateError):
        raise
    except jinja2.TemplateError as err:
        raise RenderError(f"the template is broken: {_jinja_problem(err)}", hint=_FORK_HINT) from None
    except ValueError as err:
        match = _VALIDATION.match(str(err))
        if match:
            raise InvalidAnswerError(f"invalid {match['key']}{source}: {match['msg'].strip()}") from None
        raise InvalidAnswerError(f"invalid answer{source}: {err}") from None
    except CopierError as err:
        raise RenderError(f"copier: {err}") from None
    except OSError as err:
        raise RenderError(f"cannot render the template: {err}") from None


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
    find it by asking about each answer alone, and raise that error instead."""
    if err.message.startswith("invalid answer") and len(answers) > 1:
        for key, value in answers.items():
            _pretend(template, {key: value}, where)


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
    `unsafe=False` (a template no one chose in this command) also skips every task."""
    with _copier_errors(where):
        return copier.run_copy(
            template.src,
            dest,
            data=dict(data) if pretend else {**data, **NO_HOOK_VERIFY},
            user_defaults=dict(user_defaults or {}),
            vcs_ref=template.vcs_ref,
            defaults=not interactive,
            pretend=pretend,
            quiet=quiet,
            skip_tasks=pretend or not unsafe,
            unsafe=unsafe,
        )


def ensure_empty_destination(dest: Path) -> None:
    """Refuse a destination that is a file or a non-empty directory."""
    if dest.is_file() or (dest.exists() and not dest.is_dir()):
        raise DestinationError(f"{dest} exists and is not a directory")
    if dest.is_dir():
        entries = sorted(p.name for p in dest.iterdir())
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


def _staging_parent(parent: Path) -> Path:
    """Stage beside the destination (so the final move is a rename), else in the temp directory."""
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DestinationError(f"cannot write in {parent}: {err.strerror}") from None
    return parent if os.access(parent, os.W_OK) else Path(tempfile.gettempdir())


def _move_into_place(project: Path, dest: Path) -> None:
    """Move the rendered project to `dest`; an existing empty `dest` is kept (inode, mode, owner)."""
    ensure_empty_destination(dest)
    if not dest.exists():
        shutil.move(project, dest)
        return
    for entry in sorted(project.iterdir()):
        shutil.move(entry, dest / entry.name)


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
    parent = _staging_parent(dest.parent if dest is not None else Path.cwd())
    staging = Path(tempfile.mkdtemp(prefix=".gostarter-", dir=parent))
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
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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
    project: Path, *, interactive: bool, quiet: bool, trust: bool = False, run_tasks: bool = True
) -> None:
    """Bring a generated project up to the newest template version (copier update).

    A template's tasks and migrations run only for a template the user trusts:
    the one shipped with gostarter, one named in Copier's settings (`trust:`),
    or any with `trust=True` (`--trust`). An answers file is data from the
    project, and a cloned repository must not be able to run code by naming a
    template. An interrupted update is rolled back with git, so it lands whole
    or not at all (Copier updates only clean git work trees).
    """
    src, _ = recorded(project)
    answers = read_answers(project)

    trusted = trust or _shipped_template(src)

    def run(unsafe: bool) -> None:
        with _copier_errors(""):
            copier.run_update(
                project,
                defaults=not interactive,
                overwrite=True,
                skip_answered=True,
                quiet=quiet,
                unsafe=unsafe,
                skip_tasks=not run_tasks,
            )

    try:
        # Copier would drop an answer its validator refuses and take the default in silence.
        given = {key: value for key, value in answers.items() if not key.startswith("_")}
        where = f"in {project / ANSWERS_FILE}"
        check_answers(Template(src), given, source=where, known_only=True, unsafe=trusted)
        try:
            run(trusted or (not run_tasks and src in _TASKS_ONLY))
        except UnsafeTemplateError as err:
            # A preview skips tasks, so tasks alone put nothing at risk; migrations would run.
            if run_tasks or _unsafe_features(err) != {"tasks"}:
                raise
            _TASKS_ONLY.add(src)  # the next preview of this template need not ask again
            run(True)
    except UnsafeTemplateError as err:
        raise UsageError(
            f"the template {src} (named in {project / ANSWERS_FILE}) has "
            f"{' and '.join(sorted(_unsafe_features(err)))}, and gostarter runs them only for a template "
            "you trust; nothing was changed",
            hint="if you trust it, pass --trust, or add its location to `trust:` in Copier's settings "
            "file (~/.config/copier/settings.yml, or $COPIER_SETTINGS_PATH)",
        ) from None
    except KeyboardInterrupt:
        _roll_back(project)
        raise


# Templates whose only unsafe feature is tasks, learnt in this process (previews skip tasks).
_TASKS_ONLY: set[str] = set()


def _unsafe_features(err: UnsafeTemplateError) -> set[str]:
    """The features Copier named: tasks, migrations, jinja_extensions."""
    listed = re.search(r"features?: ([^.\n]*)", str(err))
    return {name.strip() for name in listed.group(1).split(",")} if listed else {"unknown features"}


def _roll_back(project: Path) -> None:
    """Undo a half-applied update: the tree was clean before it, so HEAD is what it was."""
    for argv in (["git", "reset", "--quiet", "--hard", "HEAD"], ["git", "clean", "--quiet", "-fd"]):
        subprocess.run(argv, cwd=project, capture_output=True, check=False)
