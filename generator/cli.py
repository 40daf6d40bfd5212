"""The `gostarter` command: arguments in, exit codes out, nothing else.

Every error a person can cause becomes one or two lines on stderr and an exit
code from `errors.ExitCode`.

Each handler imports what its command needs when it runs: `--help` and the
parser import neither Copier nor the Docker SDK, `check` and `preset show`
not the Docker SDK, `verify` not Copier (tests/test_startup.py holds this).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator import covering_command, outputs, presets, rehearse_command
from generator.errors import (
    ExitCode,
    GostarterError,
    UsageError,
    exit_codes_help,
    interrupting_signal,
    terminations_interrupt,
)
from generator.verify import BUILD_TIMEOUT_ENV, DEFAULT_BUILD_TIMEOUT_SECONDS, MEMORY_ENV, MODES
from generator.web import command as web

if TYPE_CHECKING:
    from generator import lifecycle, verify

EXIT_CODES = exit_codes_help()

VERIFY_HELP = (
    "auto: docker when an engine is reachable, else native when Go is found, else skip; "
    "docker: build the image and smoke-test the container; "
    "native: build and smoke-test the binary with Go; none: skip (default: auto)"
)


def _say(text: str) -> None:
    """A line on stderr, if there still is one (a closed terminal is not a second error)."""
    with contextlib.suppress(OSError, ValueError):
        print(text, file=sys.stderr, flush=True)


def _error(message: str, hint: str = "") -> None:
    """An error in one line (and a hint in a second), credentials in any URL redacted."""
    from generator import sources

    _say(f"gostarter: error: {sources.redact(message)}")
    if hint:
        _say(f"gostarter: {sources.redact(hint)}")


def parse_data(items: Sequence[str]) -> dict[str, str]:
    """`--data KEY=VALUE` items as a dict; the values are validated by the template."""
    data: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--data {item!r} is not KEY=VALUE", hint="e.g. --data port=9090")
        data[key.strip()] = value
    return data


# ---------------------------------------------------------------- commands


def _shown(project: Path) -> Path:
    here = Path.cwd()
    return project.relative_to(here) if project.is_relative_to(here) else project


def _verify_and_report(
    project: Path,
    args: argparse.Namespace,
    *,
    new: bool = False,
    shown_as: Path | None = None,
    preflight: verify.Preflight | None = None,
) -> verify.Result:
    from generator import verify
    from generator.console import Progress

    progress = Progress(quiet=args.quiet, verbose=args.verbose)
    result = verify.verify(
        project,
        mode=args.verify,
        progress=progress,
        remove_image=args.rm_image,
        build_timeout=args.build_timeout,
        memory_limit=args.memory_limit,
        preflight=preflight,
        platforms=_platforms(args),
    )
    if args.report:
        verify.write_report(result, Path(args.report), project=shown_as or project)
    shown = str(_shown((shown_as or project).absolute()))
    verify.print_result(result, shown_as=shown, kept=new, quiet=args.quiet, out=sys.stdout)
    return result


def _platforms(args: argparse.Namespace) -> tuple[str, ...]:
    """--platform's platforms, checked (a UsageError names a bad one); () when not given."""
    if not args.platform:
        return ()
    from generator.verify import platforms

    return platforms.parse(args.platform, "--platform")


def _check_report(args: argparse.Namespace, *projects: Path) -> None:
    """Refuse a bad --report before any work: not a regular file, or inside a project."""
    if args.report:
        outputs.check_target(Path(args.report), what="report", inside=projects)


def _exit_code(result: verify.Result) -> ExitCode:
    return ExitCode.FAILURE if result.failed else ExitCode.SUCCESS


def _next_steps(project: Path, result: verify.Result, args: argparse.Namespace) -> None:
    if args.quiet or result.failed:
        return
    import shutil

    shown = _shown(project)
    docker_var = ""
    if result.docker and shutil.which("docker") != result.docker:
        docker_var = f" DOCKER={result.docker}"
    steps = [
        (f"cd {shown}", ""),
        ("make test lint", "Go tests, go vet and a gofmt check"),
        ("make run", "the service on this machine"),
        (f"make docker-build{docker_var}", "the image, with BuildKit"),
        (f"make docker-run{docker_var}", "the container on 127.0.0.1"),
        ("make", "every target, with a line on each"),
    ]
    width = max(len(command) for command, _ in steps) + 2
    lines = ["", "Next steps:"]
    lines += [f"  {command:<{width}}# {why}" if why else f"  {command}" for command, why in steps]
    if args.report:
        lines.append(f"Verification report: {args.report}")
    print("\n".join(lines))


