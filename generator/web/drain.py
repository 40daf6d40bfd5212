"""Readiness and drain: unready from the first SIGTERM on, while in-flight requests finish.

A load balancer (a Kubernetes Service) stops sending new requests to a
replica whose /readyz fails; the server keeps listening and answering
meanwhile, and stops once nothing is in flight or the drain deadline has
passed, so that a rolling update loses no request. /healthz stays 200
throughout: the process is alive, only leaving.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Receive, Scope, Send

# Probes are not work in flight: a replica must not wait for its own readiness checks.
PROBES = frozenset({"/healthz", "/readyz"})


class Drain:
    """How many requests are in flight, and whether (and until when) the server is draining."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.stopping = False
        self.deadline = 0.0

    def begin(self, seconds: float) -> None:
        """From now on /readyz fails; the server stops when idle, at the latest after `seconds`."""
        if not self.stopping:
            self.stopping = True
            self.deadline = time.monotonic() + seconds

    @property
    def done(self) -> bool:
        """Draining, and nothing left to wait for."""
        return self.stopping and (self.in_flight == 0 or time.monotonic() >= self.deadline)


class InFlight:
    """ASGI middleware: counts each HTTP request but the probes, from its start to its last byte."""

    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app, self.drain = app, drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PROBES:
            await self.app(scope, receive, send)
            return
        self.drain.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.drain.in_flight -= 1
