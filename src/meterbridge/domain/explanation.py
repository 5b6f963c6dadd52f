"""Explanations as data: how each number of a billing line was derived, step by step.

A line's explanation walks ``usage -> unit -> aggregation -> rounding -> included -> blocks ->
tier -> price -> unit price / unit cost (or data mode) -> bill mode -> description``; each step
names itself, says what it did in words, and carries the value it produced, ready for the
console, the CLI and email. A step's name says what the step is, never only a setting's name:
the unit price and the unit cost an average line sends are two steps (``unit price``, ``unit
cost``), not two ``mode`` steps a reader cannot tell apart, and the configuration's data mode
and bill mode are named as such (``data mode``, ``bill mode``), not confused with the
aggregation of the usage (a product's basis: last, max, average, sum).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True, slots=True)  # a plan holds several per line: no dict each
class Step:
    name: str  # usage, unit, aggregation, rounding, included, blocks, range, tier, price, unit price,
    # unit cost, data mode, bill mode, description, correction
    detail: str
    value: Decimal | None = None
    warning: bool = False


@dataclass(frozen=True)
class Explanation:
    steps: tuple[Step, ...] = field(default_factory=tuple)

    def then(self, *steps: Step) -> Explanation:
        return Explanation(self.steps + steps)

    @property
    def warnings(self) -> tuple[Step, ...]:
        return tuple(step for step in self.steps if step.warning)

    def lines(self) -> list[str]:
        return [f"{'!' if s.warning else '-'} {s.name}: {s.detail}" for s in self.steps]
