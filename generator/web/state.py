"""One initializr's state, typed: the settings it serves with, what it shares, what its lifespan prepared.

create_app puts one State in `app.state.initializr` and nothing else there;
the server reads it through `of(app)`, the views what the lifespan prepared
through `ready(app)`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.templating import Jinja2Templates

from generator.errors import GostarterError
from generator.presets import Preset
from generator.template import Template
from generator.web.archive import ArchiveCache
from generator.web.drain import Drain
from generator.web.fields import Field
from generator.web.jobs import Job
from generator.web.prepare import Prepared
from generator.web.registries import Registry
from generator.web.renders import Renders
from generator.web.verify_stream import Verifications

RENDER_QUEUE_PER_WORKER = 4


@dataclass(frozen=True)
class ServeSettings:
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


@dataclass(frozen=True)
class Ready:
    """What the lifespan prepared, for the views: the template, its questions, the workers."""

    prepared: Prepared
    fields: list[Field]
    job: Job
    renders: Renders
    cache: ArchiveCache
    work: Path  # the server's one temporary directory
    registries: tuple[Registry, ...]  # where a verification may pull images from
    openapi: dict[str, Any]  # this API's description, generated from the questions


@dataclass
class State:
    """Everything one application holds (app.state.initializr)."""

    settings: ServeSettings
    drain: Drain
    verifications: Verifications
    templates: Jinja2Templates
    ready: Ready | None = None  # once the lifespan has prepared the template
    startup_error: GostarterError | None = None  # why it could not (`serve` says it in one line)


def of(app: Starlette) -> State:
    """The state of `app` (an application create_app built)."""
    state = app.state.initializr
    assert isinstance(state, State)
    return state


def ready(app: Starlette) -> Ready:
    """What the lifespan of `app` prepared: requests are served only once it has."""
    prepared = of(app).ready
    assert prepared is not None, "a request before the lifespan prepared the template"
    return prepared
