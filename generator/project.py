"""A generated project on disk: its answers file and the settings read from it.

No Copier import here: verification and the Copier task only need to read a
YAML file, not to load the template engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from generator import inputs, sources
from generator.errors import UsageError

ANSWERS_FILE = ".copier-answers.yml"


def read_answers(project: Path) -> dict[str, Any]:
    """The answers recorded in a generated project's answers file."""
    if not project.is_dir():
        raise UsageError(f"{project} is not a directory")
    path = project / ANSWERS_FILE
    try:
        answers = yaml.load(inputs.read_text(path, what="answers file"), Loader=_AnswersLoader)
    except FileNotFoundError:
        raise UsageError(
            f"{project} is not a generated project: it has no {ANSWERS_FILE}",
            hint="run gostarter inside a project that gostarter or copier generated",
        ) from None
    except RecursionError:
        raise UsageError(f"cannot read {path}: it is nested too deeply to be answers") from None
    except yaml.YAMLError as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UsageError(f"cannot read {path}: {first}") from None
    if not isinstance(answers, dict):
        raise UsageError(f"{path} does not hold answers (it is not a YAML mapping)")
    return answers


class _AnswersLoader(yaml.SafeLoader):
    """YAML's safe loader without aliases: Copier never writes them, and an alias bomb of a few
    bytes would otherwise grow into gigabytes wherever the answers are walked."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed in answers")
        return super().compose_node(parent, index)


def recorded(project: Path) -> tuple[str, str]:
    """The template source (`_src_path`) and version (`_commit`) a project records, checked to be
    a template location and a git ref before anything uses them (they are data from the project)."""
    answers = read_answers(project)
    where = str(project / ANSWERS_FILE)
    source = sources.check_source(answers.get("_src_path"), where)
    return source, sources.check_commit(answers.get("_commit"), where)


@dataclass(frozen=True)
class Settings:
    """What verification needs to know about a project: its directory, name and port, and the
    platforms its answers name (comma-separated; empty: the engine's own)."""

    root: Path
    app_name: str
    port: int
    platforms: str = ""

    @classmethod
    def read(cls, project: Path) -> Settings:
        answers = read_answers(project)
        app, port = answers.get("app_name"), answers.get("port")
        if not isinstance(app, str) or not app or isinstance(port, bool) or not isinstance(port, int):
            raise UsageError(f"{project / ANSWERS_FILE} lacks a valid app_name and port")
        if not 1 <= port <= 65535:
            raise UsageError(f"{project / ANSWERS_FILE}: port {port} is not between 1 and 65535")
        platforms = answers.get("platforms") or ""
        if not isinstance(platforms, str):
            raise UsageError(f"{project / ANSWERS_FILE}: platforms must be a comma-separated string")
        return cls(project.resolve(), app, port, platforms)
