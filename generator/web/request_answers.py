"""What a request answers: its query, form body or JSON read strictly (UTF-8, complete), judged by question.

Answers come as query parameters or form fields (or, for /api/verify, a JSON
object), one per question, named as in copier.yml. A parameter no question
has, or an integer not written in ASCII digits, is kept apart: the page turns
them into messages, the API refuses them with 400 naming them (Refused).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request

from generator.web.state import ready

_INTEGER = re.compile(r"-?[0-9]{1,18}")  # ASCII digits only: never ٨٠٨٠, 8_080 or +00080


class Refused(Exception):
    """A request the API answers with 400: a parameter no question has, or a malformed one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message, self.field = message, field


@dataclasses.dataclass
class Given:
    """What a request answers: its answers, the parameters no question has (each once, in order),
    and the answers refused before any validator sees them (an integer not in ASCII digits)."""

    answers: dict[str, str] = dataclasses.field(default_factory=dict)
    unknown: list[str] = dataclasses.field(default_factory=list)
    malformed: dict[str, str] = dataclasses.field(default_factory=dict)


def _decoded(raw: bytes, what: str) -> list[tuple[str, str]]:
    """The pairs of a query string or urlencoded body, refused (not repaired) unless it is UTF-8."""
    try:
        return parse_qsl(raw.decode("utf-8"), keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as err:
        raise Refused(
            f"{what} is not UTF-8: byte 0x{err.object[err.start]:02x} starts no character"
        ) from None


def _boundary(options: str) -> str:
    """The boundary parameter of a multipart content type's options (`boundary=xyz; ...`)."""
    for option in options.split(";"):
        name, _, value = option.partition("=")
        if name.strip().lower() == "boundary":
            return value.strip().strip('"')
    return ""


async def _pairs(request: Request) -> list[tuple[str, Any]]:
    """The query's pairs, then the form body's: every byte UTF-8 and every body complete."""
    pairs: list[tuple[str, Any]] = _decoded(request.scope.get("query_string", b""), "the query")
    if request.method != "POST":
        return pairs
    kind, _, options = request.headers.get("content-type", "").partition(";")
    kind = kind.strip().lower()
    body = await request.body()
    if kind == "application/x-www-form-urlencoded":
        return pairs + _decoded(body, "the body")
    if kind == "multipart/form-data":
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as err:
            raise Refused(
                f"the body is not UTF-8: byte 0x{body[err.start]:02x} starts no character"
            ) from None
        if f"--{_boundary(options)}--".encode() not in body or not _boundary(options):
            raise Refused("the multipart body is truncated or malformed: it lacks its closing boundary")
        async with request.form() as form:
            return pairs + list(form.multi_items())
    if body:
        raise Refused("send the answers as form fields (application/x-www-form-urlencoded) or in the query")
    return pairs


def _judge(request: Request, pairs: list[tuple[str, Any]]) -> Given:
    fields = {each.name: each for each in ready(request.app).fields}
    given = Given()
    for key, value in pairs:
        question = fields.get(key)
        if question is None:
            if key not in given.unknown:
                given.unknown.append(key)
            continue
        if isinstance(value, UploadFile):
            raise Refused(f"{key} must be a plain form field, not a file", key)
        if question.type == "int" and not _INTEGER.fullmatch(value):
            given.malformed[key] = "must be a whole number written in the digits 0-9, e.g. 8080"
            given.answers.pop(key, None)
            continue
        given.malformed.pop(key, None)
        given.answers[key] = value
    return given


async def read_given(request: Request) -> Given:
    """The answers a request gives (query parameters, then form fields; the last of a name wins)."""
    return _judge(request, await _pairs(request))


def _strict(given: Given, names: Iterable[str]) -> dict[str, str]:
    """The answers, or 400 for the first unknown parameter or malformed answer."""
    for key in given.unknown:
        raise Refused(f"unknown parameter {key!r}: the template asks {', '.join(sorted(names))}", key)
    for key, message in given.malformed.items():
        raise Refused(f"invalid {key}: {message}", key)
    return given.answers


async def answers_of(request: Request, *, strict: bool = True) -> tuple[dict[str, str], list[str]]:
    """The answers a request gives and the parameters no question has. `strict`: refuse those (and
    malformed answers) with 400 instead of returning them."""
    given = await read_given(request)
    if strict:
        return _strict(given, (each.name for each in ready(request.app).fields)), []
    return given.answers, given.unknown


async def json_answers(request: Request) -> dict[str, str]:
    """The answers of a JSON body ({"name": value}), as /api/verify takes them: a content type that
    no cross-site form can send, so a foreign page cannot start a verification."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise HTTPException(415, "send the answers as a JSON object (Content-Type: application/json)")
    if request.scope.get("query_string"):
        raise Refused("send the answers in the JSON body, not in the query")
    try:
        data = json.loads((await request.body()).decode("utf-8"))
    except UnicodeDecodeError as err:
        raise Refused(f"the body is not UTF-8 (byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise Refused(f"the body is not JSON: {err.msg} at character {err.pos}") from None
    if not isinstance(data, dict):
        raise Refused('the body must be a JSON object of answers, e.g. {"app_name": "payments"}')
    pairs: list[tuple[str, Any]] = []
    for key, value in data.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, int):
            value = str(value)
        elif not isinstance(value, str):
            raise Refused(f"{key} must be a string, a whole number or a boolean", key)
        pairs.append((key, value))
    return _strict(_judge(request, pairs), (each.name for each in ready(request.app).fields))
