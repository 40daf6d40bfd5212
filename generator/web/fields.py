"""copier.yml's questions as form fields, read through Copier (render.examine), never re-parsed here.

A question becomes a field unless copier.yml hides it for good (`when: false`:
`verify`, `module_prefix`); those, and Copier's own `_` keys, are never taken
from a request. Defaults, choices and validation stay Copier's: the page asks
the API, which asks Copier, whenever an answer changes.

Two keys of a question are the page's own: `label` (a short name for the field;
else the key, humanised) and `section` (the group the field is shown in; else
OTHER). Copier ignores keys it does not know in a question (tests/test_copier_contract.py
holds it to that), so a fork's new question gets both with no code change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from generator.errors import InvalidAnswerError

OTHER = "Other"  # the section of a question that names none
_KINDS = {"bool": "checkbox", "int": "number", "float": "number"}
_SCHEMA_TYPES = {"bool": "boolean", "int": "integer", "float": "number"}


@dataclass(frozen=True)
class Choice:
    label: str
    value: Any


@dataclass(frozen=True)
class Field:
    """One question of copier.yml, as the page, the help, the metadata and OpenAPI show it."""

    name: str
    type: str  # Copier's: str, int, float, bool, yaml, json
    help: str
    default: Any  # the template's default with the preset in force, computed by Copier
    choices: tuple[Choice, ...]
    required: bool
    secret: bool
    label: str = ""  # copier.yml's `label`, else the key humanised
    section: str = OTHER  # copier.yml's `section`

    @property
    def kind(self) -> str:
        """The HTML control: select, checkbox, number or text."""
        return "select" if self.choices else _KINDS.get(self.type, "text")

    @property
    def schema_type(self) -> str:
        """The JSON Schema type of its value."""
        return _SCHEMA_TYPES.get(self.type, "string")

    def metadata(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name, "label": self.label, "section": self.section}
        entry |= {"type": self.type, "help": self.help}
        entry |= {"default": self.default, "required": self.required}
        if self.choices:
            entry["choices"] = [{"label": choice.label, "value": choice.value} for choice in self.choices]
        return entry


@dataclass(frozen=True)
class Section:
    """Fields shown together, under the section's name."""

    name: str
    fields: tuple[Field, ...]


def sections(fields: list[Field]) -> list[Section]:
    """The fields grouped by section, sections in the order of their first question."""
    groups: dict[str, list[Field]] = {}
    for field in fields:
        groups.setdefault(field.section, []).append(field)
    return [Section(name, tuple(members)) for name, members in groups.items()]


def humanised(key: str) -> str:
    """A question's key as a label: `with_k8s` -> "With k8s"."""
    words = key.replace("_", " ").replace("-", " ").split()
    text = " ".join(words)
    return text[:1].upper() + text[1:] if text else key


def _text(value: Any) -> str:
    return " ".join(str(value).split()) if isinstance(value, (str, int, float)) else ""


def _choices(raw: Any) -> tuple[Choice, ...]:
    """Copier's three spellings of choices: {label: value}, [[label, value]], [value]."""
    if isinstance(raw, Mapping):
        pairs = list(raw.items())
    elif isinstance(raw, list):
        pairs = [
            tuple(item) if isinstance(item, (list, tuple)) and len(item) == 2 else (item, item)
            for item in raw
        ]
    else:
        return ()
    return tuple(
        Choice(str(label), value["value"] if isinstance(value, Mapping) else value) for label, value in pairs
    )


def _type(details: Mapping[str, Any], default: Any) -> str:
    declared = details.get("type")
    if declared:
        return str(declared)
    return {bool: "bool", int: "int", float: "float"}.get(type(default), "str")


def from_questions(questions: Mapping[str, Mapping[str, Any]], answers: Mapping[str, Any]) -> list[Field]:
    """A field per question that copier.yml does not hide for good, with Copier's computed defaults."""
    fields = []
    for name, details in questions.items():
        if details.get("when") is False:
            continue
        default = answers.get(name)
        fields.append(
            Field(
                name=name,
                type=_type(details, default),
                help=str(details.get("help") or ""),
                default=default,
                choices=_choices(details.get("choices")),
                required="default" not in details,
                secret=bool(details.get("secret")),
                label=_text(details.get("label")) or humanised(name),
                section=_text(details.get("section")) or OTHER,
            )
        )
    return fields


def blame(err: InvalidAnswerError) -> tuple[str | None, str]:
    """The question an error names, and the validator's own message (without gostarter's prefix)."""
    return (err.key, err.detail.strip()) if err.key else (None, err.message)
