"""`gostarter serve`: its arguments and its handler, together (cli.build_parser registers it)."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator import presets
from generator.errors import UsageError, exit_codes_help
from generator.verify import SERVED_MODES

if TYPE_CHECKING:  # the web stack (and Copier, through prepare) loads only for `serve`
    from generator.web.prepare import Prepared

PUBLIC_URL_VAR = "GOSTARTER_PUBLIC_URL"
DESCRIPTION = textwrap.fill(
    "Serve the template's questions as a web page and an API (the web initializr): a browser fills in "
    "a form, sees the files and downloads the project; curl gets the same archive with one command. "
    "It renders only the template it was started with, with the preset's defaults; Ctrl-C, SIGTERM or "
    "SIGHUP stops it (exit 0)."
)


def add_parser(commands: Any) -> None:
    """Add `serve` to the `gostarter` subcommands."""
    serve: argparse.ArgumentParser = commands.add_parser(
        "serve",
        help="serve the web initializr: the template's questions as a page and an API",
        description=DESCRIPTION,
        epilog=exit_codes_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    serve.add_argument(
        "--public-url",
        metavar="URL",
        default=os.environ.get(PUBLIC_URL_VAR) or None,
        help="where people reach the server, e.g. https://initializr.example.com: the only Host it "
        "answers (besides localhost while it listens on loopback) and the base of every URL it "
        f"writes (default: ${PUBLIC_URL_VAR}; none: loopback names only)",
    )
    serve.add_argument(
        "--allowed-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="another site whose pages may POST to this server (repeatable); by default only the "
        "server's own page may",
    )
    serve.add_argument(
        "--preset",
        metavar="FILE",
        help=f"organisation preset whose defaults the page offers (default: ${presets.ENV_VAR}, "
        f"{presets.user_preset_path()}, {presets.SYSTEM_PRESET})",
    )
    serve.add_argument("--template", metavar="SRC", help="another Copier template (path or git URL)")
    serve.add_argument(
        "--template-url",
        metavar="URL",
        help="the template's canonical git URL, which downloaded projects record so that "
        "`gostarter update` and Renovate can update them (default: $GOSTARTER_TEMPLATE_URL, "
        "the package's Template URL, or --template when it is a git URL)",
    )
    serve.add_argument(
        "--verify",
        choices=SERVED_MODES,
        default="none",
        help="docker: the page offers Verify, which builds the project's image and smoke-tests its "
        "container on this server's Docker engine before download (POST /api/verify); none: off "
        "(default)",
    )
    serve.add_argument(
        "--verify-registry",
        action="append",
        default=[],
        metavar="REGISTRY[/PREFIX]",
        help="a registry (optionally a repository prefix in it) whose images verifications may pull, "
        "besides those of the template's and the preset's default images (repeatable)",
    )
    serve.add_argument(
        "--max-verifications",
        type=int,
        default=1,
        metavar="N",
        help="verifications running at once (default: 1)",
    )
    serve.add_argument(
        "--verify-queue",
        type=int,
        default=4,
        metavar="N",
        help="verifications waiting for a slot; beyond them 503 with Retry-After (default: 4)",
    )
    serve.add_argument(
        "--verify-timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="a verification still running after this long is stopped and fails (default: 300)",
    )
    serve.add_argument(
        "--render-queue",
        type=int,
        default=None,
        metavar="N",
        help="renders waiting for a worker process; beyond them 503 with Retry-After (default: 4 per worker)",
    )
    serve.add_argument(
        "--max-connections",
        type=int,
        default=256,
        metavar="N",
        help="connections open at once; beyond them a new connection is closed at once (default: 256)",
    )
    serve.add_argument(
        "--drain-seconds",
        type=float,
        default=10.0,
        metavar="N",
        help="after SIGTERM, SIGINT or SIGHUP, /readyz answers 503 at once and requests in flight "
        "get up to N seconds to finish, then the server closes what is left within 1 s and stops; "
        "a second signal stops it at once (default: 10; 0 stops at once)",
    )
    serve.set_defaults(handler=run)


def _say_ready(host: str, port: int) -> Any:
    def ready(prepared: Prepared) -> None:
        shown = f"[{host}]" if ":" in host else host
        print(
            f"gostarter: serving template {prepared.version} at http://{shown}:{port}/ (Ctrl-C stops)",
            file=sys.stderr,
        )
        if not prepared.source:
            from generator.web.describe import NOT_UPDATABLE

            print(f"gostarter: note: {NOT_UPDATABLE}", file=sys.stderr)

    return ready


def run(args: argparse.Namespace) -> int:
    from generator.template import Template
    from generator.web import server  # the web stack loads only for `serve`

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not between 0 and 65535")
    if args.max_verifications < 1 or args.verify_queue < 0 or args.verify_timeout <= 0:
        raise UsageError("--max-verifications must be at least 1, --verify-queue at least 0, "
                         "--verify-timeout more than 0")  # fmt: skip
    if args.render_queue is not None and args.render_queue < 0:
        raise UsageError(f"--render-queue {args.render_queue} is not at least 0")
    if args.max_connections < 1:
        raise UsageError(f"--max-connections {args.max_connections} is not at least 1")
    if not 0 <= args.drain_seconds <= 3600:
        raise UsageError(f"--drain-seconds {args.drain_seconds:g} is not between 0 and 3600")
    from generator.web import origin, registries

    if args.public_url is not None:
        origin.public_url(args.public_url)
    for each in args.allowed_origin:
        origin.allowed_origin(each)
    trusted = tuple(registries.Registry.parse(each) for each in args.verify_registry)
    preset = presets.find(Path(args.preset) if args.preset else None)
    template = Template.resolve(args.template or (preset.template if preset else None))
    settings = server.ServeSettings(
        template=template,
        preset=preset,
        template_url=args.template_url,
        drain_seconds=args.drain_seconds,
        verify=args.verify,
        max_verifications=args.max_verifications,
        verify_queue=args.verify_queue,
        verify_timeout=args.verify_timeout,
        render_queue=args.render_queue,
        public_url=args.public_url,
        loopback=origin.is_loopback(args.host.strip("[]")),
        allowed_origins=tuple(args.allowed_origin),
        verify_registries=trusted,
        on_ready=_say_ready(args.host, args.port),
    )
    server.serve(settings, args.host, args.port, server.Limits(max_connections=args.max_connections))
    return 0
