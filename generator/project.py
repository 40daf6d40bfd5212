"""A generated project on disk: its answers file and the settings read from it.

No Copier import here: verification and the Copier task only need to read a
YAML file, not to load the template engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from generator.errors import UsageError

ANSWERS_FILE = ".copier-answers.yml"


def read_answers(project: Path) -> dict[str, Any]:
    """The answers recorded in a generated project's answers file."""
    if not project.is_dir():
        raise UsageError(f"{project} is not a directory")
    path = project / ANSWERS_FILE
    try:
        answers = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"{project} is not a generated project: it has no {ANSWERS_FILE}",
            hint="run gostarter inside a project that gostarter or copier generated",
        ) from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UsageError(f"cannot read {path}: {first}") from None
    if not isinstance(answers, dict):
        raise UsageError(f"{path} does not hold answers (it is not a YAML mapping)")
    return answers


def recorded(project: Path) -> tuple[str, str]:
    """The template source (`_src_path`) and version (`_commit`) a project records."""
    answers = read_answers(project)
    source, commit = answers.get("_src_path"), answers.get("_commit")
    if not isinstance(source, str) or not source.strip():
        raise UsageError(f"{project / ANSWERS_FILE} names no template (_src_path)")
    return source, str(commit or "")


@dataclass(frozen=True)
class Settings:
    """What verification needs to know about a project: its directory, name and port."""

    root: Path
    app_name: str
    port: int

    @classmethod
    def read(cls, project: Path) -> Settings:
        answers = read_answers(project)
        app, port = answers.get("app_name"), answers.get("port")
        if not isinstance(app, str) or not app or isinstance(port, bool) or not isinstance(port, int):
            raise UsageError(f"{project / ANSWERS_FILE} lacks a valid app_name and port")
        if not 1 <= port <= 65535:
            raise UsageError(f"{project / ANSWERS_FILE}: port {port} is not between 1 and 65535")
        return cls(project.resolve(), app, port)
