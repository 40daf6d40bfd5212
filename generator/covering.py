"""`gostarter test-template`: a fork's template rendered over a covering set of answers, each set
linted and verified, one row each.

The answer sets come from the template's own copier.yml, through Copier (`render.examine`):
every choice of every choice question at least once, every boolean both ways, and for free
text and numbers a bounded, derandomised sample (the same on every machine: a generator seeded
by the question's name) of values near the default that the question's validator accepts.
Set 0 is all defaults; set i takes each question's i-th value (cycling), so the number of sets
is the longest list of values, not their product. A set Copier refuses as a whole (two answers
that do not go together) moves the named question on to its next value, a few times, before
it becomes a `refused` row.
"""

from __future__ import annotations

import os
import random
import shutil
import string
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from generator import children, sources
from generator.errors import GostarterError, InvalidAnswerError

# Pieces appended to a default to probe a free-text validator (what the repository's property
# test draws from, in small): letters, digits, separators, quotes, Jinja, unicode.
_PIECES = ["-x", "2", "_a", ".b", " c", "'", "{{", "é", "🚀", "#"]
CANDIDATES = 8  # tried per free-text question, at most
RETRIES = 3


class Outcome(Enum):
    PASSES = "passes"
    FAILS_LINT = "fails lint"
    FAILS_VERIFICATION = "fails verification"
    REFUSED = "refused"


@dataclass
class Row:
    index: int
    answers: dict[str, Any]
    outcome: Outcome = Outcome.PASSES
    reason: str = ""
    verification: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "set": self.index,
            "outcome": self.outcome.value,
            "reason": self.reason,
            "answers": {key: value for key, value in self.answers.items()},
            "verification": dict(self.verification),
            "seconds": round(self.seconds, 3),
        }


def _candidates(key: str, question: Mapping[str, Any], default: Any) -> list[Any]:
    """Values to try for a free-text or number question, derandomised by its name: plain
    variations of the default first, then ones with quotes, Jinja and unicode."""
    chance = random.Random(key)  # a reproducible sample, not a secret
    if question.get("type") == "int" and isinstance(default, int):
        return [chance.randint(1, 65535), 1, 65535, default + 1]
    word = "".join(chance.choices(string.ascii_lowercase, k=5))
    base = str(default) if default not in (None, "") else word
    found = [f"{base}-{word[:3]}", word, f"{base}{chance.randint(0, 9)}", f"{base}.{chance.randint(0, 9)}"]
    found += [base + "".join(chance.sample(_PIECES, 2)) for _ in range(CANDIDATES - len(found))]
    return list(dict.fromkeys(found))


def values(template: Any, *, samples: int) -> dict[str, list[Any]]:
    """Each asked question's values to cover, its default first."""
    from generator import render

    examined = render.examine(template, {})
    covered: dict[str, list[Any]] = {}
    for key, question in examined.questions.items():
        if key in examined.hidden or key not in examined.answers:
            continue
        default = examined.answers[key]
        kind = question.get("type", "str")
        choices = question.get("choices")
        if choices:
            listed = list(choices.values()) if isinstance(choices, dict) else list(choices)
            listed = [c[1] if isinstance(c, list | tuple) and len(c) == 2 else c for c in listed]
            covered[key] = [default, *[c for c in listed if c != default]]
        elif kind == "bool":
            covered[key] = [bool(default), not bool(default)]
        elif kind in {"str", "int"} and samples > 0:
            accepted = []
            for value in _candidates(key, question, default):
                if value == default or value in accepted:
                    continue
                try:
                    render.check_answers(template, {key: value})
                except InvalidAnswerError:
                    continue
                accepted.append(value)
                if len(accepted) >= samples:
                    break
            covered[key] = [default, *accepted]
    return covered


