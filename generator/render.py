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
import sys
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import copier
from copier.errors import CopierError

from generator.errors import DestinationError, InvalidAnswerError, RenderError, UsageError
from generator.project import ANSWERS_FILE

PACKAGE_DIR = Path(__file__).resolve().parent
BOOL_WORDS = {"true", "false", "yes", "no", "y", "n", "on", "off", "1", "0"}
# Copier's post-generation task verifies unless told not to; gostarter verifies
# by itself after rendering, so that it can choose the exit code.
NO_HOOK_VERIFY = {"verify": "none"}
_VALIDATION = re.compile(r"Validation error for question '(?P<key>[^']+)': (?P<msg>.*)", re.S)
_BLAMED = re.compile(r"invalid (?P<key>\S+): (?P<msg>.*)", re.S)


@dataclass(frozen=True)
class Template:
    """Where the template comes from, and which Git ref of it to render."""

    src: str
    vcs_ref: str | None = None

    @classmethod
    def resolve(cls, src: str | None = None) -> Template:
        """The template to use: `src` when given, else the one shipped with gostarter.

        The shipped template is the source checkout (rendered at HEAD, working
        tree included, so `copier update` can later find the commit) or, in
        an installed wheel, the copy bundled inside the package.
        """
        if src:
            remote = "://" in src or src.startswith(("gh:", "gl:", "git@", "git+"))
            local = Path(src).expanduser()
            if not remote and not local.is_dir():
                raise UsageError(f"template {src} does not exist or is not a directory")
            if not remote and not any((local / name).is_file() for name in ("copier.yml", "copier.yaml")):
                raise UsageError(f"template {src} has no copier.yml: it is not a Copier template")
            return cls(str(local) if not remote else src)
        checkout = PACKAGE_DIR.parent
        if (checkout / "copier.yml").is_file():
            return cls(str(checkout), "HEAD" if (checkout / ".git").exists() else None)
        return cls(str(PACKAGE_DIR / "_template"))


@contextmanager
def _copier_errors(source: str) -> Iterator[None]:
    """Turn Copier's exceptions into gostarter errors with a one-line message."""
    try:
        # Copier writes some blank lines to stdout: keep stdout for results.
        with warnings.catch_warnings(), redirect_stdout(sys.stderr):
            warnings.simplefilter("ignore")  # DirtyLocalWarning and friends
            yield
    except KeyboardInterrupt:
        raise
    except ValueError as err:
        match = _VALIDATION.match(str(err))
        if match:
            raise InvalidAnswerError(f"invalid {match['key']}{source}: {match['msg'].strip()}") from None
        raise InvalidAnswerError(f"invalid answer{source}: {err}") from None
    except CopierError as err:
        raise RenderError(f"copier: {err}") from None
    except OSError as err:
        raise RenderError(f"cannot render the template: {err}") from None


def _check_bools(questions: Mapping[str, Any], answers: Mapping[str, Any], source: str) -> None:
    """Copier casts any string to a bool; a typed answer can only be yes or no."""
    for key, value in answers.items():
        is_bool = questions.get(key, {}).get("type") == "bool"
        if is_bool and isinstance(value, str) and value.strip().lower() not in BOOL_WORDS:
            raise InvalidAnswerError(f"invalid {key}{source}: {value!r} is not true or false")


def _check_keys(questions: Mapping[str, Any], answers: Mapping[str, Any], source: str) -> None:
    """Refuse answers to questions the template does not ask, and bools that are not yes or no."""
    unknown = sorted(set(answers) - set(questions))
    if unknown:
        raise InvalidAnswerError(
            f"unknown question{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}{source}",
            hint=f"the template asks: {', '.join(questions)}",
        )
    _check_bools(questions, answers, source)


def _refuse_internal_keys(answers: Mapping[str, Any], source: str) -> None:
    """Copier's own variables (_copier_conf, _src_path, ...) are not answers."""
    internal = sorted(key for key in answers if key.startswith("_"))
    if internal:
        raise InvalidAnswerError(
            f"unknown question{'s' if len(internal) > 1 else ''} {', '.join(internal)}{source}",
            hint="names starting with '_' belong to Copier, not to the template's questions",
        )


def check_answers(template: Template, answers: Mapping[str, Any], *, source: str = "") -> dict[str, Any]:
    """Validate `answers` through Copier without writing anything.

    Returns every answer the template would use (defaults filled in).
    `source` ("from --data", "in preset.toml") is added to error messages.
    Unknown keys are errors that name the valid ones.
    """
    where = f" ({source})" if source else ""
    _refuse_internal_keys(answers, where)
    try:
        worker = _pretend(template, answers, where)
    except InvalidAnswerError as err:
        _blame_unparsable(template, answers, where, err)
        raise
    _check_keys(worker.template.questions_data, answers, where)
    return dict(worker.answers.combined)


def _blame_unparsable(
    template: Template, answers: Mapping[str, Any], where: str, err: InvalidAnswerError
) -> None:
    """A value Copier cannot even parse (port=http) comes without the question's name:
    find it by asking about each answer alone, and raise that error instead."""
    if err.message.startswith("invalid answer") and len(answers) > 1:
        for key, value in answers.items():
            _pretend(template, {key: value}, where)


def _pretend(template: Template, answers: Mapping[str, Any], where: str) -> Any:
    """A Copier run that asks nothing and writes nothing: it validates `answers`."""
    try:
        with tempfile.TemporaryDirectory(prefix="gostarter-check-") as tmp:
            return _copy(template, Path(tmp) / "project", data=answers, pretend=True, where=where)
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
) -> Any:
    """The one call of copier.run_copy. Copier's own verification task never runs: a pretend
    run skips tasks (and judges a given `verify` answer); a real one is told verify=none."""
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
            skip_tasks=pretend,
            unsafe=True,
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


def update(project: Path, *, interactive: bool, quiet: bool) -> None:
    """Bring a generated project up to the newest template version (copier update)."""
    if not (project / ANSWERS_FILE).is_file():
        raise UsageError(
            f"{project} is not a generated project: it has no {ANSWERS_FILE}",
            hint="run `gostarter update` inside a project that gostarter or copier generated",
        )
    with _copier_errors(""):
        copier.run_update(
            project,
            defaults=not interactive,
            overwrite=True,
            skip_answered=True,
            quiet=quiet,
            unsafe=True,
        )
