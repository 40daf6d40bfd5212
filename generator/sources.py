"""A template's git source as data: checked before use, redacted when shown, reached with a deadline.

A project's answers file names its template (`_src_path`) and version
(`_commit`). Both come from whoever wrote the repository, so they are data:
checked here before any git or Copier call sees them, passed after `--`
(never as a free word that git could read as an option), and fetched only
over the transports in `ALLOWED_PROTOCOLS`, whatever the user's git
configuration says. Credentials in a URL never reach a message.

Standard library only: project.py (and so the Copier task) imports it.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from generator import children
from generator.errors import TemplateUnreachableError, UsageError

# git's own transports that a template may come from; never ext:: or fd::, which run commands.
ALLOWED_PROTOCOLS = "file:https:http:ssh:git"
SOURCE_MAX_CHARS = 2048
COMMIT_MAX_CHARS = 255
# Seconds a network operation (a listing, a clone, a whole Copier update) may take.
TIMEOUT_VAR = "GOSTARTER_NETWORK_TIMEOUT"
DEFAULT_TIMEOUT_SECONDS = 120.0
# Seconds any one local git process (gostarter's or Copier's) may run.
LOCAL_TIMEOUT_VAR = "GOSTARTER_GIT_TIMEOUT"
DEFAULT_LOCAL_TIMEOUT_SECONDS = 300.0
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_REMOTE_HELPER = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*::")  # git's <transport>::<address>
_USERINFO = re.compile(
    r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/@\s:]*)(?P<password>:[^/@\s]*)?@"
)
# What git-check-ref-format refuses (its rules 1-10), for a recorded `_commit`.
_BAD_REF = re.compile(r"(^|/)\.|\.\.|[~^:?*\[\\ ]|@\{|//|\.lock(/|$)|/$|\.$|^@$|^/")


def redact(text: str) -> str:
    """`text` with the secret part of every URL's credentials replaced: `https://user:***@host`,
    `https://***@host` for a token alone. An ssh user (`ssh://git@host`) is kept: it is no secret."""

    def hide(match: re.Match[str]) -> str:
        scheme, user, password = match["scheme"], match["user"], match["password"]
        if password is not None:
            return f"{scheme}{user}:***@"
        if scheme.lower().startswith(("http", "git+http")) and user:
            return f"{scheme}***@"
        return match.group(0)

    return _USERINFO.sub(hide, text)


def check_source(source: object, where: str) -> str:
    """A recorded `_src_path` that git and Copier may be given, or UsageError naming `where`."""
    if not isinstance(source, str) or not source.strip():
        raise UsageError(f"{where} names no template (_src_path)")
    shown = redact(source[:80]) + ("..." if len(source) > 80 else "")
    if len(source) > SOURCE_MAX_CHARS:
        raise UsageError(f"{where}: _src_path is {len(source)} characters long (at most {SOURCE_MAX_CHARS})")
    if _CONTROL.search(source):
        raise UsageError(f"{where}: _src_path {shown!r} holds a control character")
    if source.startswith("-"):
        raise UsageError(
            f"{where}: _src_path {shown!r} starts with '-': it is not a template location",
            hint="a template is a path or a git URL; an answers file cannot pass options to git",
        )
    if _REMOTE_HELPER.match(source):
        raise UsageError(f"{where}: _src_path {shown!r} names a git remote helper; gostarter never runs one")
    return source


def check_commit(commit: object, where: str) -> str:
    """A recorded `_commit` that is a valid git ref name (a tag, a `git describe`, a commit id)."""
    text = "" if commit is None else str(commit)
    if not text:
        return text
    shown = text[:80] + ("..." if len(text) > 80 else "")
    if len(text) > COMMIT_MAX_CHARS or _CONTROL.search(text) or text.startswith("-") or _BAD_REF.search(text):
        raise UsageError(f"{where}: _commit {shown!r} is not a git tag or commit")
    return text


def git_url(source: str) -> str:
    """What git itself accepts for a Copier template source (git+https://, gh:, gl:)."""
    if source.startswith("git+"):
        return source[4:]
    for short, host in (("gh:", "https://github.com/"), ("gl:", "https://gitlab.com/")):
        if source.startswith(short):
            return host + source[len(short) :]
    return source


def timeout_seconds() -> float:
    """The network deadline: $GOSTARTER_NETWORK_TIMEOUT seconds, else 120."""
    try:
        value = float(os.environ.get(TIMEOUT_VAR, ""))
    except ValueError:
        return DEFAULT_TIMEOUT_SECONDS
    return value if value > 0 else DEFAULT_TIMEOUT_SECONDS


def local_timeout_seconds() -> float:
    """The deadline of one local git process: $GOSTARTER_GIT_TIMEOUT seconds, else 300."""
    try:
        value = float(os.environ.get(LOCAL_TIMEOUT_VAR, ""))
    except ValueError:
        return DEFAULT_LOCAL_TIMEOUT_SECONDS
    return value if value > 0 else DEFAULT_LOCAL_TIMEOUT_SECONDS


def git_policy() -> dict[str, str]:
    """The environment every git process gostarter starts, or Copier starts for it, runs with
    (beside it, none of `INHERITED_REPOSITORY`): allowed transports only, no password prompt
    without a terminal, and none of the user's hooks or fsmonitor (git's command-line scope,
    through GIT_CONFIG_COUNT, outranks every config file; the user's own entries there are kept)."""
    policy = {"GIT_ALLOW_PROTOCOL": ALLOWED_PROTOCOLS, "GIT_PROTOCOL_FROM_USER": "0"}
    if not sys.stdin or not sys.stdin.isatty():
        policy["GIT_TERMINAL_PROMPT"] = "0"  # nobody is there to type a password: fail, don't wait
    entries = [entry for entry in _config_entries() if entry[0].lower() not in _FORCED_LOWER]
    entries += list(FORCED_CONFIG.items())
    policy["GIT_CONFIG_COUNT"] = str(len(entries))
    for i, (key, value) in enumerate(entries):
        policy[f"GIT_CONFIG_KEY_{i}"], policy[f"GIT_CONFIG_VALUE_{i}"] = key, value
    return policy


# What git reads from the environment to find a repository other than the work tree it runs in:
# git sets them for hooks, CI steps export them. Inherited, they would send a `git init`, `add`
# or `commit` of gostarter's (or Copier's) into that other repository. GIT_CONFIG_PARAMETERS
# (`git -c` of a parent git) would outrank the settings below.
INHERITED_REPOSITORY = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_CONFIG_PARAMETERS",
)
# The user's hooks (a global core.hooksPath, a pre-commit framework) and fsmonitor would run on
# template content in Copier's temporary repositories, and a hook that waits would hang the run.
FORCED_CONFIG = {"core.hooksPath": os.devnull, "core.fsmonitor": "false"}
_FORCED_LOWER = {key.lower() for key in FORCED_CONFIG}


