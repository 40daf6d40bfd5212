"""Rendering with Copier: the one module that imports copier.

The questions, their defaults and validators live in the template's
copier.yml only. Interactive runs let Copier ask them (with questionary:
help text, inline validation, defaults pre-filled, choices as select lists);
scripted runs pass answers as data, and `check_answers` validates them up
front through Copier itself, so an answer is judged exactly the same way
whether it was typed, passed with --data or read from a preset.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import copier
import yaml  # a dependency of copier
from copier.errors import CopierError

from generator.errors import DestinationError, InvalidAnswerError, RenderError, UsageError

ANSWERS_FILE = ".copier-answers.yml"
PACKAGE_DIR = Path(__file__).resolve().parent
BOOL_WORDS = {"true", "false", "yes", "no", "y", "n", "on", "off", "1", "0"}
# Copier's post-generation task verifies unless told not to; gostarter verifies
# by itself after rendering, so that it can choose the exit code.
NO_HOOK_VERIFY = {"verify": "none"}
_VALIDATION = re.compile(r"Validation error for question '(?P<key>[^']+)': (?P<msg>.*)", re.S)


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


def check_answers(template: Template, answers: Mapping[str, Any], *, source: str = "") -> dict[str, Any]:
    """Validate `answers` through Copier without writing anything.

    Returns every answer the template would use (defaults filled in).
    `source` ("from --data", "in preset.toml") is added to error messages.
    Unknown keys are errors that name the valid ones.
    """
    where = f" ({source})" if source else ""
    try:
        worker = _pretend(template, answers, where)
    except InvalidAnswerError as err:
        # A value Copier cannot even parse (port=http) comes without the
        # question's name: find it by asking about each answer alone.
        if not err.message.startswith("invalid answer") or len(answers) < 2:
            raise
        for key, value in answers.items():
            _pretend(template, {key: value}, where)
        raise
    questions = worker.template.questions_data
    unknown = sorted(set(answers) - set(questions))
    if unknown:
        raise InvalidAnswerError(
            f"unknown question{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}{where}",
            hint=f"the template asks: {', '.join(questions)}",
        )
    _check_bools(questions, answers, where)
    return dict(worker.answers.combined)


def _pretend(template: Template, answers: Mapping[str, Any], where: str) -> Any:
    """A Copier run that asks nothing and writes nothing: it validates `answers`."""
    try:
        with tempfile.TemporaryDirectory(prefix="gostarter-check-") as tmp, _copier_errors(where):
            return copier.run_copy(
                template.src,
                Path(tmp) / "project",
                data=dict(answers),
                vcs_ref=template.vcs_ref,
                defaults=True,
                pretend=True,
                quiet=True,
                skip_tasks=True,
                unsafe=True,
            )
    except InvalidAnswerError as err:
        if err.message.startswith("invalid answer") and len(answers) == 1:
            key = next(iter(answers))
            detail = err.message.split(": ", 1)[-1]
            raise InvalidAnswerError(f"invalid {key}{where}: {detail}") from None
        raise


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


def render(
    template: Template,
    dest: Path | None,
    *,
    data: Mapping[str, Any],
    user_defaults: Mapping[str, Any],
    interactive: bool,
    quiet: bool,
) -> Path:
    """Render a new project and return its directory.

    Copier renders into a staging directory beside the destination, which is
    moved into place only once complete: an interrupted or failed run leaves
    nothing half-written. Without `dest`, the project goes to ./APP_NAME.
    Copier's own post-generation task is told not to verify: the caller does,
    so that it can pick the exit code.
    """
    if dest is not None:
        ensure_empty_destination(dest)
    parent = (dest.parent if dest is not None else Path.cwd()).resolve()
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".gostarter-", dir=parent))
    except OSError as err:
        raise DestinationError(f"cannot write in {parent}: {err.strerror}") from None
    try:
        project = staging / "project"
        with _copier_errors(""):
            worker = copier.run_copy(
                template.src,
                project,
                data={**data, **NO_HOOK_VERIFY},
                user_defaults=dict(user_defaults),
                vcs_ref=template.vcs_ref,
                defaults=not interactive,
                quiet=quiet,
                unsafe=True,
            )
        if dest is None:
            dest = parent / str(worker.answers.combined["app_name"])
        ensure_empty_destination(dest)
        if dest.exists():
            dest.rmdir()
        project.rename(dest)
        return dest
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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


def read_answers(project: Path) -> dict[str, Any]:
    """The answers recorded in a generated project's answers file."""
    path = project / ANSWERS_FILE
    try:
        answers = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{project} is not a generated project: it has no {ANSWERS_FILE}") from None
    except (OSError, yaml.YAMLError) as err:
        raise UsageError(f"cannot read {path}: {err}") from None
    if not isinstance(answers, dict):
        raise UsageError(f"{path} does not hold answers")
    return answers
