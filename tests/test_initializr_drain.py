"""Readiness and drain of `gostarter serve`: /readyz is 503 from SIGTERM on while /healthz stays 200,
a request in flight at SIGTERM completes, and then the server exits 0 with nothing left."""

from __future__ import annotations

import io
import signal
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from bench.served import serve, wait_served
from generator.web.server import CLOSE_SECONDS
from tests.helpers.web import SlowUpload, http


def _until(predicate: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_readyz_flips_on_sigterm_while_a_slow_request_completes(tmp_path: Path) -> None:
    """SIGTERM: /readyz 503 at once, /healthz 200, the upload in flight still gets its archive,
    then exit 0 and no temporary file."""
    process, base = serve(tmp_path / "temp", "--drain-seconds", "30")
    try:
        wait_served(base, process)
        port = int(urlsplit(base).port or 0)
        assert http(port, "GET", "/readyz")[0] == 200
        upload = SlowUpload(port, "/starter.zip", "app_name=draining&port=9090")
        upload.start()
        process.send_signal(signal.SIGTERM)
        _until(lambda: http(port, "GET", "/readyz")[0] == 503)
        time.sleep(1)  # the server keeps waiting for the upload, listening all the while
        assert process.poll() is None
        assert http(port, "GET", "/healthz")[0] == 200
        status, _, body = upload.finish()
        assert status == 200, body
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            assert "draining/main.go" in archive.namelist()
        _, err = process.communicate(timeout=30)
        assert process.returncode == 0, err
        assert "Traceback" not in err
        assert not list((tmp_path / "temp").iterdir())
    finally:
        process.kill()


def test_the_drain_deadline_bounds_the_wait(tmp_path: Path) -> None:
    """A request that never completes does not keep the server past --drain-seconds: exit 0."""
    process, base = serve(tmp_path / "temp", "--drain-seconds", "1")
    try:
        wait_served(base, process)
        upload = SlowUpload(int(urlsplit(base).port or 0), "/starter.zip", "app_name=stuck")
        upload.start()
        began = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
        assert process.returncode == 0, err
        # 1 s of drain, then at most CLOSE_SECONDS for uvicorn to close what is left (README).
        assert time.monotonic() - began < 1 + CLOSE_SECONDS + 1.5
        assert "Traceback" not in err, err  # the upload's connection is closed, not its task cancelled
        upload.conn.close()
        assert not list((tmp_path / "temp").iterdir())
    finally:
        process.kill()