def _config_entries() -> list[tuple[str, str]]:
    """The user's own GIT_CONFIG_COUNT entries (as git reads them; none when the count is not a number)."""
    try:
        count = int(os.environ.get("GIT_CONFIG_COUNT", "0"))
    except ValueError:
        return []
    keys = (os.environ.get(f"GIT_CONFIG_KEY_{i}") for i in range(max(count, 0)))
    return [(key, os.environ.get(f"GIT_CONFIG_VALUE_{i}", "")) for i, key in enumerate(keys) if key]


def git_env() -> dict[str, str]:
    """This process's environment as a git process it starts gets it: `git_policy()`, and none of
    `INHERITED_REPOSITORY`."""
    env = {key: value for key, value in os.environ.items() if key not in INHERITED_REPOSITORY}
    return {**env, **git_policy()}


def apply_git_policy() -> None:
    """Make this process's environment `git_env()`, and plumbum's copy of it, which Copier's own
    git calls use (plumbum copies os.environ once, when it is imported)."""
    policy = git_policy()
    os.environ.update(policy)
    for key in INHERITED_REPOSITORY:
        os.environ.pop(key, None)
    plumbum = sys.modules.get("plumbum")
    if plumbum is not None:
        for key, value in policy.items():
            plumbum.local.env[key] = value
        for key in INHERITED_REPOSITORY:
            if key in plumbum.local.env:
                del plumbum.local.env[key]


# The identity of the commits gostarter makes in its own throwaway repositories (never the user's).
GIT: tuple[str, ...] = ("git", "-c", "user.name=gostarter", "-c", "user.email=gostarter@localhost")
GIT += ("-c", "commit.gpgsign=false")


def unreachable(source: str, done: subprocess.CompletedProcess[Any]) -> TemplateUnreachableError:
    """The error for a git command that could not reach `source`, its URL's credentials redacted."""
    return TemplateUnreachableError(source=redact(source), reason=redact(children.last_line(done)))


