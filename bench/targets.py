"""The targets a benchmark's figures are judged by: each figure's name, what it is, how it compares
and its limit; judged from the figure alone (what `python -m bench --check` exits 1 on) and shown
as the table README quotes."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {"<=": operator.le, "<": operator.lt, ">=": operator.ge}


@dataclass(frozen=True)
class Target:
    label: str
    op: str  # "<=", "<" or ">="
    limit: float

    def met(self, value: float) -> bool:
        return bool(_COMPARE[self.op](value, self.limit))


class Targets:
    """A benchmark's targets: {figure name: (what it is, operator, limit)}. Its table writes whole
    numbers in groups of thousands ("2,500,000", the main run's table) or not (the web ones)."""

    def __init__(self, targets: Mapping[str, tuple[str, str, float]], *, thousands: bool) -> None:
        self._targets = {name: Target(*target) for name, target in targets.items()}
        self._thousands = thousands

    def met(self, figures: object) -> dict[str, bool]:
        """Whether each target is met by the figure of its name on `figures`."""
        return {name: target.met(getattr(figures, name)) for name, target in self._targets.items()}

    def table(self, figures: object) -> list[str]:
        """`| target | figure | limit | met |`, a row for each target."""
        lines = ["| target | figure | limit | met |", "|---|---|---|---|"]
        for name, met in self.met(figures).items():
            target, value = self._targets[name], getattr(figures, name)
            if isinstance(value, int):
                shown = f"{value:,}" if self._thousands else f"{value}"
            else:
                shown = f"{value:.3f}"
            limit = f"{target.limit:,}" if self._thousands else f"{target.limit:g}"
            lines.append(f"| {target.label} | {shown} | {target.op} {limit} | {'yes' if met else 'NO'} |")
        return lines


class Judged(Protocol):
    """A benchmark's figures as `python -m bench` writes and judges them."""

    def as_dict(self) -> dict[str, Any]: ...

    def targets_met(self) -> dict[str, bool]: ...
