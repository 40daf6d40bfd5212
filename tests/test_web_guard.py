"""The web initializr against hostile pages and clients: same origin for work that costs or writes,
the Host allow-list and the public URL, images only from allowed registries, refusals that answer
the request, and input refused rather than repaired. In process (TestClient) where the HTTP
exchange is the point; a real `gostarter serve` for raw sockets; Chromium for a foreign page."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.served import serve, wait_served
from generator.web.registries import Registry, defaults, locate, refused_image
from generator.web.state import of
from tests.helpers.running import gostarter
from tests.helpers.web import initializr

FOREIGN = "http://evil.example"
# Another registry, and Docker Hub outside the namespace of the default images (library/).
IMAGES = [("builder_image", "evil.example:5000/golang:1.27"), ("runtime_image", "attacker/busybox:1")]


def _json_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["message"]
    return body


# ---------------------------------------------------------------- same origin


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": FOREIGN},
        {"Origin": "null"},  # a sandboxed frame, a data: URL
        {"Origin": "http://testserver.evil.example"},
        {"Sec-Fetch-Site": "cross-site"},  # no Origin, but a browser says where the page is
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},  # a sandboxed foreign frame
    ],
)
def test_a_post_from_another_page_is_403_in_the_json_shape(web: Any, headers: dict[str, str]) -> None:
    for path in ("/starter.zip", "/starter.tgz", "/api/validate", "/api/preview"):
        body = _json_error(web.post(path, data={"app_name": "payments"}, headers=headers), 403)
        assert body["error"] == "Forbidden" and "--allowed-origin" in body["message"]


def test_the_servers_own_page_curl_and_plain_links_are_served(web: Any) -> None:
    """Its own origin, Sec-Fetch-Site same-origin, no browser at all (curl), and a GET from anywhere:
    a download link stays a link."""
    own = ({"Origin": "http://testserver"}, {"Sec-Fetch-Site": "same-origin"}, {})
    # The page's own form under its Referrer-Policy no-referrer: Origin null, but same-origin.
    own += ({"Origin": "null", "Sec-Fetch-Site": "same-origin"},)
    for headers in own:
        assert web.post("/api/validate", data={"app_name": "x"}, headers=headers).status_code == 200
    response = web.get("/starter.zip", params={"app_name": "linked"}, headers={"Origin": FOREIGN})
    assert response.status_code == 200 and response.content[:2] == b"PK"


def test_an_origin_the_operator_lists_may_post(tmp_path: Path) -> None:
    with initializr(tmp_path / "temp", allowed_origins=("https://portal.example.com",)) as client:
        ok = client.post(
            "/api/validate", data={"app_name": "x"}, headers={"Origin": "https://portal.example.com"}
        )
        assert ok.status_code == 200
        refused = client.post("/api/validate", headers={"Origin": "https://portal.example.com:8443"})
        assert refused.status_code == 403


def test_verify_takes_only_json_from_the_servers_own_page_and_only_allowed_images(tmp_path: Path) -> None:
    """A form body (what a foreign page can send without asking) is 415, another origin 403 even
    with JSON, and an image from a registry the server does not trust is 400 naming the field, all
    before any verification is admitted."""
    with initializr(tmp_path / "temp", verify="docker") as client:
        verifications = of(client.app).verifications
        assert client.post("/api/verify", data={"app_name": "x"}).status_code == 415
        text = {"Content-Type": "text/plain"}
        assert client.post("/api/verify", content=b'{"app_name": "x"}', headers=text).status_code == 415
        _json_error(client.post("/api/verify", json={"app_name": "x"}, headers={"Origin": FOREIGN}), 403)
        for name, image in IMAGES:
            body = _json_error(client.post("/api/verify", json={name: image}), 400)
            assert body["field"] == name and "--verify-registry" in body["message"]
            assert image in body["message"]
        json = {"Content-Type": "application/json"}
        assert _json_error(client.post("/api/verify", content=b"[1]", headers=json), 400)
        assert verifications.running == verifications.waiting == 0


def test_registries_follow_dockers_reference_rules() -> None:
    assert locate("golang:1.27") == ("docker.io", "library/golang")
    assert locate("acme/golang:1.27") == ("docker.io", "acme/golang")
    assert locate("gcr.io/distroless/static-debian12:nonroot") == ("gcr.io", "distroless/static-debian12")
    assert locate("localhost:5000/x@sha256:" + "a" * 64) == ("localhost:5000", "x")
    assert locate("index.docker.io/library/golang:1.27") == ("docker.io", "library/golang")
    mirror = Registry.parse("registry.example.com/mirror")
    assert mirror.allows("registry.example.com/mirror/golang:1.27")
    assert not mirror.allows("registry.example.com/mirrored/golang:1.27")
    assert not mirror.allows("registry.example.com.evil.example/mirror/golang:1.27")
    assert defaults({"builder_image": "golang:1.27", "runtime_image": "gcr.io/distroless/base:1"}) == [
        Registry("docker.io", "library"),
        Registry("gcr.io", "distroless"),
    ]
    hub = [Registry("docker.io")]
    assert refused_image({"builder_image": "golang:1.27", "runtime_image": "scratch"}, hub) is None
    assert refused_image({"builder_image": "golang:1.27", "runtime_image": "quay.io/x:1"}, hub) == (
        "runtime_image",
        "quay.io/x:1 is not from a registry this server verifies from (docker.io); "
        "its operator can add one with --verify-registry",
    )


# ---------------------------------------------------------------- Host and the public URL


def test_a_foreign_host_is_400_and_every_absolute_url_is_the_public_one(tmp_path: Path) -> None:
    """DNS rebinding names the attacker's host: refused. With a public URL, the curl help, the page
    and the trailing-slash redirect name it, whatever the request said; probes answer any Host."""
    public = "https://initializr.example.com"
    # As in the image: listening on every address (not loopback only), so 127.0.0.1 is foreign too.
    with initializr(tmp_path / "temp", public_url=public, loopback=False) as client:
        host = {"Host": "initializr.example.com"}
        for evil in ("rebind.attacker.example:8000", "127.0.0.1", "initializr.example.com:444"):
            body = _json_error(client.get("/", headers={"Host": evil}), 400)
            assert public in body["message"]
        assert client.get("/healthz", headers={"Host": "10.1.2.3:8000"}).status_code == 200
        assert client.get("/readyz", headers={"Host": "10.1.2.3:8000"}).status_code == 200
        text = client.get("/", headers={**host, "User-Agent": "curl/8.5.0"}).text
        assert f"{public}/starter.tgz" in text and "testserver" not in text
        page = client.get("/", headers={**host, "Accept": "text/html"}).text
        assert f"{public}/starter.tgz" in page
        redirect = client.get("/metadata/", headers=host, follow_redirects=False)
        assert redirect.status_code in (307, 308) and redirect.headers["location"] == f"{public}/metadata"
        # Its own page posts with the public URL as its origin.
        assert client.post("/api/validate", headers={**host, "Origin": public}).status_code == 200


def test_without_a_public_url_only_loopback_names_are_answered(tmp_path: Path) -> None:
    with initializr(tmp_path / "temp", public_url=None) as client:
        for name in ("localhost:8000", "127.0.0.1:8000", "[::1]:8000", "127.0.0.1"):
            assert client.get("/metadata", headers={"Host": name}).status_code == 200, name
        for name in ("testserver", "attacker.example:8000", "127.0.0.1.nip.io:8000", "", "[::1"):
            _json_error(client.get("/metadata", headers={"Host": name}), 400)
        own = {"Host": "localhost:8000", "Origin": "http://localhost:8000"}
        assert client.post("/api/validate", headers=own).status_code == 200
        other = {"Host": "localhost:8000", "Origin": "http://localhost:9000"}
        assert client.post("/api/validate", headers=other).status_code == 403


def test_serve_refuses_a_public_url_or_origin_that_is_not_one(tmp_path: Path) -> None:
    for option, value in (
        ("--public-url", "initializr.example.com"),
        ("--public-url", "https://initializr.example.com/path"),
        ("--allowed-origin", "ftp://x.example"),
        ("--verify-registry", "https://registry.example.com"),
    ):
        result = gostarter("serve", option, value, "--port", "0", cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr and option in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------- refusals that answer


def test_validate_gives_each_refused_field_its_own_message_and_keeps_the_others(web: Any) -> None:
    """A bad owner with the catalog entry on: owner's own message (not the one for an empty owner),
    with_backstage kept as given, the other defaults still computed; 200, not 400."""
    response = web.post(
        "/api/validate",
        data={"with_backstage": "true", "owner": "bad owner!", "port": "٨٠٨٠", "go_version": "1.26"},
    )
    assert response.status_code == 200
    verdict = response.json()
    assert verdict["valid"] is False
    errors = {error["field"]: error["message"] for error in verdict["errors"]}
    assert set(errors) == {"owner", "port"}
    assert errors["owner"].startswith("must be a Backstage entity reference")
    assert errors["port"].startswith("must be a whole number written in the digits 0-9")
    assert verdict["answers"]["with_backstage"] is True
    assert verdict["answers"]["builder_image"] == "golang:1.26"


@pytest.mark.parametrize("port", ["٨٠٨٠", "8_080", "+00080", " 8080", "8080\n", "0x1f90", "8080.0"])
def test_an_integer_must_be_ascii_digits(web: Any, port: str) -> None:
    body = _json_error(web.get("/starter.zip", params={"port": port}), 400)
    assert body["field"] == "port"
    assert web.get("/api/validate", params={"port": "8081"}).json()["valid"] is True


def test_unknown_parameters_are_warned_about_once_each_and_at_most_ten_times(web: Any) -> None:
    query = "&".join(["colour=red"] * 1000 + [f"extra{i}=1" for i in range(30)])
    verdict = web.get(f"/api/validate?{query}").json()
    assert verdict["valid"] is True and len(verdict["warnings"]) == 11
    assert sum("'colour'" in warning for warning in verdict["warnings"]) == 1
    assert "21 more" in verdict["warnings"][-1]
    page = web.get(f"/?{query}", headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.text.count("data-warning") == 11


# ---------------------------------------------------------------- input refused, not repaired


def test_text_that_is_not_utf8_is_400_naming_where(web: Any) -> None:
    body = _json_error(web.get("/starter.zip?description=caf%E9"), 400)
    assert "the query is not UTF-8" in body["message"]
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for raw in (b"description=caf\xe9", b"description=caf%E9"):
        body = _json_error(web.post("/starter.zip", content=raw, headers=form), 400)
        assert "the body is not UTF-8" in body["message"]
    multipart = {"Content-Type": "multipart/form-data; boundary=xyz"}
    latin = b'--xyz\r\nContent-Disposition: form-data; name="description"\r\n\r\ncaf\xe9\r\n--xyz--\r\n'
    body = _json_error(web.post("/starter.zip", content=latin, headers=multipart), 400)
    assert "the body is not UTF-8" in body["message"]


def test_a_link_that_is_not_utf8_is_the_page_saying_so(web: Any) -> None:
    """A browser that follows a share link (or sends the form) with bytes that are not UTF-8 gets
    the page with the defaults and the reason, status 400, never a JSON body."""
    html = {"Accept": "text/html"}
    page = web.get("/?description=caf%E9&app_name=payments", headers=html)
    assert page.status_code == 400 and page.headers["content-type"].startswith("text/html")
    assert "the query is not UTF-8: byte 0xe9" in page.text and "data-warning" in page.text
    assert 'value="payments"' not in page.text, "no answer of an unreadable link is used"
    form = {**html, "Content-Type": "application/x-www-form-urlencoded"}
    page = web.post("/starter.zip", content=b"description=caf\xe9", headers=form)
    assert page.status_code == 400 and "the body is not UTF-8" in page.text


def test_a_truncated_multipart_body_is_400_not_the_default_project(web: Any) -> None:
    multipart = {"Content-Type": "multipart/form-data; boundary=xyz"}
    whole = b'--xyz\r\nContent-Disposition: form-data; name="app_name"\r\n\r\npayments\r\n--xyz--\r\n'
    assert web.post("/starter.zip", content=whole, headers=multipart).status_code == 200
    for cut in (whole[:-9], whole[:30], b"--xyz\r\n"):
        body = _json_error(web.post("/starter.zip", content=cut, headers=multipart), 400)
        assert "truncated" in body["message"]


def test_trojan_source_is_refused_by_the_cli_and_the_web_alike(web: Any, tmp_path: Path) -> None:
    """The template's own validator: `gostarter new` exits 2 naming the question, the web says the same."""
    for text in ("Pays \u202eevil", "zero\u200bwidth"):
        result = gostarter("new", str(tmp_path / "svc"), "--defaults", "--data", f"description={text}",
                           "--verify", "none", cwd=tmp_path)  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert "invalid description" in result.stderr and "bidirectional" in result.stderr
        assert not (tmp_path / "svc").exists()
        body = _json_error(web.get("/starter.zip", params={"maintainer": text}), 400)
        assert body["field"] == "maintainer" and "zero-width" in body["message"]