def _on_a_terminal() -> bool:
    """Whether questions can be asked: standard input is open and is a terminal."""
    return sys.stdin is not None and not sys.stdin.closed and sys.stdin.isatty()


def cmd_new(args: argparse.Namespace) -> int:
    from generator import render, verify

    preset = presets.find(Path(args.preset) if args.preset else None)
    template = render.Template.resolve(args.template or (preset.template if preset else None))
    data = parse_data(args.data)
    if args.platform and "platforms" not in data:
        # The service's answers name its platforms too, so that its CI builds and smoke-tests them.
        data["platforms"] = ",".join(_platforms(args))
    answers = render.Answers(
        data=data,
        preset=preset.defaults if preset else {},
        preset_source=f"in preset {preset.path}" if preset else "",
    )
    interactive = not args.defaults
    if interactive and not _on_a_terminal():
        raise UsageError(
            "no terminal to ask the questions on (standard input is not a terminal)",
            hint="pass --defaults for a scripted run, with --data KEY=VALUE for each answer to set",
        )
    dest = Path(args.dest) if args.dest else None
    _check_report(args, *([dest] if dest is not None else []))
    # The engine and the BuildKit client are looked up while Copier renders.
    with verify.Preflight(args.verify) as preflight:
        project = render.render(template, dest, answers=answers, interactive=interactive, quiet=args.quiet)
        _check_report(args, project)  # ./APP_NAME is known only now
        if not args.quiet:
            print(f"gostarter: generated {project}", file=sys.stderr)
        result = _verify_and_report(project, args, new=True, preflight=preflight)
    _next_steps(project, result, args)
    return _exit_code(result)


def cmd_verify(args: argparse.Namespace) -> int:
    _check_report(args, Path(args.dir))
    return _exit_code(_verify_and_report(Path(args.dir), args))


def _changes_table(drift: lifecycle.Drift) -> str:
    lines = [f"{drift.project.name}: template {drift.current} -> {drift.newest}"]
    width = max((len(change.path) for change in drift.changes), default=0)
    lines += [f"  {change.path:<{width}}  {change.status}" for change in drift.changes]
    if not drift.changes:
        lines.append("  (no file changes)")
    return "\n".join(lines)


def cmd_update(args: argparse.Namespace) -> int:
    from generator import lifecycle, render
    from generator.project import Settings, read_answers, recorded

    project = lifecycle.resolved(Path(args.dir))
    _check_report(args, project)
    if args.dry_run:
        return _update_dry_run(project, args)
    recorded(project)  # a usage error before anything else
    Settings.read(project)  # an answers file without a valid app_name and port is not updated
    uncommitted = lifecycle.dirty(project)
    if uncommitted and not args.allow_dirty:
        shown = ", ".join(uncommitted[:5]) + (", ..." if len(uncommitted) > 5 else "")
        raise UsageError(
            f"{project} has uncommitted changes ({shown}); nothing was updated",
            hint="commit or stash them first, so that the update can be reviewed and undone with git "
            "(or pass --allow-dirty: they are stashed and put back afterwards)",
        )
    interactive = not args.defaults and _on_a_terminal()
    before = set(read_answers(project))
    data = parse_data(args.data)
    with lifecycle.set_aside(project, bool(uncommitted)) as restored:
        render.update(project, interactive=interactive, quiet=args.quiet, trust=args.trust, data=data)
    _say_defaults(read_answers(project), before, interactive)
    conflicts = lifecycle.conflicted(project)
    problems = [restored.problem] if not restored.ok else []
    if conflicts:
        opening, closing = lifecycle.CONFLICT_MARKERS
        problems.insert(
            0,
            f"the update left conflicts in {', '.join(conflicts)}: both sides are in each file "
            f"between {opening!r} and {closing!r}",
        )
    if problems:
        for problem in problems:
            print(f"gostarter: {problem}", file=sys.stderr)
        print(f"gostarter: resolve them, then `gostarter verify {_shown(project)}`", file=sys.stderr)
        return ExitCode.FAILURE
    try:
        return _exit_code(_verify_and_report(project, args))
    except GostarterError as err:  # the update is in the work tree: say so, and what to do
        err.message = f"the update was applied (see `git status` in {_shown(project)}), but {err.message}"
        err.hint = (
            "review it with `git diff`; a release that drops or renames app_name or port leaves nothing "
            f"to verify: set them in the answers file (or undo the update with git), then `gostarter verify "
            f"{_shown(project)}`"
        )
        raise


