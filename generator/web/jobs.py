"""The work the server does off its event loop, in worker processes (renders.py runs them: both
cores, and no Copier run shares a process-wide stdout or warnings filter with another).

Each job calls the same entries as `gostarter new`: render.render to render
(which validates every answer through Copier), render.examine to validate.
Every job renders into a temporary directory under the server's own, removed
whatever happens; the server removes its directory on shutdown as well.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator import render
from generator.errors import InvalidAnswerError
from generator.project import read_answers
from generator.template import Template, write_provenance
from generator.web import archive
from generator.web.fields import blame
from generator.web.prepare import Prepared

PREVIEW_BYTES = 256 * 1024  # a file larger than this is listed without its content


@dataclass(frozen=True)
class Job:
    """What every job needs: the prepared template and the preset's defaults (all picklable)."""

    prepared: Prepared
    preset: Mapping[str, Any]
    preset_source: str = ""


def warm_up() -> int:
    """A no-op that makes a worker import what it renders with; returns its process id."""
    return os.getpid()


@contextmanager
def rendered(job: Job, data: Mapping[str, Any]) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="job-") as tmp:
        answers = render.Answers(data=dict(data), preset=dict(job.preset), preset_source=job.preset_source)
        project = render.render(Template(str(job.prepared.tree)), Path(tmp) / "project", answers=answers)
        write_provenance(project, job.prepared.version, job.prepared.source)
        yield project


def build(job: Job, data: Mapping[str, Any], kind: str) -> tuple[str, bytes]:
    """Render `data` and pack it: (app_name, the archive's bytes)."""
    with rendered(job, data) as project:
        app = str(read_answers(project)["app_name"])
        return app, archive.pack(project, app, kind)


def files_of(job: Job, data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every file `data` renders: path, mode, size and its text (None for binary or large files)."""
    files = []
    with rendered(job, data) as project:
        for path in sorted(p for p in project.rglob("*") if p.is_file()):
            raw = path.read_bytes()
            try:
                text: str | None = raw.decode("utf-8") if len(raw) <= PREVIEW_BYTES else None
            except UnicodeDecodeError:
                text = None
            mode = "0755" if path.stat().st_mode & 0o100 else "0644"
            files.append(
                {"path": path.relative_to(project).as_posix(), "mode": mode, "size": len(raw), "text": text}
            )
    return files


def validate(job: Job, data: Mapping[str, Any]) -> dict[str, Any]:
    """Judge `data` through Copier's validators: every refused answer with its own message, and every
    other question's answer (defaults computed from the accepted answers) and visibility."""
    errors: dict[str, str] = {}
    remaining = dict(data)
    held: dict[str, Any] = {}  # accepted answers that make a refused answer's default refused too
    template = Template(str(job.prepared.tree))
    while True:
        try:
            examined = render.examine(template, {**job.preset, **remaining})
        except InvalidAnswerError as err:
            key, message = blame(err)
            if key is not None and key in remaining:
                errors[key] = message  # judge the others without it
                del remaining[key]
                continue
            culprit = _culprit(template, job, remaining, key) if key in errors else None
            if culprit is None:
                raise
            held[culprit] = remaining.pop(culprit)
            continue
        answers = dict(examined.answers)
        for key, value in held.items():
            answers[key] = _like(answers.get(key), value)
        return {"valid": not errors, "errors": errors, "answers": answers, "hidden": sorted(examined.hidden)}


def _culprit(template: Template, job: Job, remaining: Mapping[str, Any], key: str | None) -> str | None:
    """The accepted answer without which the default of the refused `key` is no longer refused
    (with_backstage=true refuses an empty owner): the others are judged without it, and it is
    reported as given. None when no single answer is the cause."""
    for name in reversed(list(remaining)):
        others = {other: value for other, value in remaining.items() if other != name}
        try:
            render.examine(template, {**job.preset, **others})
        except InvalidAnswerError as err:
            if blame(err)[0] == key:
                continue
        return name
    return None


def _like(example: Any, value: Any) -> Any:
    """`value` (a request's text) as the type of the question's computed answer `example`."""
    if isinstance(example, bool) and isinstance(value, str):
        return value.strip().lower() in {"y", "yes", "t", "true", "on", "1"}
    if isinstance(example, int) and isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value
