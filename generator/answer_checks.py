"""Checks on given answers that need no Copier: their keys and types, and where each one came from.

Copier judges an answer's value (its validator); these judge what Copier lets
through: an answer to a question the template does not ask, one of Copier's
own `_` names, a word Copier would read as a boolean, a boolean as a number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from generator.errors import InvalidAnswerError, UnknownQuestionsError

BOOL_WORDS = {"true", "false", "yes", "no", "y", "n", "on", "off", "1", "0"}
DATA = "from --data"  # the source of an answer given on the command line (or a form)


@dataclass(frozen=True)
class Answers:
    """Where the answers of a `gostarter new` come from, so that an error can name its source."""

    data: Mapping[str, Any] = field(default_factory=dict)
    preset: Mapping[str, Any] = field(default_factory=dict)
    preset_source: str = ""

    def source_of(self, key: str) -> str:
        """The source of the answer to `key`: --data wins over the preset."""
        if key in self.data or key not in self.preset:
            return DATA
        return self.preset_source


def check_types(questions: Mapping[str, Any], answers: Mapping[str, Any], source: str) -> None:
    """Copier casts any string to a bool and True to the int 1: an answer must be of its question's type."""
    for key, value in answers.items():
        kind = questions.get(key, {}).get("type")
        if kind == "bool" and isinstance(value, str) and value.strip().lower() not in BOOL_WORDS:
            raise InvalidAnswerError(key, f"{value!r} is not true or false", source)
        if kind == "bool" and isinstance(value, int) and not isinstance(value, bool) and value not in (0, 1):
            raise InvalidAnswerError(key, f"{value!r} is not true or false", source)
        if kind in {"int", "float"} and isinstance(value, bool):
            raise InvalidAnswerError(key, f"{value!r} is not a number", source)


def check_keys(questions: Mapping[str, Any], answers: Mapping[str, Any], source: str) -> None:
    """Refuse answers to questions the template does not ask, and bools that are not yes or no."""
    unknown = sorted(set(answers) - set(questions))
    if unknown:
        raise UnknownQuestionsError(unknown, source, hint=f"the template asks: {', '.join(questions)}")
    check_types(questions, answers, source)


def refuse_internal_keys(answers: Mapping[str, Any], source: str) -> None:
    """Copier's own variables (_copier_conf, _src_path, ...) are not answers."""
    internal = sorted(key for key in answers if key.startswith("_"))
    if internal:
        raise UnknownQuestionsError(
            internal, source, hint="names starting with '_' belong to Copier, not to the template's questions"
        )
