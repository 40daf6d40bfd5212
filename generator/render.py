"""Rendering with Copier: the one module that imports copier.

The questions, their defaults and validators live in the template's
copier.yml only. Interactive runs let Copier ask them (with questionary:
help text, inline validation, defaults pre-filled, choices as select lists);
scripted runs pass answers as data, and `check_answers` validates them up
front through Copier itself, so an answer is judged exactly the same way
whether it was typed, passed with --data or read from a preset.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import copier
import jinja2
from copier.errors import CopierError, CopierWarning, PathError, UnsafeTemplateError
from plumbum import ProcessExecutionError

from generator import bounds, children, faults, git_guard, sources, staging
from generator.answer_checks import DATA, check_keys, refuse_internal_keys
from generator.answer_checks import Answers as Answers  # re-exported: callers of render.Answers keep working
from generator.errors import (
    GostarterError,
    InvalidAnswerError,
    RenderError,
    UnknownQuestionsError,
    UsageError,
)
from generator.project import ANSWERS_FILE, read_answers, recorded
from generator.template import Template as Template  # re-exported: callers of render.Template keep working
from generator.template import plain_tree
from generator.template import record_provenance as _record_provenance
from generator.template import shipped_template as _shipped_template

# Copier's post-generation task verifies unless told not to; gostarter verifies
# by itself after rendering, so that it can choose the exit code.
NO_HOOK_VERIFY = {"verify": "none"}
_VALIDATION = re.compile(r"Validation error for question '(?P<key>[^']+)': (?P<msg>.*)", re.S)


_BIG_HINT = f"fix the template, or raise ${bounds.MAX_RENDER_ENV} if it is meant to render this much"
# Passed to every Copier call, whatever the template's own `_exclude` says (Copier puts the
# caller's patterns last, and the last match wins): nothing rendered lands in a git directory.
EXCLUDE = (".git",)


# Copier's internals and wording, one function each: tests/test_copier_contract.py pins every one.


def _questions(worker: Any) -> dict[str, dict[str, Any]]:
    """copier.yml's questions as Copier read them (type, help, default, when...), in order:
    `Worker.template.questions_data`."""
    return dict(worker.template.questions_data)


def _combined(worker: Any) -> Mapping[str, Any]:
    """Every answer, defaults computed from the given ones (and Copier's own `_` context):
    `Worker.answers.combined`."""
    combined: Mapping[str, Any] = worker.answers.combined
    return combined


def _hidden(worker: Any) -> frozenset[str]:
    """The questions Copier skipped (`when` false) with these answers: `Worker.answers.hidden`,
    private in Copier's own source."""
    return frozenset(worker.answers.hidden)


def _validation_failure(err: ValueError) -> tuple[str, str]:
    """The question and the validator's words in Copier's "Validation error for question 'KEY':
    MESSAGE"; ("", the whole text) for a ValueError that names no question (a value Copier
    could not parse)."""
    match = _VALIDATION.match(str(err))
    return (match["key"], match["msg"].strip()) if match else ("", str(err))


def _copier_file(err: BaseException) -> str:
    """The template file Copier was rendering when `err` was raised outside template code (a file
    that is not UTF-8: Jinja's loader raises UnicodeDecodeError), from its `_render_file` frame's
    `src_relpath`, as "template/NAME: "; "" when Copier was rendering no file. Copier's internals:
    tests/test_copier_contract.py and tests/test_template_faults.py fail naming Copier if they change."""
    tb = err.__traceback__
    found = ""
    while tb is not None:
        if tb.tb_frame.f_code.co_name == "_render_file" and "src_relpath" in tb.tb_frame.f_locals:
            found = f"{tb.tb_frame.f_locals['src_relpath']}: "
        tb = tb.tb_next
    return found


def _guard_git_dir() -> None:
    """Make Copier refuse, by name, any path it renders into a git directory.

    Copier asks `Worker.match_exclude` (an internal cached property: tests/test_copier_contract.py
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
            if git_guard.into_git_dir(root, Path(path)):
                raise git_guard.IntoGitDir(str(path))
            return bool(excluded(path))

        return match

    guarded: Any = functools.cached_property(match_exclude)
    guarded.__set_name__(Worker, "match_exclude")
    guarded.gostarter_guard = True
    guarded.gostarter_original = original  # Copier's own, for tests/test_copier_contract.py
    setattr(Worker, "match_exclude", guarded)  # noqa: B010 - a cached_property, not a method


_guard_git_dir()


@contextmanager
def _scratch() -> Iterator[None]:
    """Copier's temporary clones and renders go into a directory of this call's own, removed on
    every way out: Copier itself leaves its clone in TMPDIR when it is interrupted mid-clone.
    Copier makes them in tempfile's directory (tests/test_copier_contract.py pins it)."""
    scratch = tempfile.mkdtemp(prefix="gostarter-copier-")
    saved = tempfile.tempdir
    tempfile.tempdir = scratch
    try:
        yield
    finally:
        tempfile.tempdir = saved
        shutil.rmtree(scratch, ignore_errors=True)


@contextmanager
def _template_faults() -> Iterator[None]:
    """Whatever template code raises becomes one RenderError naming the template's file and line
    (faults.template_fault); Copier's own refusals and gostarter's errors pass as they are."""
    try:
        yield
    except (UnsafeTemplateError, GostarterError, jinja2.TemplateSyntaxError, git_guard.IntoGitDir):
        raise
    except Exception as err:
        fault = faults.template_fault(err, rendering=_copier_file(err))
        if fault is None:
            raise
        raise fault from None


@contextmanager
def _copier_errors(source: str, *, template: str) -> Iterator[None]:
    """Run a Copier call under gostarter's git policy (allowed transports) and network deadline,
    turning its exceptions into gostarter errors with a one-line message, credentials redacted.
    `source` ("from --data") is where the answers came from; `template` is the source being used."""
    sources.apply_git_policy()
    try:
        # Copier writes some blank lines to stdout: keep stdout for results.
        with (
            _scratch(),
            sources.network_deadline(template),
            sources.local_git_deadline(),
            git_guard.refused(template),
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
            hint=faults.FORK_HINT,
        ) from None
    except jinja2.TemplateError as err:
        raise RenderError(
            f"the template is broken: {faults.jinja_problem(err)}", hint=faults.FORK_HINT
        ) from None
    except ValueError as err:
        key, detail = _validation_failure(err)
        raise InvalidAnswerError(key, detail, source) from None
    except CopierError as err:
        raise RenderError(sources.redact(f"copier: {err}")) from None
    except ProcessExecutionError as err:  # Copier's git could not clone or check out the template
        done = subprocess.CompletedProcess(err.argv, int(err.retcode or 1), err.stdout, err.stderr)
        raise sources.unreachable(template, done) from None
    except OSError as err:  # the destination's filesystem, or the template's: staging.staged decides
        raise RenderError(sources.redact(f"cannot render the template: {err}"), os_error=err) from None
    except Exception as err:  # noqa: BLE001 - Copier's own failure, whatever its kind: one line
        raise RenderError(
            sources.redact(f"copier failed on the template {template}: {faults.first_line(err)}")
        ) from None


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
    refuse_internal_keys(answers, source)
    try:
        worker = _pretend(template, answers, source, unsafe=unsafe)
    except InvalidAnswerError as err:
        _blame_unparsable(template, answers, source, err)
        raise
    questions = _questions(worker)
    if known_only:
        answers = {key: value for key, value in answers.items() if key in questions}
    check_keys(questions, answers, source)
    combined = _combined(worker)
    return Examined(
        questions=dict(questions),
        answers={key: combined[key] for key in questions if key in combined},
        hidden=_hidden(worker),
    )


def _blame_unparsable(
    template: Template, answers: Mapping[str, Any], source: str, err: InvalidAnswerError
) -> None:
    """A value Copier cannot even parse (port=http) comes without the question's name:
    find it by asking about each answer alone, and raise that error instead. Alone, an answer
    may make another question's validator refuse its default (with_backstage=true without an
    owner): that is not the culprit."""
    if _unnamed(err) and len(answers) > 1:
        for key, value in answers.items():
            try:
                _pretend(template, {key: value}, source)
            except InvalidAnswerError as alone:
                if alone.key == key:
                    raise


def _unnamed(err: InvalidAnswerError) -> bool:
    """Whether `err` names no question: a value Copier could not even parse."""
    return not err.key and not isinstance(err, UnknownQuestionsError)


def _pretend(template: Template, answers: Mapping[str, Any], source: str, *, unsafe: bool = True) -> Any:
    """A Copier run that asks nothing and writes nothing: it validates `answers`."""
    try:
        with tempfile.TemporaryDirectory(prefix="gostarter-check-") as tmp:
            project = Path(tmp) / "project"
            return _copy(template, project, data=answers, pretend=True, source=source, unsafe=unsafe)
    except InvalidAnswerError as err:
        if _unnamed(err) and len(answers) == 1:
            raise InvalidAnswerError(next(iter(answers)), err.detail, source) from None
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
    source: str = "",
    unsafe: bool = True,
) -> Any:
    """The one call of copier.run_copy. Copier's own verification task never runs: a pretend
    run skips tasks (and judges a given `verify` answer); a real one is told verify=none.
    `unsafe=False` (a template no one chose in this command) also skips every task. A checkout
    is rendered from a plain tree of its working tree, made in this call's scratch directory."""
    with _copier_errors(source, template=template.src):
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
    refuse_internal_keys(given, DATA)
    if dest is not None:
        dest = dest.absolute()
        staging.ensure_empty_destination(dest)
    if interactive:
        _check_up_front(answers, template)
    with staging.staged(dest) as project:
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
        questions = _questions(worker)
        check_keys(questions, answers.preset, answers.preset_source)
        check_keys(questions, answers.data, DATA)
        _record_provenance(project, template)
        final = dest if dest is not None else Path.cwd().absolute() / str(_combined(worker)["app_name"])
        staging.move_into_place(project, final)
        return final


def _check_up_front(answers: Answers, template: Template) -> None:
    """Validate every given answer before any question is asked (interactive runs)."""
    if answers.preset:
        check_answers(template, answers.preset, source=answers.preset_source)
    check_answers(template, {**answers.preset, **answers.data}, source=DATA)


def _render_scripted(template: Template, project: Path, answers: Answers, given: dict[str, Any]) -> Any:
    """One quiet Copier run, every answer passed as data so that Copier validates it.

    Quiet, because the answers are judged in full only once it is done (Copier
    reads any word as a boolean): the listing of a project about to be thrown
    away would mislead. Errors name the source of the answer at fault.
    """
    try:
        return _copy(template, project, data=given)
    except InvalidAnswerError as err:
        if err.key:
            raise InvalidAnswerError(err.key, err.detail, answers.source_of(err.key), hint=err.hint) from None
        # Unparsable, without a question's name: the slow path finds and names it.
        _check_up_front(answers, template)
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
    """The features Copier named (tasks, migrations, jinja_extensions), read from its message's wording
    (tests/test_copier_contract.py pins it)."""
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