def answer_sets(covered: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    """Set 0 all defaults, set i each question's i-th value (cycling): every value at least once."""
    count = max((len(v) for v in covered.values()), default=1)
    return [{key: listed[i % len(listed)] for key, listed in covered.items()} for i in range(count)]


def _settled(template: Any, answers: dict[str, Any], covered: Mapping[str, list[Any]]) -> dict[str, Any]:
    """`answers` as Copier accepts them together: an answer refused beside the others (an owner
    that with_backstage=true requires) takes the first of its other values, then of its
    candidates, that goes with them; a few questions at most."""
    from generator import render

    for _ in range(RETRIES):
        try:
            render.check_answers(template, answers)
            return answers
        except InvalidAnswerError as err:
            key = err.key
            if not key:
                raise
            current = answers.get(key, "")  # a question left to its default (not sampled)
            kind = {"type": "int" if isinstance(current, int) and not isinstance(current, bool) else "str"}
            others = [v for v in covered.get(key, []) if v != current] + _candidates(key, kind, current)
            for other in others:
                try:
                    render.check_answers(template, {**answers, key: other})
                except InvalidAnswerError:
                    continue
                answers = {**answers, key: other}
                break
            else:
                raise
    render.check_answers(template, answers)
    return answers


def _lint(project: Path) -> str:
    """gofmt and go vet on the rendered project, as `make lint` runs them: "" when clean."""
    from generator.verify import native

    go = native.find_go()
    if go is None:
        return ""
    env = {**os.environ, "GOTOOLCHAIN": os.environ.get("GOTOOLCHAIN", "local"), "GOFLAGS": "-mod=mod"}
    root = children.run([go, "env", "GOROOT"], env=env).stdout.strip()
    gofmt = Path(root) / "bin" / "gofmt"
    unformatted = children.run([str(gofmt), "-l", "."], cwd=project, env=env)
    if unformatted.returncode != 0 or unformatted.stdout.strip():
        return f"gofmt: {(unformatted.stdout + unformatted.stderr).strip().splitlines()[0]} is not formatted"
    vet = children.run([go, "vet", "./..."], cwd=project, env=env)
    if vet.returncode != 0:
        lines = [line for line in vet.stderr.strip().splitlines() if not line.startswith("#")]
        return f"go vet: {(lines or ['failed'])[0]}"
    return ""


def run_set(
    template: Any, index: int, answers: dict[str, Any], covered: Mapping[str, list[Any]], mode: str
) -> Row:
    """Render one answer set in a scratch directory, lint it, verify it: one row, whatever happens."""
    from generator import render, verify
    from generator.console import Progress
    from generator.rehearse import verification_figures

    started = time.monotonic()
    row = Row(index, dict(answers))
    work = Path(tempfile.mkdtemp(prefix="gostarter-test-template-"))
    try:
        row.answers = _settled(template, dict(answers), covered)
        project = render.render(
            template,
            work / "project",
            answers=render.Answers(data=row.answers),
            interactive=False,
            quiet=True,
        )
        problem = _lint(project)
        if problem:
            row.outcome, row.reason = Outcome.FAILS_LINT, problem
            return row
        result = verify.verify(project, mode=mode, progress=Progress(quiet=True), remove_image=True)
        row.verification = verification_figures(result)
        if result.failed:
            row.outcome, row.reason = Outcome.FAILS_VERIFICATION, result.reason
    except GostarterError as err:
        row.outcome, row.reason = Outcome.REFUSED, sources.redact(err.message)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        row.seconds = time.monotonic() - started
    return row


def run_all(template: Any, sets: Sequence[dict[str, Any]], covered: Mapping[str, list[Any]], *, mode: str,
            jobs: int) -> Iterator[Row]:  # fmt: skip
    """Every set's row as it is done, at most `jobs` at once in worker processes."""
    count = min(jobs, len(sets))
    if count < 2:
        for i, answers in enumerate(sets):
            yield run_set(template, i, answers, covered, mode)
        return
    with tempfile.TemporaryDirectory(prefix="gostarter-test-template-") as tmp:
        pool = children.workers(count, Path(tmp))
        try:
            futures = [
                pool.submit(run_set, template, i, answers, covered, mode) for i, answers in enumerate(sets)
            ]
            for future in as_completed(futures):
                yield future.result()
        except BaseException:
            children.stop(pool)
            raise
        pool.shutdown(wait=True)