def run_local_git(argv: Sequence[str], *, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A git command on local repositories (a project, a throwaway copy), under `git_env()` and the
    local deadline: past it, the command is ended and the failure is one UsageError."""
    seconds = local_timeout_seconds()
    try:
        return children.run(argv, cwd=cwd, env=git_env(), stdin=subprocess.DEVNULL, timeout=seconds)
    except subprocess.TimeoutExpired:
        raise UsageError(
            f"git {_subcommand(argv)} did not finish within {seconds:.0f} s in {cwd}; it was ended",
            hint=f"{LOCAL_TIMEOUT_VAR} sets the deadline",
        ) from None


def _subcommand(argv: Sequence[str]) -> str:
    """The git subcommand of `argv` (`git -c k=v commit ...` -> commit)."""
    words = iter(argv[1:])
    for word in words:
        if word == "-c":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return ""


def run_git(
    argv: Sequence[str], *, source: str, cwd: Path | None = None, binary: bool = False
) -> subprocess.CompletedProcess[Any]:
    """Run a git command that reaches `source`, in a process group of its own, ended whole at the
    deadline or on any exception (Ctrl-C included); a timeout is one UsageError naming the source."""
    seconds = timeout_seconds()
    try:
        return children.run(
            argv, cwd=cwd, env=git_env(), stdin=subprocess.DEVNULL, text=not binary,
            timeout=seconds,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise UsageError(
            f"the template {redact(source)} did not answer within {seconds:.0f} s",
            hint=f"check the network or the URL; {TIMEOUT_VAR} sets the deadline",
        ) from None


def remote(source: str) -> bool:
    """Whether reaching `source` goes over a network (a local path or file:// does not)."""
    url = git_url(source)
    if url.startswith("file://"):
        return False
    return "://" in url or bool(re.match(r"[^/]+@[^/:]+:", url)) or url.startswith(("gh:", "gl:"))


def _network_processes(source: str) -> list[int]:
    """The processes below this one that talk to `source` over the network: git's transport
    helpers, ssh, and any git whose command line names the URL."""
    url = git_url(source)
    found = []
    for pid in children.descendants(os.getpid()):
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if name.startswith(("git-remote-", "ssh")):
            found.append(pid)
            continue
        if name == "git":
            with contextlib.suppress(OSError):
                if url.encode() in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"):
                    found.append(pid)
    return found


@contextlib.contextmanager
def network_deadline(source: str) -> Iterator[None]:
    """Bound the network git processes that a library call (Copier) starts for a remote `source`:
    at the deadline they are killed, and the call's failure becomes one line naming the template.
    Local work (rendering, a local clone) is never cut short, however slow the machine."""
    if not remote(source):
        yield
        return
    seconds = timeout_seconds()
    expired = threading.Event()

    def expire() -> None:
        for pid in _network_processes(source):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                expired.set()

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    started = time.monotonic()
    timer.start()
    try:
        yield
    except Exception:
        if expired.is_set():
            raise UsageError(
                f"the template {redact(source)} did not answer within {seconds:.0f} s "
                f"({time.monotonic() - started:.0f} s spent); nothing was changed",
                hint=f"check the network or the URL; {TIMEOUT_VAR} sets the deadline",
            ) from None
        raise
    finally:
        timer.cancel()


@contextlib.contextmanager
def local_git_deadline() -> Iterator[None]:
    """Bound every git process a library call (Copier) starts below this one, local work
    included: one still running after `local_timeout_seconds()` is killed, and the call's
    failure becomes one line. A watcher thread looks once a second."""
    seconds = local_timeout_seconds()
    done = threading.Event()
    ended: list[str] = []

    def watch() -> None:
        while not done.wait(min(1.0, seconds / 4)):
            for pid in children.descendants(os.getpid()):
                if _is_git(pid) and _age(pid) > seconds:
                    ended.append(_command_line(pid))
                    for late in [*children.descendants(pid), pid]:  # a filter or helper it started too
                        with contextlib.suppress(ProcessLookupError, PermissionError):
                            os.kill(late, signal.SIGKILL)

    watcher = threading.Thread(target=watch, name="gostarter-git-deadline", daemon=True)
    watcher.start()
    try:
        yield
    except Exception:
        if ended:
            raise UsageError(
                f"git did not finish within {seconds:.0f} s ({ended[0][:120]}); it was ended, "
                "nothing was changed",
                hint=f"{LOCAL_TIMEOUT_VAR} sets the deadline",
            ) from None
        raise
    finally:
        done.set()
        watcher.join()


def _is_git(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip().startswith("git")
    except OSError:
        return False


def _command_line(pid: int) -> str:
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        return redact(" ".join(os.fsdecode(word) for word in words).strip())
    except OSError:
        return "git"


def _age(pid: int) -> float:
    """Seconds since process `pid` started (0 when Linux's /proc cannot tell)."""
    try:
        started = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    return uptime - started / os.sysconf("SC_CLK_TCK")
