"""The template: where it is, which version it is, and what a project records as its source.

No Copier import here: the web initializr, `--version` and the lifecycle need
to know the template without loading the rendering engine (render.py renders).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import re
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
        return self.described() or __version__

    def described(self) -> str | None:
        """`git describe --tags --always --dirty` of a checkout; None elsewhere, or where git
        cannot tell (not a repository git will read, no commit yet)."""
        if self.vcs_ref is None:
            return None
        argv = ["git", "-C", self.src, "describe", "--tags", "--always", "--dirty"]
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            described = children.run(argv, timeout=60)
            if described.returncode == 0 and str(described.stdout).strip():
                return str(described.stdout).strip()
        return None


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
    update: most of a render's time); the caller records the checkout as the source.

    Where git will not list the checkout (another user's, a broken `.git`), the parts are copied
    whole, as Copier renders a directory that is not a repository. A symbolic link is copied as
    a link when it points inside the parts, else as what it points at (which the copy lacks)."""
    dest.mkdir(parents=True, exist_ok=True)
    names = _listed(checkout)
    if names is None:
        for part in TEMPLATE_PARTS:
            source = checkout / part
            if source.is_dir():
                shutil.copytree(source, dest / part, ignore=shutil.ignore_patterns(*NOT_TEMPLATE))
            elif source.is_file():
                shutil.copy2(source, dest / part)
        return dest
    parts = [(checkout / part).resolve() for part in TEMPLATE_PARTS]
    for name in names:
        source, target = checkout / name, dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            pointed = source.resolve()
            if not any(pointed.is_relative_to(part) for part in parts) and pointed.exists():
                if pointed.is_dir():
                    shutil.copytree(pointed, target, ignore=shutil.ignore_patterns(*NOT_TEMPLATE))
                else:
                    shutil.copy2(pointed, target)
                continue
        elif not source.is_file():  # deleted in the working tree (or a submodule)
            continue
        shutil.copy2(source, target, follow_symlinks=False)
    return dest


def _listed(checkout: Path) -> list[str] | None:
    """The template's files of `checkout` as git sees them; None when git cannot tell."""
    argv = ["git", "-C", str(checkout), "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    try:
        listed = children.run([*argv, "--", *TEMPLATE_PARTS], text=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if listed.returncode != 0:
        return None
    return sorted({os.fsdecode(entry) for entry in bytes(listed.stdout).split(b"\0") if entry})


def record_provenance(project: Path, template: Template) -> None:
    """A project rendered from the bundled copy records the canonical source and the version tag,
    never this machine's site-packages path (which no other machine could update from); one
    rendered from a checkout's plain tree records the checkout and its `git describe`."""
    if template.checkout:
        write_provenance(project, template.described(), template.src)
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


# What a YAML 1.2 reader (Renovate's, for one) takes for a number, a boolean or null when plain,
# beyond what PyYAML (YAML 1.1) already quotes: 1e12345, an all-digit-and-e short hash, 0o17.
_YAML12_NOT_A_STRING = re.compile(
    r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|0o[0-7]+|0x[0-9a-fA-F]+"
    r"|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)|null|Null|NULL|~|true|True|TRUE|false|False|FALSE"
)
_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")  # where str.splitlines or YAML break


def _yaml_string(value: str) -> str:
    """`value` as a YAML string on one line, written as Copier writes its answers file: plain where
    any YAML reader reads it back as this string, quoted where it would not (a version such as
    1.0, a short hash such as 1e12345, a URL holding ": " or " #"), so that a line-oriented reader
    (the generated template-check workflow) sees a plain URL as it is. A value YAML would fold
    over lines is written as a JSON string (JSON strings are YAML), which never is."""
    import yaml

    if _LINE_BREAKS.intersection(value) or _YAML12_NOT_A_STRING.fullmatch(value):
        return json.dumps(value)
    dumped: str = yaml.safe_dump(value, default_flow_style=True, width=2**16, allow_unicode=True)
    dumped = dumped.removesuffix("\n").removesuffix("\n...").strip()
    return dumped if len(dumped.splitlines()) == 1 else json.dumps(value)


def write_provenance(project: Path, version: str | None, source: str | None) -> None:
    """Make the answers file record `source` (None: no source) at `version` (None: none known) as
    the project's template, in place of whatever Copier recorded (a path on the machine that
    rendered it)."""
    path = project / ANSWERS_FILE
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if not line.startswith(("_src_path:", "_commit:"))]
    provenance = [f"_commit: {_yaml_string(version)}\n"] if version else []
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