# ---------------------------------------------------------------- a real process


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("guarded")
    process, base = serve(work / "temp")
    try:
        wait_served(base, process)
        yield base
        process.terminate()
        _, err = process.communicate(timeout=30)
        assert process.returncode == 0 and "Traceback" not in err, err
    finally:
        process.kill()


def _exchange(base: str, raw: bytes, seconds: float = 15) -> bytes:
    """Send `raw` on one connection and read until the server closes it (or `seconds` pass)."""
    host, port = base.removeprefix("http://").split(":")
    received = b""
    with socket.create_connection((host, int(port)), timeout=seconds) as conn:
        conn.sendall(raw)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                return received
            received += chunk
    raise AssertionError(f"the server kept the connection open: {received!r}")


def test_content_length_with_transfer_encoding_is_400_and_nothing_is_smuggled(server: str) -> None:
    """CL.TE: the body read as chunked ends at once, and a request hidden after it would be answered
    on the same connection. The server answers 400 and closes the connection: one response only."""
    host = server.removeprefix("http://")
    smuggled = f"GET /metadata HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    raw = (
        f"POST /api/validate HTTP/1.1\r\nHost: {host}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {5 + len(smuggled)}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    ).encode() + smuggled
    received = _exchange(server, raw)
    assert received.startswith(b"HTTP/1.1 400 "), received
    assert received.count(b"HTTP/1.1 ") == 1 and b'"questions"' not in received
    assert b"connection: close" in received.lower()


