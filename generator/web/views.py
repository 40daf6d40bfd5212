"""The handlers: read the request, call what the CLI calls (in the worker processes), shape the answer.

The answers a request gives are read by request_answers.py; what the lifespan
prepared comes from state.py. Every error leaves through the handlers at the
end of this module, as one JSON shape.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Hashable, Mapping
from http import HTTPStatus
from importlib import resources
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from generator.errors import GostarterError, InvalidAnswerError, UsageError
from generator.web import archive, describe, jobs, registries, renders, verify_stream
from generator.web.fields import Field, blame, sections
from generator.web.guard import error_body
from generator.web.request_answers import Given, Refused, answers_of, json_answers, read_given
from generator.web.state import Ready, of, ready

log = logging.getLogger("gostarter.web")
MAX_WARNINGS = 10  # a link that names many unknown parameters gets this many warnings, and a count
_TEXT_CLIENTS = ("curl/", "httpie/", "wget/")
CLIENT_CLOSED_REQUEST = 499  # nginx's status for a request whose client left: it is never sent


def _ready(request: Request) -> Ready:
    return ready(request.app)


def _etag(data: bytes) -> str:
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def _not_modified(request: Request, etag: str) -> bool:
    return etag in [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]


async def _run(request: Request, job: Callable[..., Any], *args: Any) -> Any:
    """A job in the worker processes, shared with identical requests in flight, refused when the
    queue is full, given up when the client leaves (renders.py)."""
    held = _ready(request)
    key = (job.__name__, *(_frozen(arg) for arg in args))
    try:
        return await held.renders.run(key, job, held.job, *args, gone=functools.partial(_gone, request))
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
        held = _ready(request)
        text = describe.help_text(held.fields, held.prepared, str(request.base_url).rstrip("/"), agent)
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
    held, settings = _ready(request), of(request.app).settings
    try:
        read, unread = await read_given(request), []
    except Refused as err:  # a link or form that cannot be read at all (not UTF-8): said on the page
        read, unread, status = Given(), [f"{err.message}; none of its answers were used."], 400
    given = read.answers
    by_name = {field.name: field for field in held.fields}
    values = {field.name: field.default for field in held.fields}
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
    if not held.prepared.source:
        notes.append(("not-updatable", describe.NOT_UPDATABLE_PAGE))
    if settings.verify == "none":
        notes.append(("no-verify", describe.NO_VERIFY_PAGE))
    linked = [
        (by_name[key], "(hidden)" if by_name[key].secret else given[key])
        for key in by_name
        if from_link and key in given
    ]
    context = {
        "sections": sections(held.fields),
        "values": values,
        "errors": errors,
        "hidden": hidden,
        "edited": sorted(given),
        "linked": linked,
        "warnings": warnings,
        "notes": notes,
        "prepared": held.prepared,
        "verify": settings.verify != "none",
        "base": str(request.base_url).rstrip("/"),
    }
    page: Response = of(request.app).templates.TemplateResponse(
        request, "index.html", context, status_code=status, headers=dict(headers)
    )
    return page


async def starter(request: Request) -> Response:
    """The project as an archive named after app_name; validated again, whatever the page said."""
    kind = request.url.path.rsplit(".", 1)[-1]
    cache = _ready(request).cache
    try:
        given, _ = await answers_of(request)
        key = (kind, tuple(sorted(given.items())))
        cached = cache.get(key)
        if cached is None:
            app, data = await _run(request, jobs.build, given, kind)
            cached = (app, data, _etag(data))
            cache.put(key, cached)
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
    names = [field.name for field in _ready(request).fields]
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


async def explore(request: Request) -> Response:
    """Every file these answers produce, with its content: {files: [{path, mode, size, text}]}."""
    given, _ = await answers_of(request)
    return JSONResponse({"files": await _run(request, jobs.files_of, given)})


async def verify(request: Request) -> Response:
    """A verification of the project these answers produce, as server-sent events (verify_stream.py):
    validated first (400 as for a download), then admitted to a slot or the queue, else 503."""
    initializr, held = of(request.app), _ready(request)
    if initializr.settings.verify == "none":
        raise HTTPException(
            404, "verification is switched off on this server (gostarter serve --verify docker)"
        )
    if initializr.drain.stopping:
        raise HTTPException(503, "the server is stopping", headers={"Retry-After": "5"})
    given = await json_answers(request)
    verdict = await _run(request, jobs.validate, given)
    for name, message in verdict["errors"].items():
        return _error(400, f"invalid {name}: {message}", name)
    # Before any engine call: an image from elsewhere would run its RUN steps on this engine.
    refused = registries.refused_image(verdict["answers"], held.registries)
    if refused is not None:
        name, message = refused
        log.warning("refused a verification: %s %s", name, message)
        return _error(400, f"invalid {name}: {message}", name)
    verifications = initializr.verifications
    try:
        ahead = verifications.admit()
    except verify_stream.Busy as busy:
        return _error(
            503, f"{busy}; try again in {busy.retry_after} s", headers={"Retry-After": str(busy.retry_after)}
        )
    work = held.prepared.tree.parent
    events = verify_stream.stream(verifications, initializr.drain, held.job, given, work, ahead)
    first = await anext(events)  # the place in the queue is now the stream's to give back

    async def body() -> AsyncIterator[bytes]:
        yield first
        async for chunk in events:
            yield chunk

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(body(), media_type="text/event-stream", headers=headers)


async def metadata(request: Request) -> Response:
    """The template's version and source, and its questions: name, type, help, default, choices."""
    held = _ready(request)
    body = describe.metadata(held.fields, held.prepared)
    payload = json.dumps(body, sort_keys=True).encode()
    etag = _etag(payload)
    headers = {"ETag": etag, "Cache-Control": "max-age=60", "Vary": "Accept"}
    if _not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(payload, media_type="application/json", headers=headers)


async def openapi(request: Request) -> Response:
    return JSONResponse(_ready(request).openapi)


async def favicon(request: Request) -> Response:
    """The page's icon (an SVG in the package), also for browsers that ask /favicon.ico."""
    data = (resources.files("generator.web") / "static" / "favicon.svg").read_bytes()
    return Response(data, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok", "template": _ready(request).prepared.version})


async def readyz(request: Request) -> Response:
    """200 while the server takes new work; 503 from SIGTERM on, while in-flight requests drain."""
    if of(request.app).drain.stopping:
        return JSONResponse({"status": "stopping"}, status_code=503)
    return JSONResponse({"status": "ready", "template": _ready(request).prepared.version})


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
