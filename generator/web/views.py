"""The handlers: read the request, call what the CLI calls (in the worker processes), shape the answer.

Answers come as query parameters or form fields, one per question, named as
in copier.yml; anything else is refused with 400 naming it. Every error
leaves through the handlers at the end of this module, as one JSON shape.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Hashable, Iterable, Mapping
from http import HTTPStatus
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from generator.errors import GostarterError, InvalidAnswerError, UsageError
from generator.web import archive, describe, jobs, registries, renders, verify_stream
from generator.web.fields import Field, blame, sections
from generator.web.guard import error_body

if TYPE_CHECKING:
    from generator.web.app import State

log = logging.getLogger("gostarter.web")
_INTEGER = re.compile(r"-?[0-9]{1,18}")  # ASCII digits only: never ٨٠٨٠, 8_080 or +00080
MAX_WARNINGS = 10  # a link that names many unknown parameters gets this many warnings, and a count
_TEXT_CLIENTS = ("curl/", "httpie/", "wget/")
CLIENT_CLOSED_REQUEST = 499  # nginx's status for a request whose client left: it is never sent


class Refused(Exception):
    """A request the API answers with 400: a parameter no question has, or a malformed one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message, self.field = message, field


class ArchiveCache:
    """The last few archives, by format and answers: the same answers give the same bytes."""

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self._kept: OrderedDict[tuple[Any, ...], tuple[str, bytes, str]] = OrderedDict()

    def get(self, key: tuple[Any, ...]) -> tuple[str, bytes, str] | None:
        found = self._kept.get(key)
        if found is not None:
            self._kept.move_to_end(key)
        return found

    def put(self, key: tuple[Any, ...], value: tuple[str, bytes, str]) -> None:
        if self.entries <= 0:
            return
        self._kept[key] = value
        self._kept.move_to_end(key)
        while len(self._kept) > self.entries:
            self._kept.popitem(last=False)


def _state(request: Request) -> State:
    return request.app.state.initializr  # type: ignore[no-any-return]


def _etag(data: bytes) -> str:
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def _not_modified(request: Request, etag: str) -> bool:
    return etag in [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]


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
    fields = {each.name: each for each in _state(request).fields}
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
        return _strict(given, (each.name for each in _state(request).fields)), []
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
    return _strict(_judge(request, pairs), (each.name for each in _state(request).fields))


async def _run(request: Request, job: Callable[..., Any], *args: Any) -> Any:
    """A job in the worker processes, shared with identical requests in flight, refused when the
    queue is full, given up when the client leaves (renders.py)."""
    state = _state(request)
    key = (job.__name__, *(_frozen(arg) for arg in args))
    try:
        return await state.renders.run(key, job, state.job, *args, gone=functools.partial(_gone, request))
    except renders.Busy as busy:
        retry = {"Retry-After": str(busy.retry_after)}
        raise HTTPException(503, f"{busy}; try again in {busy.retry_after} s", headers=retry) from None
    except (renders.TooSlow, renders.WorkerDied) as err:
        raise HTTPException(503, str(err)) from None


def _frozen(value: Any) -> Hashable:
    return tuple(sorted(value.items())) if isinstance(value, Mapping) else value