def test_a_rebound_host_is_refused_on_the_wire(server: str) -> None:
    request = b"GET / HTTP/1.1\r\nHost: rebind.attacker.example\r\nConnection: close\r\n\r\n"
    received = _exchange(server, request)
    assert received.startswith(b"HTTP/1.1 400 ") and b"rebind.attacker.example" in received


# ---------------------------------------------------------------- a foreign page in Chromium


class _CountingEngine:
    """A unix socket standing in for the engine: it counts connections and answers none."""

    def __init__(self, path: Path) -> None:
        self.path, self.calls = path, 0
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(path))
        self._listener.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.calls += 1
            conn.close()

    def close(self) -> None:
        self._listener.close()


def _foreign_site(pages: dict[str, str]) -> http.server.ThreadingHTTPServer:
    """Another origin (localhost on a port of its own) serving `pages` as HTML."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path, "").encode()
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    return site


def test_a_foreign_pages_auto_submitting_forms_start_no_verification(chromium: Any, tmp_path: Path) -> None:
    """A page on another origin that auto-submits forms to the server (text/plain JSON-lookalike and
    urlencoded to /api/verify, urlencoded to /starter.zip): every answer is 403, the engine is never
    called and no verification starts."""
    engine = _CountingEngine(tmp_path / "engine.sock")
    temp = tmp_path / "temp"
    process, base = serve(temp, "--verify", "docker", env={"DOCKER_HOST": f"unix://{engine.path}"})
    image = "attacker.example:5000/golang:1.27"
    form = '<form method="post" action="{action}" enctype="{enctype}">{inputs}</form>'
    script = "<script>document.forms[0].submit()</script>"
    pages = {
        "/plain": form.format(
            action=f"{base}/api/verify", enctype="text/plain",
            inputs=f"<input name='{{\"builder_image\": \"{image}\", \"x\": \"' value='\"}}'>",
        ) + script,
        "/urlencoded": form.format(
            action=f"{base}/api/verify", enctype="application/x-www-form-urlencoded",
            inputs=f"<input name='builder_image' value='{image}'>",
        ) + script,
        "/download": form.format(
            action=f"{base}/starter.zip", enctype="multipart/form-data",
            inputs="<input name='app_name' value='planted'>",
        ) + script,
    }  # fmt: skip
    site = _foreign_site(pages)
    try:
        wait_served(base, process)
        targets = {"/plain": "/api/verify", "/urlencoded": "/api/verify", "/download": "/starter.zip"}
        for path, target in targets.items():
            page = chromium.new_page()
            try:
                with page.expect_response(lambda r, t=target: r.url == base + t, timeout=30_000) as answer:
                    page.goto(f"http://localhost:{site.server_address[1]}{path}")
                assert answer.value.status == 403, (path, answer.value.text())
                assert "refused" in answer.value.json()["message"]
            finally:
                page.close()
        time.sleep(1)  # a verification, had one started, would have called the engine by now
        assert engine.calls == 0
        assert not list(temp.glob("gostarter-serve-*/verify-*"))
    finally:
        site.shutdown()
        process.terminate()
        _, err = process.communicate(timeout=30)
        engine.close()
    assert process.returncode == 0 and "Traceback" not in err, err
    assert err.count("not this server's page") == 3, err
