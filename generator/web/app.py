"""The application: `create_app(settings)` builds one; its routes list is the API's table of contents.

No module-level state: the lifespan prepares the template once (a plain tree
of its version, its questions as fields, the worker processes) into
`app.state`, and removes what it made on shutdown, whatever happened.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from generator import render
from generator.errors import GostarterError
from generator.presets import Preset
from generator.template import Template
from generator.web import describe, jobs, origin, registries, verify_stream, views
from generator.web.drain import Drain, InFlight
from generator.web.fields import Field, from_questions
from generator.web.guard import Guard, SecurityHeaders
from generator.web.origin import Reach, SameOrigin
from generator.web.prepare import Prepared, prepare
from generator.web.registries import Registry
from generator.web.renders import ClientGone, Renders


@dataclass(frozen=True)
class Settings:
    """Everything a server is started with; tests build as many applications as they like."""

    template: Template
    preset: Preset | None = None
    # The canonical git URL downloads record (`--template-url`); else the one gostarter knows.
    template_url: str | None = None
    workers: int = field(default_factory=lambda: max(2, os.cpu_count() or 1))
    cache_entries: int = 64  # archives kept in memory, keyed by format and answers
    max_request_bytes: int = 16 * 1024  # a longer query is 414, a longer body 413
    job_seconds: float = 120.0  # a render that takes longer is answered 503
    # Renders waiting for a worker (`--render-queue`); beyond them 503 with Retry-After.
    render_queue: int | None = None  # default: RENDER_QUEUE_PER_WORKER per worker
    # Verified before download (`--verify docker`): at most `max_verifications` at once, `verify_queue`
    # more waiting (beyond them 503 with Retry-After), each stopped after `verify_timeout` seconds.
    verify: str = "none"
    max_verifications: int = 1
    verify_queue: int = 4
    verify_timeout: float = 300.0
    # After SIGTERM: /readyz fails at once, and in-flight requests get this long to finish.
    drain_seconds: float = 10.0
    temp_root: Path | None = None  # where the server's one temporary directory goes (default: $TMPDIR)
    # Where the server is reached (`--public-url`, an origin): the only Host it answers besides
    # loopback names while it listens on loopback only, and the base of every absolute URL it writes.
    public_url: str | None = None
    loopback: bool = True  # it listens on a loopback address only
    allowed_origins: tuple[str, ...] = ()  # other pages that may POST to it (`--allowed-origin`)
    # Registries verifications may pull from besides those of the default images (`--verify-registry`).
    verify_registries: tuple[Registry, ...] = ()
    # Called once the template is prepared (the `serve` command says where it serves).
    on_ready: Callable[[Prepared], None] | None = None

    @property
    def queue(self) -> int:
        return self.render_queue if self.render_queue is not None else RENDER_QUEUE_PER_WORKER * self.workers


RENDER_QUEUE_PER_WORKER = 4


@dataclass
class State:
    """What the lifespan prepared, for the views (app.state.initializr)."""

    settings: Settings
    prepared: Prepared
    fields: list[Field]
    job: jobs.Job
    renders: Renders
    cache: views.ArchiveCache
    work: Path  # the server's one temporary directory
    registries: tuple[Registry, ...] = ()  # where a verification may pull images from


@asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    work = Path(tempfile.mkdtemp(prefix="gostarter-serve-", dir=settings.temp_root))
    renders = None
    try:
        try:
            prepared = prepare(settings.template, work, settings.template_url)
            preset = settings.preset.defaults if settings.preset else {}
            source = f"in preset {settings.preset.path}" if settings.preset else ""
            renders = Renders(settings.workers, settings.queue, settings.job_seconds, work)
            examine = functools.partial(render.examine, Template(str(prepared.tree)), preset, source=source)
            examined = await renders.call(examine)
            # The template's own default images, without the preset, are trusted too.
            template_defaults: dict[str, object] = {}
            if preset:
                plain = functools.partial(render.examine, Template(str(prepared.tree)), {})
                template_defaults = (await renders.call(plain)).answers
            await asyncio.gather(*(renders.call(jobs.warm_up) for _ in range(settings.workers)))
        except GostarterError as err:
            app.state.startup_error = err  # `serve` reports it in one line
            raise
        fields = from_questions(examined.questions, examined.answers)
        job = jobs.Job(prepared, preset, source)
        cache = views.ArchiveCache(settings.cache_entries)
        trusted = (*registries.defaults(examined.answers, template_defaults), *settings.verify_registries)
        app.state.initializr = State(settings, prepared, fields, job, renders, cache, work, trusted)
        app.state.openapi = describe.openapi(fields, prepared)
        if settings.on_ready:
            settings.on_ready(prepared)
        yield
    finally:
        if renders is not None:
            renders.close()  # the drain is over: what is still rendering, nobody waits for
        shutil.rmtree(work, ignore_errors=True)


def _templates() -> Jinja2Templates:
    loader = jinja2.PackageLoader("generator.web", "templates")
    return Jinja2Templates(env=jinja2.Environment(loader=loader, autoescape=True))


def create_app(settings: Settings) -> Starlette:
    """A new initializr for `settings`."""
    routes = [
        Route("/", views.home, methods=["GET"]),  # the page; plain-text help for curl; JSON for tools
        Route("/starter.zip", views.starter, methods=["GET", "POST"]),  # the project, as a zip
        Route("/starter.tgz", views.starter, methods=["GET", "POST"]),  # the project, as a gzipped tar
        Route("/api/validate", views.validate, methods=["GET", "POST"]),  # Copier's validators' verdict
        Route("/api/preview", views.preview, methods=["GET", "POST"]),  # the files, before download
        Route("/api/verify", views.verify, methods=["POST"]),  # a verification's events, streamed
        Route("/metadata", views.metadata, methods=["GET"]),  # the questions as JSON
        Route("/openapi.json", views.openapi, methods=["GET"]),  # this API, generated from copier.yml
        Route("/favicon.ico", views.favicon, methods=["GET"]),  # the page's icon, an SVG
        Route("/healthz", views.healthz, methods=["GET"]),  # liveness: the process answers
        Route("/readyz", views.readyz, methods=["GET"]),  # readiness: 503 from SIGTERM on
        Mount("/static", StaticFiles(packages=[("generator.web", "static")]), name="static"),
    ]
    drain = Drain()
    reach = Reach(
        origin.public_url(settings.public_url) if settings.public_url else None,
        settings.loopback,
        frozenset(origin.allowed_origin(each) for each in settings.allowed_origins),
    )
    app = Starlette(
        routes=routes,
        lifespan=_lifespan,
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(SameOrigin, reach=reach),
            Middleware(InFlight, drain=drain),
            Middleware(Guard, limit=settings.max_request_bytes),
        ],
        exception_handlers={
            GostarterError: views.gostarter_error,
            ClientDisconnect: views.client_gone,  # it left mid-body
            ClientGone: views.client_gone,  # it left while its render waited
            views.Refused: views.gostarter_error,
            HTTPException: views.http_error,
            Exception: views.server_error,
        },
    )
    app.state.settings = settings
    app.state.drain = drain
    app.state.verifications = verify_stream.Verifications(
        settings.max_verifications, settings.verify_queue, settings.verify_timeout
    )
    app.state.templates = _templates()
    return app