async def _gone(request: Request) -> None:
    """Returns once the client has closed its connection (the body is read by then: Guard)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


# ---------------------------------------------------------------- views


async def home(request: Request) -> Response:
    """The page for browsers; plain-text help for curl, HTTPie and Accept: text/plain; metadata for JSON."""
    accept = request.headers.get("accept", "")
    agent = request.headers.get("user-agent", "").lower()
    vary = {"Vary": "Accept, User-Agent"}
    if "text/html" not in accept and ("text/plain" in accept or agent.startswith(_TEXT_CLIENTS)):
        state = _state(request)
        text = describe.help_text(state.fields, state.prepared, str(request.base_url).rstrip("/"), agent)
        return PlainTextResponse(text, headers=vary)
    if "application/json" in accept and "text/html" not in accept:
        return await metadata(request)
    return await _page(request, vary)


def _wants_page(request: Request) -> bool:
    """A browser navigating (a form sent with JavaScript off, a reload) asks for HTML: a refusal is
    then the page with its messages, never a JSON body."""
    return "text/html" in request.headers.get("accept", "")


def _shown(field: Field, raw: str) -> Any:
    """A raw answer as its field shows it (a checkbox needs a boolean)."""
    if field.kind == "checkbox":
        return raw.strip().lower() in {"true", "yes", "on", "y", "1"}
    return raw


async def _page(
    request: Request, headers: Mapping[str, str], *, status: int = 200, from_link: bool = True
) -> Response:
    """The form, filled from the query (a share link) or from a form the server refused (sent with
    JavaScript off): refused or unknown parameters become messages on the page, never an error page.
    `from_link`: the answers came from a link, so a banner lists them before anything is downloaded."""
    state = _state(request)
    try:
        read, unread = await read_given(request), []
    except Refused as err:  # a link or form that cannot be read at all (not UTF-8): said on the page
        read, unread, status = Given(), [f"{err.message}; none of its answers were used."], 400
    given = read.answers
    by_name = {field.name: field for field in state.fields}
    values = {field.name: field.default for field in state.fields}
    errors: dict[str, str] = {}
    hidden: list[str] = []
    warnings = unread + unknown_warnings(read.unknown)
    if given:
        try:
            verdict = await _run(request, jobs.validate, given)
        except InvalidAnswerError as err:  # a question not given refuses its default (owner)
            field, message = blame(err)
            verdict = {"answers": {}, "errors": {}, "hidden": []}
            values |= {key: _shown(by_name[key], raw) for key, raw in given.items()}
            if field in values:
                errors[field] = message
            else:
                warnings.append(err.message)
        values |= {key: value for key, value in verdict["answers"].items() if key in values}
        values |= {key: given[key] for key in verdict["errors"] if key in given}
        errors |= verdict["errors"]
        hidden = verdict["hidden"]
    errors |= read.malformed  # an integer not in ASCII digits, refused before Copier saw it
    notes = []
    if not state.prepared.source:
        notes.append(("not-updatable", describe.NOT_UPDATABLE_PAGE))
    if state.settings.verify == "none":
        notes.append(("no-verify", describe.NO_VERIFY_PAGE))
    linked = [
        (by_name[key], "(hidden)" if by_name[key].secret else given[key])
        for key in by_name
        if from_link and key in given
    ]
    context = {
        "sections": sections(state.fields),
        "values": values,
        "errors": errors,
        "hidden": hidden,
        "edited": sorted(given),
        "linked": linked,
        "warnings": warnings,
        "notes": notes,
        "prepared": state.prepared,
        "verify": state.settings.verify != "none",
        "base": str(request.base_url).rstrip("/"),
    }
    page: Response = request.app.state.templates.TemplateResponse(
        request, "index.html", context, status_code=status, headers=dict(headers)
    )
    return page


async def starter(request: Request) -> Response:
    """The project as an archive named after app_name; validated again, whatever the page said."""
    kind = request.url.path.rsplit(".", 1)[-1]
    state = _state(request)
    try:
        given, _ = await answers_of(request)
        key = (kind, tuple(sorted(given.items())))
        cached = state.cache.get(key)
        if cached is None:
            app, data = await _run(request, jobs.build, given, kind)
            cached = (app, data, _etag(data))
            state.cache.put(key, cached)
    except (Refused, InvalidAnswerError):
        if not _wants_page(request):
            raise
        # The form, sent with JavaScript off: the page again, each message beside its field.
        return await _page(request, {"Vary": "Accept"}, status=400, from_link=False)
    app, data, etag = cached
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if _not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    headers["Content-Disposition"] = f'attachment; filename="{app}.{kind}"'
    return Response(data, media_type=archive.FORMATS[kind], headers=headers)


def unknown_warnings(unknown: list[str]) -> list[str]:
    """A warning per parameter no question has (each named once), at most MAX_WARNINGS of them."""
    warnings = [
        f"The link names {key[:100]!r}, which this template does not ask; it was left out."
        for key in unknown[:MAX_WARNINGS]
    ]
    if len(unknown) > MAX_WARNINGS:
        more = len(unknown) - MAX_WARNINGS
        warnings.append(f"The link names {more} more parameters that this template does not ask.")
    return warnings


async def validate(request: Request) -> Response:
    """Copier's verdict on the answers, always 200: {valid, errors: [{field, message}], answers,
    hidden, warnings}; each refused answer has its own validator's message, and the other
    questions keep their answers and the defaults computed from them."""
    read = await read_given(request)
    verdict = await _run(request, jobs.validate, read.answers)
    names = [field.name for field in _state(request).fields]
    refused = verdict["errors"] | read.malformed
    # A new body: the verdict is shared with identical requests in flight (renders.py).
    return JSONResponse(
        {
            "valid": not refused,
            "errors": [{"field": key, "message": refused[key]} for key in names if key in refused],
            "answers": {key: value for key, value in verdict["answers"].items() if key in names},
            "hidden": [key for key in verdict["hidden"] if key in names],
            "warnings": unknown_warnings(read.unknown),
        }
    )


async def preview(request: Request) -> Response:
    """Every file these answers produce, with its content: {files: [{path, mode, size, text}]}."""
    given, _ = await answers_of(request)
    return JSONResponse({"files": await _run(request, jobs.preview, given)})


async def verify(request: Request) -> Response:
    """A verification of the project these answers produce, as server-sent events (verify_stream.py):
    validated first (400 as for a download), then admitted to a slot or the queue, else 503."""
    state = _state(request)
    if state.settings.verify == "none":
        raise HTTPException(
            404, "verification is switched off on this server (gostarter serve --verify docker)"
        )
    if request.app.state.drain.stopping:
        raise HTTPException(503, "the server is stopping", headers={"Retry-After": "5"})
    given = await json_answers(request)
    verdict = await _run(request, jobs.validate, given)
    for name, message in verdict["errors"].items():
        return _error(400, f"invalid {name}: {message}", name)
    # Before any engine call: an image from elsewhere would run its RUN steps on this engine.
    refused = registries.refused_image(verdict["answers"], state.registries)
    if refused is not None:
        name, message = refused
        log.warning("refused a verification: %s %s", name, message)
        return _error(400, f"invalid {name}: {message}", name)
    verifications: verify_stream.Verifications = request.app.state.verifications
    try:
        ahead = verifications.admit()
    except verify_stream.Busy as busy:
        return _error(
            503, f"{busy}; try again in {busy.retry_after} s", headers={"Retry-After": str(busy.retry_after)}
        )
    work = state.prepared.tree.parent
    events = verify_stream.stream(verifications, request.app.state.drain, state.job, given, work, ahead)
    first = await anext(events)  # the place in the queue is now the stream's to give back

    async def body() -> AsyncIterator[bytes]:
        yield first
        async for chunk in events:
            yield chunk

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(body(), media_type="text/event-stream", headers=headers)


async def metadata(request: Request) -> Response:
    """The template's version and source, and its questions: name, type, help, default, choices."""
    state = _state(request)
    body = describe.metadata(state.fields, state.prepared)
    payload = json.dumps(body, sort_keys=True).encode()
    etag = _etag(payload)
    headers = {"ETag": etag, "Cache-Control": "max-age=60", "Vary": "Accept"}
    if _not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(payload, media_type="application/json", headers=headers)


