"""A bounded hostile pass against a real `gostarter serve --verify docker`, as a foreign page and a
hostile client would attack it: cross-site posts in every content type, rebound Host headers,
verifications naming foreign images, malformed and smuggled requests, invisible text.

The server's engine is a socket that counts connections and answers none (DOCKER_HOST), so every
engine call is counted and none reaches a real engine. Prints the counts as JSON: requests, status
classes, 5xx, tracebacks in the server's log, engine calls, hangs (no answer within 10 s).

    python -m bench.hostile_web
"""

from __future__ import annotations

import itertools
import json
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from bench.served import serve, wait_served

HANG_SECONDS = 10.0
FOREIGN_ORIGINS = ["http://evil.example", "null", "http://127.0.0.1.evil.example", "https://localhost"]
ENDPOINTS = ["/starter.zip", "/starter.tgz", "/api/validate", "/api/preview", "/api/verify"]
FOREIGN_IMAGES = [
    "evil.example/golang:1.27",
    "evil.example:5000/library/golang:1.27",
    "docker.io.evil.example/library/golang:1.27",
    "attacker/golang:1.27",
    "docker.io/attacker/golang:1.27",
    "index.docker.io/attacker/golang:1.27",
    "gcr.io/attacker/static:1",
    "gcr.io/distroless.evil/static:1",
    "localhost:5000/golang:1.27",
    "127.0.0.1:5000/library/golang:1.27",
    "evil.example/library/golang@sha256:" + "a" * 64,
]
INVISIBLE = ["\u202e", "\u202a", "\u2066", "\u2069", "\u200b", "\u200d", "\ufeff"]


class CountingEngine:
    def __init__(self, path: Path) -> None:
        self.calls = 0
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.calls += 1
            conn.close()


def _raw(port: int, data: bytes) -> tuple[int | None, bool]:
    """Send raw bytes; (status of the first response or None, hung)."""
    received = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=HANG_SECONDS) as conn:
            conn.sendall(data)
            while chunk := conn.recv(65536):
                received += chunk
    except TimeoutError:
        return _status(received), True
    except ConnectionError:
        pass
    return _status(received), False


def _status(received: bytes) -> int | None:
    if received.startswith(b"HTTP/1.1 ") or received.startswith(b"HTTP/1.0 "):
        return int(received[9:12])
    return None


