"""What gostarter relies on from Copier beyond its documented API, pinned on the Copier installed.

render.py reaches each of these through one named function; a Copier release
that changes one fails here, naming Copier, its version and the thing that
changed, instead of showing up as misattributed answers elsewhere. A new Copier
major is taken only once this file passes (pyproject.toml bounds it below 10).
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable, Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any, TypeVar

import copier
import pytest

from generator import git_guard, render
from tests.helpers.repos import commit_all

COPIER = f"Copier {version('copier')}"
E = TypeVar("E", bound=BaseException)

QUESTIONS = """\
name:
  type: str
  help: The name
  default: svc
  validator: "{% if name | length > 8 %}at most 8 characters{% endif %}"
port:
  type: int
  default: 8080
label:
  type: str
  default: "{{ name }}-svc"
internal:
  type: bool
  default: false
  when: false
"""


def tiny_template(root: Path, questions: str = QUESTIONS, files: Mapping[str, str] | None = None) -> Path:
    """The smallest template that asks `questions` and renders `files` (out.txt by default)."""
    root.mkdir()
    (root / "copier.yml").write_text(questions)
    for name, text in (files or {"out.txt.jinja": "{{ name }}\n"}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def raised(kind: type[E], call: Callable[[], object], what: str) -> E:
    """The `kind` of error `call` raises; a failure naming Copier when it raises another or none."""
    try:
        call()
    except kind as err:
        return err
    except Exception as other:  # noqa: BLE001 - whatever Copier raises instead is the finding
        pytest.fail(f"{COPIER}: {what}, but it raised {other!r}")
    pytest.fail(f"{COPIER}: {what}, but it raised nothing")


def pretend(template: Path, tmp_path: Path, data: Mapping[str, Any]) -> Any:
    return copier.run_copy(
        str(template), tmp_path / "out", data=dict(data), pretend=True, defaults=True, quiet=True
    )


def test_a_pretend_run_returns_a_worker_with_the_questions_answers_and_hidden_ones(tmp_path: Path) -> None:
    """render._questions, _combined and _hidden read Worker.template.questions_data (a dict, in
    copier.yml's order), Worker.answers.combined (a mapping: given answers and computed defaults)
    and Worker.answers.hidden (a set: the questions skipped by `when`, private in Copier)."""
    from copier._main import Worker

    worker = pretend(tiny_template(tmp_path / "t"), tmp_path, {"name": "pay"})
    assert isinstance(worker, Worker), f"{COPIER}: run_copy no longer returns its Worker"
    questions = worker.template.questions_data
    assert isinstance(questions, dict), f"{COPIER}: Worker.template.questions_data is a {type(questions)}"
    assert list(questions) == ["name", "port", "label", "internal"], f"{COPIER}: questions_data {questions}"
    assert questions["port"]["type"] == "int" and questions["internal"]["when"] is False, COPIER
    combined = worker.answers.combined
    assert isinstance(combined, Mapping), f"{COPIER}: Worker.answers.combined is a {type(combined)}"
    assert (combined["name"], combined["port"], combined["label"]) == ("pay", 8080, "pay-svc"), (
        f"{COPIER}: Worker.answers.combined no longer holds given answers and computed defaults"
    )
    hidden = worker.answers.hidden
    assert isinstance(hidden, set) and "internal" in hidden, f"{COPIER}: Worker.answers.hidden is {hidden!r}"
    assert render._questions(worker) == questions, COPIER
    assert render._combined(worker)["label"] == combined["label"] == "pay-svc"
    assert render._hidden(worker) == frozenset({"internal"})


def test_a_refused_answer_is_a_value_error_that_names_its_question(tmp_path: Path) -> None:
    """render._validation_failure reads Copier's "Validation error for question 'KEY': MESSAGE"."""
    template = tiny_template(tmp_path / "t")
    refused = raised(
        ValueError,
        lambda: pretend(template, tmp_path, {"name": "much-too-long"}),
        "a validator's refusal was a ValueError",
    )
    assert render._validation_failure(refused) == ("name", "at most 8 characters"), (
        f"{COPIER} words a refused answer differently: {refused}"
    )


def test_match_exclude_is_the_cached_property_gostarter_guards(tmp_path: Path) -> None:
    """Contract with Copier: Worker.match_exclude is a cached property gostarter guards; its
    function takes the worker only and gives a test of a rendered path; the guard reads the
    destination from Worker.dst_path."""
    from copier._main import Worker

    guarded = Worker.__dict__["match_exclude"]
    assert isinstance(guarded, functools.cached_property), f"{COPIER}: Worker.match_exclude is {guarded!r}"
    assert getattr(guarded, "gostarter_guard", False), render.EXCLUDE
    original = inspect.signature(guarded.gostarter_original.func)  # type: ignore[attr-defined]
    assert list(original.parameters) == ["self"], f"{COPIER}: Worker.match_exclude{original}"
    worker = pretend(tiny_template(tmp_path / "t"), tmp_path, {})
    assert Path(worker.dst_path) == tmp_path / "out", f"{COPIER}: Worker.dst_path is {worker.dst_path!r}"
    assert worker.match_exclude(Path("out.txt")) is False, f"{COPIER}: match_exclude no longer tests a path"
    raised(
        git_guard.IntoGitDir,
        lambda: worker.match_exclude(Path(".git") / "hooks" / "pre-commit"),
        "gostarter's guard was what match_exclude ran",
    )


def test_copier_clones_a_template_into_the_directory_gostarter_gives_it(tmp_path: Path) -> None:
    """render._scratch sets tempfile's directory, so that Copier's clone (which Copier leaves behind
    when interrupted mid-clone) is made, and removed, inside a directory of gostarter's own."""
    import tempfile

    template = tiny_template(
        tmp_path / "t",
        QUESTIONS + "_subdirectory: sub\n",
        {"sub/from.txt.jinja": "{{ _copier_conf.src_path }}"},
    )
    commit_all(template, "1.0.0")
    with render._scratch():
        scratch = tempfile.gettempdir()
        copier.run_copy(str(template), tmp_path / "out", vcs_ref="HEAD", defaults=True, quiet=True)
    clone = Path((tmp_path / "out" / "from.txt").read_text())
    assert clone.parent == Path(scratch), f"{COPIER} cloned the template into {clone}, not into {scratch}"
    assert not Path(scratch).exists()


def test_copier_names_the_file_it_renders_as_src_relpath() -> None:
    """render._copier_file finds the file in the traceback by Worker._render_file's `src_relpath`."""
    from copier._main import Worker

    parameters = inspect.signature(Worker._render_file).parameters
    assert "src_relpath" in parameters, (
        f"{COPIER}: Worker._render_file{inspect.signature(Worker._render_file)}"
    )


def test_the_exceptions_gostarter_catches_are_where_it_imports_them() -> None:
    """render.py catches these by class: each is still Copier's (and plumbum's, for Copier's git)."""
    from copier.errors import CopierError, CopierWarning, PathError, UnsafeTemplateError
    from plumbum import ProcessExecutionError

    assert issubclass(PathError, CopierError), f"{COPIER}: PathError is no longer a CopierError"
    assert issubclass(UnsafeTemplateError, CopierError), f"{COPIER}: UnsafeTemplateError moved"
    assert issubclass(CopierWarning, Warning), f"{COPIER}: CopierWarning is no longer a Warning"
    assert issubclass(ProcessExecutionError, Exception), f"{COPIER}: plumbum's ProcessExecutionError moved"


def test_an_unsafe_template_error_lists_its_features(tmp_path: Path) -> None:
    """render._unsafe_features reads the features Copier lists in UnsafeTemplateError's message."""
    from copier.errors import UnsafeTemplateError

    template = tiny_template(tmp_path / "t", QUESTIONS + "_tasks:\n  - [echo, hi]\n")
    refused = raised(
        UnsafeTemplateError,
        lambda: copier.run_copy(str(template), tmp_path / "out", defaults=True, quiet=True, unsafe=False),
        "a template with tasks was refused without unsafe=True",
    )
    assert render._unsafe_features(refused) == {"tasks"}, f"{COPIER} words it: {refused}"


def test_copier_itself_accepts_the_label_and_section_keys(tmp_path: Path) -> None:
    """Contract with Copier: a question's `label` and `section` (the page's own keys) change nothing
    for plain Copier: no error, no warning, and the answer renders. Fails naming Copier if a release
    starts to refuse keys it does not know."""
    template = tmp_path / "template"
    template.mkdir()
    (template / "copier.yml").write_text(
        "name:\n  type: str\n  label: Name\n  section: Service\n  help: The name\n  default: svc\n"
    )
    (template / "out.txt.jinja").write_text("{{ name }}\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        copier.run_copy(str(template), tmp_path / "out", data={"name": "payments"}, quiet=True, defaults=True)
    assert (tmp_path / "out" / "out.txt").read_text() == "payments\n", (
        f"{COPIER} no longer ignores label/section"
    )