async def openapi(request: Request) -> Response:
    return JSONResponse(request.app.state.openapi)


async def favicon(request: Request) -> Response:
    """The page's icon (an SVG in the package), also for browsers that ask /favicon.ico."""
    data = (resources.files("generator.web") / "static" / "favicon.svg").read_bytes()
    return Response(data, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok", "template": _state(request).prepared.version})


async def readyz(request: Request) -> Response:
    """200 while the server takes new work; 503 from SIGTERM on, while in-flight requests drain."""
    if request.app.state.drain.stopping:
        return JSONResponse({"status": "stopping"}, status_code=503)
    return JSONResponse({"status": "ready", "template": _state(request).prepared.version})


# ---------------------------------------------------------------- errors


def _error(
    status: int, message: str, field: str | None = None, headers: Mapping[str, str] | None = None
) -> Response:
    phrase = HTTPStatus(status).phrase
    return JSONResponse(error_body(status, phrase, message, field), status_code=status, headers=headers)


async def gostarter_error(request: Request, exc: Exception) -> Response:
    """gostarter's errors as the API's: a refused answer is 400 with the validator's message."""
    if isinstance(exc, Refused):
        return _error(400, exc.message, exc.field)
    if isinstance(exc, InvalidAnswerError):
        field, message = blame(exc)
        return _error(400, f"invalid {field}: {message}" if field else exc.message, field)
    if isinstance(exc, UsageError):
        return _error(400, exc.message)
    assert isinstance(exc, GostarterError)
    log.error("%s", exc.message)
    return _error(500, exc.message)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error(exc.status_code, str(exc.detail), headers=exc.headers)


async def client_gone(request: Request, exc: Exception) -> Response:
    """A client that closed its connection before its answer (mid-body, or while its render
    waited): one line, no traceback; the answer goes nowhere and counts as no error."""
    client = f"{request.client.host}:{request.client.port}" if request.client else "a client"
    log.info("%s left before the answer to %s %s", client, request.method, request.url.path)
    return Response(status_code=CLIENT_CLOSED_REQUEST)


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error", exc_info=exc)
    return _error(500, "the server failed; its log says why")
