"""The template: where it is, which version it is, and what a project records as its source.

No Copier import here: the web initializr, `--version` and the lifecycle need
to know the template without loading the rendering engine (render.py renders).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from generator import __version__, children
from generator.errors import UsageError
from generator.project import ANSWERS_FILE

PACKAGE_DIR = Path(__file__).resolve().parent
# What of a checkout is the template: what the wheel bundles as generator/_template
# (pyproject's force-include), and what a render of the checkout reads.
TEMPLATE_PARTS = ("copier.yml", "template", "hooks", "includes", "migrations")
# What a copy of a template directory that is not a checkout leaves out: version control,
# virtual environments (a checkout's .venv, CI's .venv-debian) and caches.
NOT_TEMPLATE = (".git", ".venv*", "node_modules", "__pycache__", "*_cache", ".hypothesis")


def is_url(src: str) -> bool:
    """Whether a template source is a URL for Copier to fetch (git, file://, gh:, git@host:)
    rather than a directory on this machine."""
    return "://" in src or src.startswith(("gh:", "gl:", "git@", "git+"))


@dataclass(frozen=True)
class Template:
    """Where the template comes from, and which Git ref of it to render."""

    src: str
    vcs_ref: str | None = None
    # For the copy bundled in a wheel: the template's canonical git URL, recorded
    # in the answers file instead of this machine's site-packages path.
    canonical: str | None = None

    @property
    def bundled(self) -> bool:
        return Path(self.src) == PACKAGE_DIR / "_template"

    @property
    def checkout(self) -> bool:
        """A local git checkout rendered as it is now (HEAD and the working tree), as the shipped
        template is in a source checkout."""
        return self.vcs_ref == "HEAD" and not is_url(self.src) and Path(self.src).is_dir()

    @classmethod
    def resolve(cls, src: str | None = None) -> Template:
        """The template to use: `src` when given, else the one shipped with gostarter.

        The shipped template is the source checkout (rendered at HEAD, working
        tree included, so `copier update` can later find the commit) or, in
        an installed wheel, the copy bundled inside the package.
        """
        if src:
            remote = is_url(src)
            local = Path(src).expanduser()
            if not remote and not local.is_dir():
                raise UsageError(f"template {src} does not exist or is not a directory")
            if not remote and not any((local / name).is_file() for name in ("copier.yml", "copier.yaml")):
                raise UsageError(f"template {src} has no copier.yml: it is not a Copier template")
            return cls(str(local) if not remote else src)
        checkout = PACKAGE_DIR.parent
        if (checkout / "copier.yml").is_file():
            return cls(str(checkout), "HEAD" if (checkout / ".git").exists() else None)
        return cls(str(PACKAGE_DIR / "_template"), canonical=canonical_source())

    def version(self) -> str:
        """This template's version: its checkout's `git describe`, else the package's."""
        if self.vcs_ref is not None:
            argv = ["git", "-C", self.src, "describe", "--tags", "--always", "--dirty"]
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                described = children.run(argv, timeout=60)
                if described.returncode == 0 and str(described.stdout).strip():
                    return str(described.stdout).strip()
        return __version__


def canonical_source() -> str | None:
    """The template's git URL, from the installed package's `Project-URL: Template` (pyproject's
    [project.urls] Template), or $GOSTARTER_TEMPLATE_URL; None when neither says."""
    from_env = os.environ.get("GOSTARTER_TEMPLATE_URL")
    if from_env:
        return from_env
    try:
        urls: list[str] = importlib.metadata.metadata("gostarter").get_all("Project-URL") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in urls:
        label, _, url = entry.partition(",")
        if label.strip().lower() == "template" and url.strip():
            return url.strip()
    return None


def plain_tree(checkout: Path, dest: Path) -> Path:
    """Copy the template of git checkout `checkout` (its TEMPLATE_PARTS) to `dest`, as it is in the
    working tree: tracked files and untracked ones that .gitignore does not exclude, uncommitted
    changes included, which is what Copier takes of a local checkout at HEAD. Copier renders such a
    tree at once, where it would first clone the checkout (a `git clone`, a checkout, a submodule
    update: most of a render's time); the caller records the checkout as the source."""
    argv = ["git", "-C", str(checkout), "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    try:
        listed = children.run([*argv, "--", *TEMPLATE_PARTS], text=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise UsageError(f"cannot list the template's files in {checkout}: {err}") from None
    if listed.returncode != 0:
        why = (bytes(listed.stderr).decode(errors="replace").strip().splitlines() or ["git failed"])[-1]
        raise UsageError(f"cannot list the template's files in {checkout}: {why}")
    dest.mkdir(parents=True, exist_ok=True)
    for name in {os.fsdecode(entry) for entry in bytes(listed.stdout).split(b"\0") if entry}:
        source = checkout / name
        if not source.is_file() and not source.is_symlink():  # deleted in the working tree
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest / name, follow_symlinks=False)
    return dest


def record_provenance(project: Path, template: Template) -> None:
    """A project rendered from the bundled copy records the canonical source and the version tag,
    never this machine's site-packages path (which no other machine could update from); one
    rendered from a checkout's plain tree records the checkout and its `git describe`."""
    if template.checkout:
        write_provenance(project, template.version(), template.src)
        return
    if not template.bundled:
        return
    write_provenance(project, __version__, template.canonical)
    if not template.canonical:
        print(
            "gostarter: note: this gostarter knows no URL for its template, so the project records none; "
            "`gostarter update` will need one: set GOSTARTER_TEMPLATE_URL, or the preset's `template`",
            file=sys.stderr,
        )


def _yaml_string(value: str) -> str:
    """`value` as a YAML string, written as Copier writes its answers file: plain where YAML reads
    it back as this string, quoted where it would not (a version such as 1.0, an all-digit short
    hash, a URL holding ": " or " #"), so that a line-oriented reader (the generated
    template-check workflow) sees a plain URL as it is."""
    import yaml

    dumped: str = yaml.safe_dump(value, default_flow_style=True, width=2**16, allow_unicode=True)
    return dumped.removesuffix("\n").removesuffix("\n...").strip()


def write_provenance(project: Path, version: str, source: str | None) -> None:
    """Make the answers file record `source` (None: no source) at `version` as the project's template,
    in place of whatever Copier recorded (a path on the machine that rendered it)."""
    path = project / ANSWERS_FILE
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if not line.startswith(("_src_path:", "_commit:"))]
    provenance = [f"_commit: {_yaml_string(version)}\n"]
    if source:
        provenance.append(f"_src_path: {_yaml_string(source)}\n")
    first_answer = next((i for i, line in enumerate(kept) if not line.startswith("#")), len(kept))
    path.write_text("".join(kept[:first_answer] + provenance + kept[first_answer:]), encoding="utf-8")


def shipped_template(src: str) -> bool:
    """Whether `src` is the template that ships with this gostarter (its checkout or its wheel)."""
    try:
        return Path(src).expanduser().resolve() == Path(Template.resolve().src).resolve()
    except OSError:
        return False
