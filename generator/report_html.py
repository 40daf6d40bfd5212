"""One self-contained HTML page of a fleet: a rehearsal's rows (`rehearsal_page`) or a check's
drift (`drift_page`).

The page is a single file that opens from disk: its style and script are inside it, it loads
nothing from any host, and it reads with JavaScript off (every row shown); the script adds
sorting by any column, a text filter and a status filter. Drawn from the same mapping as the
TOML report (`rehearse.document`), so both say the same.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
from packaging.version import InvalidVersion, Version

from generator import __version__, outputs
from generator.lifecycle import Drift
from generator.reporting import Outcome

_PAGES = Path(__file__).resolve().parent / "pages"


def _render(**context: Any) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_PAGES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return env.get_template("report.html.jinja").render(gostarter_version=__version__, **context)


def _order(version: str) -> tuple[int, Version, str]:
    """Versions newest first: PEP 440 ones by version, then the rest (commits) by name."""
    try:
        return (1, Version(version), version)
    except InvalidVersion:
        return (0, Version("0"), version)


def _figures(verification: Mapping[str, Any]) -> str:
    """A verification in one line: result, mode and its measurements."""
    result = verification.get("result")
    if not result:
        return "not run"
    mode = verification.get("mode", "")
    if result == Outcome.PASSED:
        size = verification.get("image_size_bytes") or verification.get("binary_size_bytes") or 0
        return (
            f"passed ({mode}): built in {verification.get('build_seconds', 0):.1f} s, "
            f"first answer {verification.get('first_response_seconds', 0):.2f} s, "
            f"{size / 1e6:.1f} MB, stopped in {verification.get('stop_seconds', 0):.2f} s"
        )
    return f"{result} ({mode}): {verification.get('reason', '')}"


def rehearsal_page(data: Mapping[str, Any], *, shards: int = 0) -> str:
    """The page of a rehearsal report (`rehearse.document`, or merged shards)."""
    from generator.rehearse import ORDER

    rank = {status.value: i for i, status in enumerate(ORDER)}
    rows = []
    for project in data["projects"]:
        rows.append(
            {
                **project,
                "name": Path(project["project"]).name,
                "rank": rank.get(project["status"], len(rank)),
                "newest": data["version"] if project["status"] != "current" else "",
                "figures": _figures(project.get("verification", {})),
                "verified": str(project.get("verification", {}).get("result", "")),
            }
        )
    counts = [(status, count) for status, count in data["counts"].items()]
    return _render(
        kind="rehearsal",
        title=f"Rehearsal of {data['template']} at {data['ref']}",
        subtitle=f"{data['rehearsed']} service(s); {data['ref']} is commit {data['commit'][:12]} "
        f"({data['version']})",
        counts=counts,
        bars=[],
        columns=["Service", "Status", "Version", "Files", "Conflicts", "Verification", "Time"],
        rows=rows,
        shards=shards,
    )


def drift_page(drifts: Sequence[Drift], unchecked: Sequence[tuple[str, str]]) -> str:
    """The page of `gostarter check`: how many services at each version, and a row each."""
    behind = sum(drift.behind for drift in drifts)
    at = Counter(drift.current for drift in drifts)
    newest = {drift.newest for drift in drifts}
    most = max(at.values(), default=1)
    versions = sorted(at, key=_order, reverse=True)
    bars = [(v, at[v], round(100 * at[v] / most), v in newest) for v in versions]
    rows = [
        {
            "project": str(drift.project),
            "name": drift.project.name,
            "status": "behind" if drift.behind else "current",
            "rank": 0 if drift.behind else 1,
            "reason": "",
            "current": drift.current,
            "newest": drift.newest if drift.behind else "",
            "changes": [{"path": c.path, "status": c.status} for c in drift.changes],
        }
        for drift in drifts
    ]
    rows += [
        {"project": project, "name": Path(project).name, "status": "unchecked", "rank": -1, "reason": error,
         "current": "", "newest": "", "changes": []}
        for project, error in unchecked
    ]  # fmt: skip
    rows.sort(key=lambda row: row["project"])
    counts = [("behind", behind), ("current", len(drifts) - behind)]
    if unchecked:
        counts.append(("unchecked", len(unchecked)))
    return _render(
        kind="check",
        title="Template drift",
        subtitle=f"{len(drifts) + len(unchecked)} service(s); newest: {', '.join(sorted(newest)) or 'none'}",
        counts=counts,
        bars=bars,
        columns=["Service", "Status", "Version", "Files"],
        rows=rows,
        shards=0,
    )


def write_page(path: Path, page: str, *, inside: Sequence[Path] = ()) -> None:
    outputs.write_file(path, page.encode("utf-8"), what="page", inside=inside)
