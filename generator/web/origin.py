"""Who may reach the server, and from which pages: the Host allow-list and same-origin for work.

A browser lets any site send a form (urlencoded, multipart or text/plain) to
any server without asking it first, and DNS rebinding makes a site's own name
point at 127.0.0.1. So, before any view runs:

- a request whose `Host` is not the public URL's (`--public-url`), nor a
  loopback name while the server listens only on loopback, is 400 (Django's
  ALLOWED_HOSTS); the probes (/healthz, /readyz) answer whatever the Host, as
  a kubelet names the pod by its address;
- a POST, and any request to /api/verify, from another origin is 403: its
  `Origin` must be the server's own or one the operator lists
  (`--allowed-origin`); else `Sec-Fetch-Site` must say same-origin (the page's
  own POSTs carry `Origin: null` under its no-referrer policy). A request with
  neither header comes from no browser (curl, a script): a browser sends
  `Origin` with every cross-origin POST, so such a request is no page's doing
  and is served, as Go's CrossOriginProtection does;
- a request with both `Content-Length` and `Transfer-Encoding` is 400 and its
  connection closed: uvicorn's h11 reads such a body as chunked, so a proxy that
  trusts the length would see a second, smuggled request where the server
  sees one body (CL.TE);
- with a public URL, the scope's scheme and Host become the public URL's, so
  every absolute URL the server writes (the page, the curl help, redirects)
  names it, never what a request said.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from generator.errors import UsageError
from generator.web.drain import PROBES
from generator.web.guard import error_body

log = logging.getLogger("gostarter.web")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Where work is done whatever the method: a verification runs the engine.
COSTLY_PATHS = frozenset({"/api/verify"})


def _split_host(host: str) -> tuple[str, int | None]:
    """`name[:port]` or `[v6][:port]` as (lower-case name without brackets, port or None)."""
    host = host.strip().lower()
    if host.startswith("["):
        name, bracket, rest = host[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(host)
        port = rest[1:]
    elif host.count(":") == 1:
        name, _, port = host.partition(":")
    else:
        name, port = host, ""
    if port and not (port.isascii() and port.isdigit()):
        raise ValueError(host)
    return name, int(port) if port else None


def is_loopback(name: str) -> bool:
    """A name that reaches this machine only: localhost, 127.0.0.0/8, ::1."""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of `url`, lower-case, without a default port."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    name, port = _split_host(parts.netloc)
    shown = f"[{name}]" if ":" in name else name
    if port is None or port == _DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{shown}"
    return f"{scheme}://{shown}:{port}"


def public_url(value: str) -> str:
    """The origin `--public-url` names (`http(s)://host[:port]`, nothing after it), or UsageError."""
    parts = urlsplit(value.strip())
    bad = (
        parts.scheme not in _DEFAULT_PORTS
        or not parts.hostname
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    )
    try:
        parts.port  # noqa: B018 (a port that is not a number raises)
    except ValueError:
        bad = True
    if bad:
        raise UsageError(
            f"--public-url {value!r} must be http:// or https:// and a host, with an optional port "
            "and nothing after it, e.g. https://initializr.example.com"
        )
    return origin_of(value)


def allowed_origin(value: str) -> str:
    """An `--allowed-origin`: the same shape as a public URL."""
    try:
        return public_url(value)
    except UsageError:
        raise UsageError(
            f"--allowed-origin {value!r} must be an origin: http:// or https:// and a host, "
            "with an optional port, e.g. https://portal.example.com"
        ) from None


@dataclass(frozen=True)
class Reach:
    """Where the server is reached and which pages may make it work."""

    public: str | None = None  # the public URL's origin
    loopback: bool = True  # the server listens on loopback only
    origins: frozenset[str] = frozenset()  # other origins whose pages may POST (--allowed-origin)

    def host_allowed(self, host: str) -> bool:
        try:
            name, port = _split_host(host)
        except ValueError:
            return False
        if self.public is not None:
            public_name, public_port = _split_host(urlsplit(self.public).netloc)
            scheme = urlsplit(self.public).scheme
            expected = public_port or _DEFAULT_PORTS[scheme]
            # A Host without a port means the scheme's default one.
            if name == public_name and (port or _DEFAULT_PORTS[scheme]) == expected:
                return True
        return (self.loopback or self.public is None) and is_loopback(name)

    def origin_allowed(self, origin: str, scheme: str, host: str) -> bool:
        """`origin` is the server's own (the public URL's, or the allowed Host the request came
        to) or an origin the operator listed."""
        try:
            given = origin_of(origin)
        except ValueError:
            return False
        if "://" not in origin:  # "null" (a sandboxed frame, a data: URL) and anything else odd
            return False
        own = {origin_of(f"{scheme}://{host}")}
        if self.public is not None:
            own.add(self.public)
        return given in own or given in self.origins


def _header(scope: Scope, name: bytes) -> str | None:
    values = [value for key, value in scope["headers"] if key == name]
    return values[-1].decode("latin-1") if values else None


class SameOrigin:
    """The ASGI middleware that applies a Reach (see the module's docstring)."""

    def __init__(self, app: ASGIApp, reach: Reach) -> None:
        self.app, self.reach = app, reach

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        names = {key for key, _ in scope["headers"]}
        if b"content-length" in names and b"transfer-encoding" in names:
            log.warning("refused %s %s: Content-Length and Transfer-Encoding together", method, path)
            await _refuse(send, 400, "a request may have Content-Length or Transfer-Encoding, not both", True)
            return
        host = _header(scope, b"host") or ""
        if path not in PROBES and not self.reach.host_allowed(host):
            log.warning("refused %s %s: Host %r is not this server's", method, path, host[:100])
            where = self.reach.public or "a loopback name (localhost, 127.0.0.1, [::1])"
            await _refuse(send, 400, f"this server answers only requests to {where}, not to {host[:100]!r}")
            return
        if method == "POST" or path in COSTLY_PATHS:
            origin = _header(scope, b"origin")
            site = _header(scope, b"sec-fetch-site")
            if not self._same_origin(origin, site, scope["scheme"], host):
                who = f"origin {origin[:100]!r}" if origin else f"a {site} page"
                log.warning("refused %s %s from %s: not this server's page", method, path, who)
                await _refuse(
                    send,
                    403,
                    f"{method} {path} from {who} refused: only this server's own page may ask it "
                    "(the operator can allow another origin with --allowed-origin)",
                )
                return
        if self.reach.public is not None:
            parts = urlsplit(self.reach.public)
            headers = [(key, value) for key, value in scope["headers"] if key != b"host"]
            port = parts.port or _DEFAULT_PORTS[parts.scheme]
            scope = {
                **scope,
                "scheme": parts.scheme,
                "server": (parts.hostname, port),
                "headers": [(b"host", parts.netloc.encode()), *headers],
            }
        await self.app(scope, receive, send)

    def _same_origin(self, origin: str | None, site: str | None, scheme: str, host: str) -> bool:
        """From the server's own page, a listed origin, or no browser at all. The page's
        Referrer-Policy (no-referrer) makes a browser send `Origin: null` with its own POSTs, so
        `Sec-Fetch-Site` decides whenever it is there, as in Go's CrossOriginProtection."""
        if origin is not None and origin != "null" and self.reach.origin_allowed(origin, scheme, host):
            return True
        if site is not None:
            return site in ("same-origin", "none")
        return origin is None


async def _refuse(send: Send, status: int, message: str, close: bool = False) -> None:
    error = "Bad Request" if status == 400 else "Forbidden"
    payload = json.dumps(error_body(status, error, message)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