def _compose(port: int, method: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """One request's bytes, Host 127.0.0.1:port unless `headers` say otherwise."""
    head = {"Host": f"127.0.0.1:{port}", "Connection": "close", **headers}
    if body or method == "POST":
        head.setdefault("Content-Length", str(len(body)))
    lines = [f"{method} {path} HTTP/1.1"] + [f"{key}: {value}" for key, value in head.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


Case = tuple[str, str, str, bytes, dict[str, str]]  # category, method, path, body, headers
MULTIPART = "multipart/form-data; boundary=b"
PART = b'--b\r\nContent-Disposition: form-data; name="app_name"\r\n\r\nx'


def _cross_site() -> list[Case]:
    bodies = {
        "text/plain": b'{"builder_image": "evil.example/golang:1.27", "x": "="}',
        "application/x-www-form-urlencoded": b"builder_image=evil.example%2Fgolang%3A1.27&app_name=x",
        MULTIPART: PART + b"\r\n--b--\r\n",
        "application/json": b'{"builder_image": "evil.example/golang:1.27"}',
    }
    found: list[Case] = []
    for origin, path, (kind, body) in itertools.product(FOREIGN_ORIGINS, ENDPOINTS, bodies.items()):
        found.append(("cross-site", "POST", path, body, {"Origin": origin, "Content-Type": kind}))
    for site, path in itertools.product(["cross-site", "same-site"], ENDPOINTS):
        headers = {"Sec-Fetch-Site": site, "Content-Type": "text/plain"}
        found.append(("cross-site", "POST", path, bodies["text/plain"], headers))
    for path in ENDPOINTS:  # a GET to /api/verify from a foreign page
        found.append(("cross-site", "GET", path, b"", {"Origin": "http://evil.example"}))
    return found


def _hosts(port: int) -> list[Case]:
    hosts = ["evil.example", f"rebind.evil.example:{port}", "127.0.0.1.nip.io", "a@127.0.0.1", "[::1",
             "localhost.evil", "0.0.0.0", ""]  # fmt: skip
    paths = ["/", "/starter.zip", "/api/validate", "/metadata", "/api/verify"]
    return [
        ("rebound-host", "GET", path, b"", {"Host": host}) for host, path in itertools.product(hosts, paths)
    ]


def _answers(port: int) -> list[Case]:
    found: list[Case] = []
    own = {"Origin": f"http://127.0.0.1:{port}", "Content-Type": "application/json"}
    for image, field in itertools.product(FOREIGN_IMAGES, ["builder_image", "runtime_image"]):
        found.append(("foreign-image", "POST", "/api/verify", json.dumps({field: image}).encode(), own))
    for char, field in itertools.product(INVISIBLE, ["description", "maintainer"]):
        query = f"{field}=pay{urllib.parse.quote(char)}ments"
        found.append(("invisible", "GET", f"/starter.zip?{query}", b"", {}))
    return found


def _malformed() -> list[Case]:
    found: list[Case] = []
    queries = ["description=%FF", "description=%C3", "description=caf%E9", "port=%D9%A8%D9%A0", "port=8_080",
               "port=%2B00080", "port=1e3", "app_name=%00", "%FF=1", "&&&==", "a" * 100 + "=1"]  # fmt: skip
    for query, path in itertools.product(queries, ["/starter.zip", "/api/validate", "/api/preview", "/"]):
        found.append(("malformed", "GET", f"{path}?{query}", b"", {}))
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    multipart = {"Content-Type": MULTIPART}
    bodies = [
        (b"description=caf\xe9", form),
        (b"description=\xff\xfe", form),
        (PART, multipart),
        (PART + b"\r\n--b", multipart),
        (b"--b\r\n", multipart),
        (b'--b\r\nContent-Disposition: form-data; name="description"\r\n\r\n\xe9\r\n--b--\r\n', multipart),
        (b'--b\r\nContent-Disposition: form-data; name="a"; filename="x"\r\n\r\nx\r\n--b--\r\n', multipart),
        (b"x", {"Content-Type": "multipart/form-data"}),
        (b"x", {"Content-Type": "multipart/form-data; boundary="}),
        (b"{}", {"Content-Type": "application/json"}),
        (b"\xff", {"Content-Type": "text/plain"}),
    ]
    for (body, headers), path in itertools.product(bodies, ["/starter.zip", "/api/validate", "/api/preview"]):
        found.append(("malformed", "POST", path, body, headers))
    for body in [b"{", b"[]", b'"x"', b'{"port": 1.5}', b'{"port": [1]}', b'{"colour": "red"}', b"\xff",
                 b'{"app_name": "\xff"}']:  # fmt: skip
        found.append(("malformed", "POST", "/api/verify", body, {"Content-Type": "application/json"}))
    return found


def cases(port: int) -> list[Case]:
    return _cross_site() + _hosts(port) + _answers(port) + _malformed()


def smuggling(port: int) -> list[tuple[str, bytes]]:
    host = f"127.0.0.1:{port}"
    smuggled = f"GET /metadata HTTP/1.1\r\nHost: {host}\r\n\r\n"
    variants = []
    for te in ["chunked", "Chunked", "chunked, chunked", " chunked", "identity, chunked", "chunked\t"]:
        variants.append(
            f"POST /api/validate HTTP/1.1\r\nHost: {host}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {5 + len(smuggled)}\r\nTransfer-Encoding: {te}\r\n\r\n0\r\n\r\n{smuggled}"
        )
    variants.append(
        f"POST /api/validate HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef"
    )
    variants.append(f"GET http://evil.example/ HTTP/1.1\r\nHost: {host}\r\n\r\n")
    variants.append("GET / HTTP/1.0\r\n\r\n")
    variants.append(f"GET / HTTP/1.1\r\nHost: {host}\r\nHost: evil.example\r\n\r\n")
    return [("smuggling", variant.encode()) for variant in variants]


def _start(work: Path) -> tuple[subprocess.Popen[str], int]:
    """`gostarter serve --verify docker` with the counting engine as its DOCKER_HOST, logging to
    serve.log, once it answers; and its port."""
    env = {"DOCKER_HOST": f"unix://{work / 'engine.sock'}", "GOSTARTER_PUBLIC_URL": None}
    with (work / "serve.log").open("w") as log:
        server, base = serve(work, "--verify", "docker", env=env, stdout=log, stderr=subprocess.STDOUT)
    wait_served(base, server)
    return server, int(urllib.parse.urlsplit(base).port or 0)


def _attack(port: int) -> dict[str, Any]:
    statuses: Counter[str] = Counter()
    by_category: dict[str, Counter[str]] = {}
    hangs, smuggled_answers, total = 0, 0, 0
    attempts = [(case[0], _compose(port, *case[1:])) for case in cases(port)] + smuggling(port)
    for category, raw in attempts:
        status, hung = _raw(port, raw)
        total += 1
        hangs += hung
        statuses[f"{status // 100}xx" if status else "none"] += 1
        by_category.setdefault(category, Counter())[str(status)] += 1
    for _, raw in smuggling(port)[:6]:  # read everything: was a second request answered?
        received = b""
        with socket.create_connection(("127.0.0.1", port), timeout=HANG_SECONDS) as conn:
            conn.sendall(raw)
            try:
                while chunk := conn.recv(65536):
                    received += chunk
            except TimeoutError:
                hangs += 1
        smuggled_answers += received.count(b"HTTP/1.1 ") > 1
    return {
        "requests": total,
        "statuses": dict(statuses),
        "by_category": {name: dict(counts) for name, counts in by_category.items()},
        "server_errors_5xx": statuses.get("5xx", 0),
        "hangs": hangs,
        "smuggled_requests_answered": smuggled_answers,
    }


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="hostile-web-"))
    engine = CountingEngine(work / "engine.sock")
    server, port = _start(work)
    try:
        result = _attack(port)
        result["engine_calls"] = engine.calls
    finally:
        server.terminate()
        server.wait(timeout=30)
    text = (work / "serve.log").read_text()
    result["tracebacks"] = text.count("Traceback")
    result["server_exit"] = server.returncode
    result["log_lines"] = len(text.splitlines())
    result["temp_left"] = [p.name for p in work.iterdir() if p.name not in {"engine.sock", "serve.log"}]
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