def _say_defaults(after: dict[str, object], before: set[str], interactive: bool) -> None:
    """Name the answers an update took from defaults (questions the answers file did not have)."""
    took = {key: value for key, value in after.items() if key not in before and not key.startswith("_")}
    if took and not interactive:
        shown = ", ".join(f"{key}={value!r}" for key, value in sorted(took.items()))
        print(
            f"gostarter: not in the answers file before, so they took their defaults: {shown}",
            file=sys.stderr,
        )


def _update_dry_run(project: Path, args: argparse.Namespace) -> int:
    """The update on a throwaway copy, verified there; the project stays byte for byte as it was."""
    from generator import lifecycle
    from generator.project import recorded

    recorded(project)
    data = parse_data(args.data)
    with lifecycle.throwaway_copy(project) as copy:
        drift = lifecycle.preview(project, copy, trust=args.trust, data=data)
        changed = drift.behind or bool(data)
        print(_changes_table(drift) if changed else f"{project.name}: template {drift.current} is the newest")
        args.rm_image = True  # a preview image must not replace the project's own APP:dev
        with lifecycle.about(project, copy):
            result = _verify_and_report(copy, args, shown_as=project) if changed else None
    if drift.count("conflict"):
        print(f"gostarter: the update would leave {drift.count('conflict')} conflict(s)", file=sys.stderr)
        return ExitCode.FAILURE
    return _exit_code(result) if result is not None else ExitCode.SUCCESS


def cmd_check(args: argparse.Namespace) -> int:
    from generator import lifecycle, sources

    dirs = args.dirs or ["."]
    _check_report(args, *[Path(d) for d in dirs])
    if args.html:
        outputs.check_target(Path(args.html), what="page", inside=[Path(d) for d in dirs])
    drifts: list[lifecycle.Drift] = []
    unchecked: list[tuple[str, str]] = []
    for directory, drift in lifecycle.check_all([Path(d) for d in dirs], trust=args.trust):
        if isinstance(drift, GostarterError):
            _error(f"{directory}: {drift.message}", drift.hint)
            unchecked.append((str(directory), sources.redact(drift.message)))
            continue
        drifts.append(drift)
        if drift.behind:
            counts = ", ".join(f"{drift.count(s)} {s}" for s in lifecycle.STATUSES if drift.count(s))
            files = ", ".join(change.path for change in drift.changes)
            print(f"{directory}: behind, {drift.current} -> {drift.newest}: {counts or 'no file changes'}"
                  + (f" ({files})" if files else ""))  # fmt: skip
        else:
            print(f"{directory}: current ({drift.current})")
    behind = sum(drift.behind for drift in drifts)
    if len(dirs) > 1 or unchecked:
        print(f"{len(drifts)} checked: {behind} behind, {len(drifts) - behind} current"
              + (f"; {len(unchecked)} could not be checked" if unchecked else ""))  # fmt: skip
    if args.report:
        lifecycle.write_report(drifts, Path(args.report), unchecked=unchecked)
    if args.html:
        from generator import report_html

        page = report_html.drift_page(drifts, unchecked)
        report_html.write_page(Path(args.html), page, inside=[Path(d) for d in dirs])
    if unchecked:
        return ExitCode.USAGE
    return ExitCode.FAILURE if behind else ExitCode.SUCCESS


