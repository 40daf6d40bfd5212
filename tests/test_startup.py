"""Each command imports what it needs when it runs, so that every command is quick to start.

The commands run as their own processes with `python -X importtime`, which
names every module the process imported, Python's own start-up included.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from generator import verify
from tests.helpers.repos import commit_all, copy_template, render_project
from tests.helpers.running import imported_modules

HEAVY = ("copier", "docker", "questionary", "pydantic", "prompt_toolkit", "jinja2", "requests")


def imported(*args: str) -> set[str]:
    """The top-level packages that `gostarter ARGS` imported."""
    return {name.split(".")[0] for name in imported_modules(*args)}


def test_help_imports_neither_copier_nor_the_docker_sdk() -> None:
    """`gostarter --help` imports none of Copier, the Docker SDK, questionary, pydantic or Jinja,
    nor importlib.metadata (the version is looked up only when printed)."""
    modules = imported_modules("--help")
    top = {name.split(".")[0] for name in modules}
    assert "generator.cli" in modules and "argparse" in modules
    assert not top & set(HEAVY), sorted(top & set(HEAVY))
    assert "importlib.metadata" not in modules


def test_a_subcommands_help_imports_no_more() -> None:
    """`gostarter new --help` builds the same parser: still neither Copier nor the Docker SDK."""
    assert not imported("new", "--help") & set(HEAVY)


def test_version_and_preset_show_do_not_import_the_docker_sdk(tmp_path: Path) -> None:
    """`--version` names the template's version without Copier; `preset show` checks the preset
    through Copier; neither imports the Docker SDK."""
    assert not imported("--version") & {"docker", "copier"}
    preset = tmp_path / "preset.toml"
    preset.write_text('[defaults]\nmaintainer = "Platform <p@example.com>"\n')
    modules = imported("preset", "show", str(preset))
    assert "copier" in modules and "docker" not in modules


def test_check_does_not_import_the_docker_sdk(tmp_path: Path) -> None:
    """`gostarter check` renders with Copier to compare, and never touches the engine."""
    template = copy_template(tmp_path / "template")
    commit_all(template, "1.0.0", tag="1.0.0")
    project = render_project(tmp_path / "svc", template=template)
    modules = imported("check", str(project))
    assert "copier" in modules and "docker" not in modules


def test_verify_does_not_import_copier(tmp_path: Path) -> None:
    """`gostarter verify` imports the whole verification, but not Copier (nor questionary)."""
    project = render_project(tmp_path / "svc")
    modules = imported("verify", str(project), "--verify", "none")
    assert "yaml" in modules  # it did read the project's answers
    assert not modules & {"copier", "questionary", "pydantic", "jinja2"}


def test_the_verify_package_exports_every_name_it_declares() -> None:
    """generator.verify imports its names on first use; each name in __all__ resolves, and an
    unknown one is an AttributeError as for any module."""
    for name in verify.__all__:
        assert getattr(verify, name) is not None, name
    with pytest.raises(AttributeError):
        _ = verify.no_such_name  # type: ignore[attr-defined]


def test_the_version_is_looked_up_on_first_use() -> None:
    """generator.__version__ is still there, read from the package metadata when first asked for."""
    import generator

    assert generator.__version__ and generator.__version__[0].isdigit()
    with pytest.raises(AttributeError):
        _ = generator.no_such_name  # type: ignore[attr-defined]
