"""Running the application under uvicorn, as `gostarter serve` does."""

from __future__ import annotations

import logging
from types import FrameType
from typing import Any

import uvicorn

from generator.errors import GostarterError, UsageError
from generator.web.app import Settings, create_app
from generator.web.drain import Drain

__all__ = ["Settings", "serve"]


def serve(settings: Settings, host: str, port: int) -> None:
    """Serve until SIGINT or SIGTERM; a start-up failure raises its gostarter error."""
    app = create_app(settings)
    # h11, whatever else is installed: the same parser everywhere; it reads a request with both
    # Content-Length and Transfer-Encoding as chunked, and origin.SameOrigin refuses such requests.
    config = uvicorn.Config(
        app, host=host, port=port, http="h11", lifespan="on", log_level="warning", timeout_graceful_shutdown=5
    )
    server = _Server(config, app.state.drain, settings.drain_seconds)
    quiet = _QuietStartupFailure(app)
    logging.getLogger("uvicorn.error").addFilter(quiet)
    try:
        server.run()
    except SystemExit:  # uvicorn's way of saying that start-up failed, or that it cannot listen
        pass
    finally:
        logging.getLogger("uvicorn.error").removeFilter(quiet)
    failure = getattr(app.state, "startup_error", None)
    if isinstance(failure, GostarterError):
        raise failure
    if not server.started:
        raise UsageError(f"cannot serve on {host}:{port}", hint="is the port taken? try another --port")


class _Server(uvicorn.Server):
    """uvicorn's server, except that stopping on SIGINT or SIGTERM is the normal way out (exit 0),
    after a drain: the first signal makes /readyz fail while the server keeps listening, and the
    server stops once no request is in flight or the drain deadline has passed; a second signal
    stops it at once."""

    def __init__(self, config: uvicorn.Config, drain: Drain, drain_seconds: float) -> None:
        super().__init__(config)
        self.drain, self.drain_seconds = drain, drain_seconds

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.drain.stopping and self.drain_seconds > 0:
            self.drain.begin(self.drain_seconds)
            return
        super().handle_exit(sig, frame)
        self._captured_signals.clear()  # else uvicorn raises the signal again once it has stopped

    async def on_tick(self, counter: int) -> bool:
        return self.drain.done or await super().on_tick(counter)


class _QuietStartupFailure(logging.Filter):
    """A start-up that failed on a gostarter error (a broken template, a refused preset) is reported in
    one line by the CLI, not as the traceback uvicorn would log."""

    def __init__(self, app: Any) -> None:
        super().__init__()
        self.app = app

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(self.app.state, "startup_error", None) is None
