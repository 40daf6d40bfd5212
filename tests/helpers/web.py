"""The web initializr in this process, and the requests tests send a served one (bench.served starts
`gostarter serve` processes, for the benchmarks and the tests alike)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from generator.template import Template


@contextlib.contextmanager
def initializr(temp_root: Path, template: Path | None = None, **settings: Any) -> Iterator[Any]:
    """A web initializr in this process (Starlette's TestClient) for the working tree's template or
    `template`; its temporary files go under `temp_root`, and none may be left when it stops."""
    from starlette.testclient import TestClient

    from generator.web.app import create_app
    from generator.web.state import ServeSettings

    source = Template.resolve(str(template) if template else None)
    temp_root.mkdir(parents=True, exist_ok=True)
    settings.setdefault("public_url", "http://testserver")  # the Host TestClient sends
    app = create_app(ServeSettings(template=source, temp_root=temp_root, workers=2, **settings))
    with TestClient(app) as client:
        yield client
    assert not list(temp_root.iterdir()), "the initializr left temporary files"


class Served:
    """A `gostarter serve` process started by a fixture: the process, its port, its temp directory."""

    def __init__(self, process: subprocess.Popen[str], base: str, temp: Path) -> None:
        from urllib.parse import urlsplit

        self.process, self.base, self.temp = process, base, temp
        self.port = int(urlsplit(base).port or 0)


def http(
    port: int, method: str, path: str, body: bytes = b"", **headers: str
) -> tuple[int, dict[str, str], bytes]:
    """One request to 127.0.0.1:`port`: status, headers (lower-case names), body."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body or None, headers=headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


class SlowUpload:
    """A POST whose form body arrives in two halves, so that the request is in flight for as long
    as the test likes: `start()` sends the headers and the first half, `finish()` the rest and
    returns (status, headers, body)."""

    def __init__(self, port: int, path: str, form: str) -> None:
        import http.client

        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.path, self.body = path, form.encode()

    def start(self) -> None:
        self.conn.putrequest("POST", self.path)
        self.conn.putheader("Content-Type", "application/x-www-form-urlencoded")
        self.conn.putheader("Content-Length", str(len(self.body)))
        self.conn.endheaders()
        self.conn.send(self.body[: len(self.body) // 2])

    def finish(self) -> tuple[int, dict[str, str], bytes]:
        try:
            self.conn.send(self.body[len(self.body) // 2 :])
            response = self.conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            self.conn.close()


def post_stream(port: int, path: str, form: str) -> Any:
    """POST the answers of `form` (`a=1&b=2`) as a JSON object, as /api/verify takes them, and return
    the open response (an http.client.HTTPResponse), for streams."""
    import http.client
    import json
    from urllib.parse import parse_qsl

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    body = json.dumps(dict(parse_qsl(form, keep_blank_values=True)))
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    response.connection = conn  # closed by whoever is done with the stream
    return response


def sse_events(response: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """The server-sent events of a response, as (event, data) pairs, as they arrive."""
    import json

    event, data = "message", ""
    while True:
        raw = response.readline()
        if not raw:
            return
        line = raw.decode().rstrip("\r\n")
        if not line:
            if data:
                yield event, json.loads(data)
            event, data = "message", ""
        elif line.startswith("event: "):
            event = line[len("event: ") :]
        elif line.startswith("data: "):
            data += line[len("data: ") :]
