"""Limits on connections, below the application: how many, and how long a request may take to arrive.

uvicorn has neither a header-read deadline nor a connection cap that
refuses (its `limit_concurrency` accepts and answers 503), so a client that
opens connections and dribbles bytes holds them for as long as it likes.
`limited(protocol, limits)` wraps uvicorn's HTTP protocol class (whichever
it chose) with:

- a cap: a connection beyond `max_connections` open at once is closed as
  soon as it is accepted (refused, not queued);
- a head deadline: a request line and headers not complete within
  `head_seconds` of the connection opening (or of the previous response
  ending) get 408 and the connection is closed (an idle connection that sent
  nothing is closed without a word);
- a body floor: once `body_grace` seconds have passed since the headers, a
  body still arriving slower than `body_rate` bytes a second is cut (the
  view sees the client leave, which is one log line).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from generator.web.guard import error_body

_TIMEOUT_BODY = json.dumps(error_body(408, "Request Timeout", "the request took too long to arrive")).encode()
REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(_TIMEOUT_BODY), _TIMEOUT_BODY)
)
_TICK = 0.25  # how often each connection checks its deadlines


@dataclass(frozen=True)
class Limits:
    max_connections: int = 256
    head_seconds: float = 5.0
    body_grace: float = 5.0
    body_rate: float = 1024.0  # bytes a second


class _Watch:
    """One connection's deadlines: what it awaits (a head, a body) and since when."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.waiting_since = time.monotonic()  # since when a request head is awaited
        self.seen: Any = None  # the last request (uvicorn's cycle) seen
        self.done: Any = None  # the last request seen answered
        self.body_since = 0.0
        self.received = 0  # bytes received on this connection
        self.received_at_head = 0
        self.received_at_rest = 0  # bytes received when the last answer ended

    def late(self, cycle: Any) -> bytes | None:
        """None while the connection keeps to its deadlines; else what to send before closing it."""
        now = time.monotonic()
        if cycle is not None and cycle is not self.seen:  # a new request's head is complete
            self.seen, self.body_since, self.received_at_head = cycle, now, self.received
        if cycle is None or cycle.response_complete:  # between requests: awaiting a head
            if cycle is not None and cycle is not self.done:
                self.done, self.waiting_since, self.received_at_rest = cycle, now, self.received
            if now - self.waiting_since <= self.limits.head_seconds:
                return None
            # Part of a head: 408. Nothing at all: an idle connection, closed without a word (as
            # uvicorn's keep-alive timeout does), so no client reads a 408 it did not ask for.
            return REQUEST_TIMEOUT if self.received > self.received_at_rest else b""
        if cycle.more_body:  # its body is still arriving
            elapsed = now - self.body_since
            slow = self.received - self.received_at_head < self.limits.body_rate * elapsed
            if elapsed > self.limits.body_grace and slow:
                return b""
        return None


class _Limited:
    """Mixed in before uvicorn's HTTP protocol class (see `limited`)."""

    limits: Limits
    server_state: Any
    transport: Any
    cycle: Any
    _refused = False
    _watch: _Watch | None = None
    _ticker: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        if len(self.server_state.connections) >= self.limits.max_connections:
            self._refused = True  # refused, not queued: closed before uvicorn sees it
            transport.abort()
            return
        super().connection_made(transport)  # type: ignore[misc]
        self._watch = _Watch(self.limits)
        self._ticker = asyncio.get_running_loop().call_later(_TICK, self._check)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        if not self._refused:
            super().connection_lost(exc)  # type: ignore[misc]

    def data_received(self, data: bytes) -> None:
        if self._watch is not None:
            self._watch.received += len(data)
        super().data_received(data)  # type: ignore[misc]

    def _check(self) -> None:
        assert self._watch is not None
        last_words = self._watch.late(self.cycle)
        if last_words is None:
            self._ticker = asyncio.get_running_loop().call_later(_TICK, self._check)
            return
        if last_words:
            self.transport.write(last_words)
        self.transport.close()


def limited(protocol: type[Any], limits: Limits) -> type[Any]:
    """uvicorn's HTTP `protocol` class, with `limits` on its connections."""
    return type(f"Limited{protocol.__name__}", (_Limited, protocol), {"limits": limits})
