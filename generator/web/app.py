"""The application: `create_app(settings)` builds one; its routes list is the API's table of contents.

No module-level state: each application holds one typed State (state.py); the
lifespan prepares the template once (a plain tree of its version, its
questions as fields, the worker processes) into it, and removes what it made
on shutdown, whatever happened.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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
from generator.template import Template
from generator.web import describe, jobs, origin, registries, state, verify_stream, views
from generator.web.archive import ArchiveCache
from generator.web.drain import Drain, InFlight
from generator.web.fields import from_questions
from generator.web.guard import Guard, SecurityHeaders
from generator.web.origin import Reach, SameOrigin
from generator.web.prepare import prepare
from generator.web.renders import ClientGone, Renders
from generator.web.request_answers import Refused
from generator.web.state import ServeSettings


@asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    initializr = state.of(app)
    settings = initializr.settings
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
            initializr.startup_error = err  # `serve` reports it in one line
            raise
        fields = from_questions(examined.questions, examined.answers)
        job = jobs.Job(prepared, preset, source)
        trusted = (*registries.defaults(examined.answers, template_defaults), *settings.verify_registries)
        initializr.ready = state.Ready(
            prepared,
            fields,
            job,
            renders,
            ArchiveCache(settings.cache_entries),
            work,
            trusted,
            describe.openapi(fields, prepared),
        )
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


def create_app(settings: ServeSettings) -> Starlette:
    """A new initializr for `settings`."""
    routes = [
        Route("/", views.home, methods=["GET"]),  # the page; plain-text help for curl; JSON for tools
        Route("/starter.zip", views.starter, methods=["GET", "POST"]),  # the project, as a zip
        Route("/starter.tgz", views.starter, methods=["GET", "POST"]),  # the project, as a gzipped tar
        Route("/api/validate", views.validate, methods=["GET", "POST"]),  # Copier's validators' verdict
        Route("/api/preview", views.explore, methods=["GET", "POST"]),  # the files, before download
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
            Refused: views.gostarter_error,
            HTTPException: views.http_error,
            Exception: views.server_error,
        },
    )
    verifications = verify_stream.Verifications(
        settings.max_verifications, settings.verify_queue, settings.verify_timeout
    )
    app.state.initializr = state.State(settings, drain, verifications, _templates())
    return app