def cmd_preset_init(args: argparse.Namespace) -> int:
    from generator import render

    path = Path(args.file) if args.file else presets.user_preset_location()
    if path is None:
        raise UsageError(
            "no configuration directory of yours to write the preset in: HOME is unset and the "
            "account's home directory is not yours (or there is none)",
            hint="name the FILE, or set XDG_CONFIG_HOME",
        )
    template = render.Template.resolve(args.template)
    values = parse_data(args.data)
    answers = render.check_answers(template, values, source="from --data")
    defaults = {key: answers.get(key, "") for key in presets.ORGANISATION_KEYS} | values
    presets.write(path, defaults, template=args.template, force=args.force)
    print(f"gostarter: wrote {path}; hand it out, or point {presets.ENV_VAR} at it", file=sys.stderr)
    print(path)
    return 0


def cmd_preset_show(args: argparse.Namespace) -> int:
    from generator import render

    path, origin = presets.locate(Path(args.file) if args.file else None)
    if path is None:
        print(
            f"gostarter: no preset in force (looked at ${presets.ENV_VAR}, "
            f"{presets.user_preset_path()}, {presets.SYSTEM_PRESET})",
            file=sys.stderr,
        )
        return 0
    preset = presets.load(path)
    template = render.Template.resolve(preset.template)
    answers = render.check_answers(template, preset.defaults, source=f"in preset {path}")
    print(f"# preset {path} ({origin}); the answers `gostarter new --defaults` would use:")
    width = max(len(key) for key in answers if not key.startswith("_"))
    for key, value in answers.items():
        if key.startswith("_"):
            continue
        mark = "  # from the preset" if key in preset.defaults else ""
        print(f"{key:<{width}} = {value!r}{mark}")
    return 0


# ---------------------------------------------------------------- parser


