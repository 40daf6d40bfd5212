"""The template the server renders, prepared once at start-up.

A plain tree of one version (as `gostarter check` renders from), so that no
request clones anything: the shipped checkout's template as it is (working
tree included, as `gostarter new` renders it), a git template at its newest
release tag (what Copier would pick), any other directory as it is. Beside
the tree: the version, and the source a downloaded project records so that
`gostarter check`, `gostarter update` and Renovate can update it.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from generator import lifecycle
from generator.errors import UsageError
from generator.template import NOT_TEMPLATE, Template, canonical_source, is_url, plain_tree, shipped_template


@dataclass(frozen=True)
class Prepared:
    """A template ready to render: where its tree is, its version, and its canonical source."""

    tree: Path
    version: str
    # The template's git URL that downloads record; None when the server knows none
    # (then downloads cannot be updated, and the page says so).
    source: str | None
    # What the page calls the template: its source's last path element (gostarter for the shipped one).
    name: str = "gostarter"


def prepare(template: Template, work: Path, template_url: str | None = None) -> Prepared:
    """Make `work`/tree a plain tree of the version to serve, and say what downloads record."""
    tree = work / "tree"
    local = Path(template.src)
    if template.checkout:  # as `gostarter new` renders it
        plain_tree(local, tree)
        version = template.version()
    elif not is_url(template.src) and not (local / ".git").exists():
        shutil.copytree(local, tree, ignore=shutil.ignore_patterns(*NOT_TEMPLATE))
        version = template.version()
    else:
        try:
            version = lifecycle.newest_version(template.src)
        except UsageError:  # no release tag yet: the newest commit, as Copier takes it
            version = "HEAD"
        # One clone and one `git archive`, exactly as `gostarter check` gets a version's tree.
        shutil.move(lifecycle.Sources(work).tree(template.src, version), tree)
        if version == "HEAD":
            version = Template(template.src, "HEAD").version()
    # As `serve --help` says: --template-url, else $GOSTARTER_TEMPLATE_URL (for any template, a
    # fork served from a path included), else the package's URL for its own template.
    source = (
        template_url
        or os.environ.get("GOSTARTER_TEMPLATE_URL")
        or (template.canonical or canonical_source() if shipped_template(template.src) else None)
    )
    if source is None and is_url(template.src):
        source = template.src  # a git URL is its own canonical source
    return Prepared(tree=tree, version=version, source=source, name=_name(template, source))


def _name(template: Template, source: str | None) -> str:
    """The last element of the template's source (a URL or a directory), without `.git`."""
    if template.checkout:
        return "gostarter"
    where = (source or template.src).rstrip("/").removesuffix(".git")
    return where.replace("\\", "/").rsplit("/", 1)[-1].rsplit(":", 1)[-1] or "gostarter"
