"""Running the application under uvicorn, as `gostarter serve` does."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Iterator
from types import FrameType

import uvicorn

from generator.errors import UsageError
from generator.web import state
from generator.web.app import create_app
from generator.web.connections import Limits, limited
from generator.web.drain import Drain
from generator.web.state import ServeSettings

__all__ = ["Limits", "ServeSettings", "serve"]

# After the drain, uvicorn closes the connections left: at most this long (its graceful timeout).
CLOSE_SECONDS = 1
STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def serve(settings: ServeSettings, host: str, port: int, limits: Limits | None = None) -> None:
    """Serve until SIGINT, SIGTERM or SIGHUP; a start-up failure raises its gostarter error."""
    app = create_app(settings)
    # h11, whatever else is installed: the same parser everywhere; it reads a request with both
    # Content-Length and Transfer-Encoding as chunked, and origin.SameOrigin refuses such requests.
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http="h11",
        lifespan="on",
        log_level="warning",
        timeout_graceful_shutdown=CLOSE_SECONDS,
    )
    config.load()
    config.http_protocol_class = limited(config.http_protocol_class, limits or Limits())
    initializr = state.of(app)
    server = _Server(config, initializr.drain, settings.drain_seconds)
    quiet = _QuietStartupFailure(initializr)
    logging.getLogger("uvicorn.error").addFilter(quiet)
    try:
        with _log_to_stderr("gostarter.web"):
            server.run()
    except SystemExit:  # uvicorn's way of saying that start-up failed, or that it cannot listen
        pass
    finally:
        logging.getLogger("uvicorn.error").removeFilter(quiet)
    if initializr.startup_error is not None:
        raise initializr.startup_error
    if not server.started:
        raise UsageError(f"cannot serve on {host}:{port}", hint="is the port taken? try another --port")


@contextlib.contextmanager
def _log_to_stderr(name: str) -> Iterator[None]:
    """The server's own log lines (a client that left, a failure) on stderr, from INFO up."""
    logger = logging.getLogger(name)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("gostarter: %(message)s"))
    saved = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved)


class _Server(uvicorn.Server):
    """uvicorn's server, except that stopping on SIGINT, SIGTERM or SIGHUP is the normal way out
    (exit 0), after a drain: the first signal makes /readyz fail while the server keeps listening,
    and the server stops once no request is in flight or the drain deadline has passed (then the
    connections of requests still in flight are closed, and uvicorn waits at most CLOSE_SECONDS
    for their handlers); a second signal closes every connection and stops it at once."""

    def __init__(self, config: uvicorn.Config, drain: Drain, drain_seconds: float) -> None:
        super().__init__(config)
        self.drain, self.drain_seconds = drain, drain_seconds
        self.hurry = False

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """uvicorn's handlers for SIGINT and SIGTERM, and the same for SIGHUP (a closed terminal,
        a supervisor's reload): every one of them drains."""
        with super().capture_signals():
            saved = signal.signal(signal.SIGHUP, self.handle_exit)
            try:
                yield
            finally:
                signal.signal(signal.SIGHUP, saved)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.drain.stopping and self.drain_seconds > 0:
            self.drain.begin(self.drain_seconds)
            return
        if self.drain.stopping or self.should_exit:  # a second signal: close everything now
            self.hurry = True
        self.should_exit = True  # (not uvicorn's handler: it would raise the signal again on exit)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's shutdown, after closing the connections whose requests outlived the drain (or
        every one, on a second signal): their clients are gone to the views, which end at once
        (one log line each), rather than being cancelled with a traceback."""
        if self.hurry or self.drain.in_flight:
            for connection in list(self.server_state.connections):
                transport = getattr(connection, "transport", None)
                if transport is not None:
                    transport.abort()
        await super().shutdown(sockets)

    async def on_tick(self, counter: int) -> bool:
        return self.drain.done or await super().on_tick(counter)


class _QuietStartupFailure(logging.Filter):
    """A start-up that failed on a gostarter error (a broken template, a refused preset) is reported in
    one line by the CLI, not as the traceback uvicorn would log."""

    def __init__(self, initializr: state.State) -> None:
        super().__init__()
        self.initializr = initializr

    def filter(self, record: logging.LogRecord) -> bool:
        return self.initializr.startup_error is None