def _add_verify_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--verify", choices=MODES, default="auto", help=VERIFY_HELP)
    parser.add_argument("--report", metavar="FILE", help="write the verification result as TOML")
    parser.add_argument(
        "--platform",
        metavar="LIST",
        help="verify on each of these platforms, e.g. linux/amd64,linux/arm64 (a foreign one runs "
        "emulated; default: the platforms the answers name, else the engine's own)",
    )
    parser.add_argument(
        "--rm-image", action="store_true", help="remove the built image afterwards (kept by default)"
    )
    parser.add_argument(
        "--build-timeout",
        type=_seconds,
        metavar="SECONDS",
        help=f"stop the image build after SECONDS (default: ${BUILD_TIMEOUT_ENV}, else "
        f"{DEFAULT_BUILD_TIMEOUT_SECONDS:.0f})",
    )
    parser.add_argument(
        "--memory-limit",
        metavar="SIZE",
        help=f"the smoke container's memory limit, e.g. 128Mi (default: ${MEMORY_ENV}, else "
        "the limit in deploy/deployment.yaml, else 256Mi)",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("-q", "--quiet", action="store_true", help="print only the result and errors")
    output.add_argument("-v", "--verbose", action="store_true", help="stream the full build log")


def _seconds(text: str) -> float:
    from generator.verify import limits

    try:
        return limits.seconds(text, "--build-timeout")
    except UsageError as err:
        raise argparse.ArgumentTypeError(err.message) from None


def _command(commands: Any, name: str, summary: str, description: str = "") -> argparse.ArgumentParser:
    """A subcommand whose --help ends with the exit codes."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary,
        description=description or summary,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def _add_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", nargs="?", default=".", metavar="DIR", help="the project (default: .)")


def _add_data(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("-d", "--data", action="append", default=[], metavar="KEY=VALUE", help=help_text)


class _VersionAction(argparse.Action):
    """`--version`: the package and the template (looked up only when asked: it runs git)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from generator import __version__
        from generator.template import Template  # where the template is, without Copier

        print(f"gostarter {__version__} (template {Template.resolve().version()})")
        parser.exit()


def _add_update(commands: Any) -> None:
    update = _command(commands, "update", "copier update a generated project, then verify it")
    _add_dir(update)
    update.add_argument(
        "--defaults", action="store_true", help="ask nothing new: keep answers, take defaults"
    )
    _add_data(update, "change an answer (repeatable), e.g. with_backstage=true; validated like a typed one")
    update.add_argument(
        "--allow-dirty",
        action="store_true",
        help="update a work tree with uncommitted changes: they are stashed, then put back",
    )
    update.add_argument(
        "--dry-run",
        action="store_true",
        help="update a throwaway copy, classify every file, verify the copy, change nothing",
    )
    update.add_argument(
        "--trust",
        action="store_true",
        help="run the tasks and migrations of the template the answers file names, "
        "though it is neither gostarter's own nor in Copier's `trust:` settings",
    )
    _add_verify_options(update)
    update.set_defaults(handler=cmd_update)


def _add_preset(commands: Any) -> None:
    preset = commands.add_parser("preset", help="write or show an organisation preset")
    preset_commands = preset.add_subparsers(dest="preset_command", metavar="ACTION", required=True)
    init = _command(preset_commands, "init", "write a preset file with the organisation keys")
    init.add_argument("file", nargs="?", metavar="FILE", help=f"default: {presets.user_preset_path()}")
    _add_data(init, "set a default (repeatable), e.g. module_prefix=github.com/acme-corp")
    init.add_argument("--template", metavar="SRC", help="the organisation's template to record")
    init.add_argument("--force", action="store_true", help="replace an existing file")
    init.set_defaults(handler=cmd_preset_init)
    show = _command(preset_commands, "show", "show the preset in force and the answers it yields")
    show.add_argument("file", nargs="?", metavar="FILE", help="a preset file (default: the one in force)")
    show.set_defaults(handler=cmd_preset_show)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gostarter",
        description="Generate a containerised Go service, then prove that its image builds "
        "and its container answers.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version",
        action=_VersionAction,
        nargs=0,
        help="print gostarter's version and its template's, and exit",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    new = _command(
        commands,
        "new",
        "generate a service and verify it",
        "Ask the template's questions (or take --defaults), render the service "
        "into DEST (default ./APP_NAME), then verify it.",
    )
    new.add_argument("dest", nargs="?", metavar="DEST", help="directory to create (must be absent or empty)")
    new.add_argument("--defaults", action="store_true", help="ask nothing: use defaults, preset and --data")
    _add_data(new, "answer a question (repeatable); validated like a typed answer")
    new.add_argument(
        "--preset",
        metavar="FILE",
        help=f"organisation preset (default: ${presets.ENV_VAR}, "
        f"{presets.user_preset_path()}, {presets.SYSTEM_PRESET})",
    )
    new.add_argument("--template", metavar="SRC", help="another Copier template (path or git URL)")
    _add_verify_options(new)
    new.set_defaults(handler=cmd_new)

    verify_ = _command(commands, "verify", "verify an existing generated project")
    _add_dir(verify_)
    _add_verify_options(verify_)
    verify_.set_defaults(handler=cmd_verify)

    _add_update(commands)

    check = _command(
        commands,
        "check",
        "say which projects are behind their template and what an update would change",
        "For each DIR: the template version it records, the newest one, and the files an update "
        "would change (updated, conflict, added, removed), without touching it. Exit 1 when any is behind.",
    )
    check.add_argument("dirs", nargs="*", metavar="DIR", help="generated projects (default: .)")
    check.add_argument("--report", metavar="FILE", help="write the findings as TOML")
    check.add_argument(
        "--html", metavar="FILE", help="write the fleet's drift as one self-contained HTML page"
    )
    check.add_argument("--trust", action="store_true", help="run the template's migrations in the preview")
    check.set_defaults(handler=cmd_check)

    _add_preset(commands)
    rehearse_command.add_parser(commands)
    covering_command.add_parser(commands)
    web.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args: Any = build_parser().parse_args(argv)
    from generator import sources

    sources.apply_git_policy()  # before any git runs, Copier's included
    try:
        with terminations_interrupt():
            return int(args.handler(args))
    except GostarterError as err:
        _error(err.message, err.hint)
        return err.exit_code
    except KeyboardInterrupt as interrupt:
        signum = interrupting_signal(interrupt)
        name = signal.Signals(signum).name
        _say(f"\ngostarter: interrupted ({name}); nothing was left half-written")
        return ExitCode(128 + signum)
    except OSError as err:
        _error(f"{err.strerror or err}" + (f": {err.filename}" if err.filename else ""))
        return ExitCode.FAILURE
