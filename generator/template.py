"""The template: where it is, which version it is, and what a project records as its source.

No Copier import here: the web initializr, `--version` and the lifecycle need
to know the template without loading the rendering engine (render.py renders).
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from generator import __version__
from generator.errors import UsageError
from generator.project import ANSWERS_FILE

PACKAGE_DIR = Path(__file__).resolve().parent


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

    @classmethod
    def resolve(cls, src: str | None = None) -> Template:
        """The template to use: `src` when given, else the one shipped with gostarter.

        The shipped template is the source checkout (rendered at HEAD, working
        tree included, so `copier update` can later find the commit) or, in
        an installed wheel, the copy bundled inside the package.
        """
        if src:
            remote = "://" in src or src.startswith(("gh:", "gl:", "git@", "git+"))
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
            described = subprocess.run(argv, capture_output=True, text=True, check=False)
            if described.returncode == 0 and described.stdout.strip():
                return described.stdout.strip()
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


def record_provenance(project: Path, template: Template) -> None:
    """A project rendered from the bundled copy records the canonical source and the version tag,
    never this machine's site-packages path (which no other machine could update from)."""
    if not template.bundled:
        return
    write_provenance(project, __version__, template.canonical)
    if not template.canonical:
        print(
            "gostarter: note: this gostarter knows no URL for its template, so the project records none; "
            "`gostarter update` will need one: set GOSTARTER_TEMPLATE_URL, or the preset's `template`",
            file=sys.stderr,
        )


def write_provenance(project: Path, version: str, source: str | None) -> None:
    """Make the answers file record `source` (None: no source) at `version` as the project's template,
    in place of whatever Copier recorded (a path on the machine that rendered it)."""
    path = project / ANSWERS_FILE
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if not line.startswith(("_src_path:", "_commit:"))]
    provenance = [f"_commit: {version}\n"]
    if source:
        provenance.append(f"_src_path: {source}\n")
    first_answer = next((i for i, line in enumerate(kept) if not line.startswith("#")), len(kept))
    path.write_text("".join(kept[:first_answer] + provenance + kept[first_answer:]), encoding="utf-8")


def shipped_template(src: str) -> bool:
    """Whether `src` is the template that ships with this gostarter (its checkout or its wheel)."""
    try:
        return Path(src).expanduser().resolve() == Path(Template.resolve().src).resolve()
    except OSError:
        return False
