"""The safety verdict: apply a plan now, or hold it for a person to approve by its checksum.

Thresholds (each can be turned off with None):
* ``max_changed_fraction``: updates and cancels over the lines that already existed (new lines
  are expected: a per-period strategy creates them every month);
* ``max_quantity_drop``: the largest relative fall of one line's quantity;
* ``max_total_change``: the relative change of the total amount of the lines that existed;
* ``hold_on_drift``: any addition edited in ConnectWise since meterbridge wrote it.

Amounts are compared on one basis: what the invoice charges (``plan.billed``); a quantity-only
line is valued at the price ConnectWise already applies to it. A plan with no write is never held.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from meterbridge.domain.money import format_money
from meterbridge.domain.plan import ChangeKind, Plan
from meterbridge.domain.policies import DriftPolicy


class Verdict(StrEnum):
    APPLY = "apply"
    HOLD = "hold"


@dataclass(frozen=True)
class Thresholds:
    max_changed_fraction: Decimal | None = Decimal("0.20")
    max_quantity_drop: Decimal | None = Decimal("0.30")
    max_total_change: Decimal | None = Decimal("0.25")
    drift_policy: DriftPolicy = DriftPolicy.HOLD
    currency: str = "$"


@dataclass(frozen=True)
class Safety:
    verdict: Verdict
    reasons: tuple[str, ...]
    changed_fraction: Decimal
    largest_drop: Decimal
    total_change: Decimal


def _percent(value: Decimal) -> str:
    return f"{(value * 100).quantize(Decimal('0.1'))} %"


def judge(plan: Plan, thresholds: Thresholds = Thresholds()) -> Safety:
    tally = SafetyTally()
    tally.add(plan)
    return tally.judge(thresholds)


@dataclass
class SafetyTally:
    """What the verdict weighs, summed over the parts of a plan made a chunk of companies at a
    time (a line and the line it hands over to belong to one company, so to one part): the
    verdict of the parts together is the verdict of the whole plan."""

    writes: int = 0
    existing: int = 0
    changed: int = 0
    largest_drop: Decimal = Decimal(0)
    old_total: Decimal = Decimal(0)
    new_total: Decimal = Decimal(0)
    drifted: int = 0
    drifted_ids: list[int] = field(default_factory=list)  # the first ten, named in the reason

    def add(self, plan: Plan) -> None:
        writes = plan.writes
        self.writes += len(writes)
        existing = [c for c in plan.changes if c.addition_id is not None and c.kind is not ChangeKind.BLOCKED]
        self.existing += len(existing)
        self.changed += sum(1 for c in existing if c.kind in (ChangeKind.UPDATE, ChangeKind.CANCEL))
        creates = {c.key: c for c in plan.of_kind(ChangeKind.CREATE)}
        # a running addition ended for the per-period line that bills on (a switch of strategy) is
        # one line moving to a new addition: compared with its successor, not counted as a drop to 0
        handed_over = {c.key: creates[c.successor] for c in plan.of_kind(ChangeKind.CANCEL) if c.successor in creates}
        for change in writes:
            for field_change in change.fields:
                old, new = field_change.old, field_change.new
                if field_change.field == "quantity" and old and old > 0 and new < old:
                    self.largest_drop = max(self.largest_drop, (old - new) / old)
            if change.kind is ChangeKind.CANCEL and change.addition_id is not None:
                successor = handed_over.get(change.key)
                if successor is None:
                    self.largest_drop = max(self.largest_drop, Decimal(1))
                elif change.old_quantity and change.old_quantity > 0:
                    drop = (change.old_quantity - Decimal(successor.values["quantity"])) / change.old_quantity
                    self.largest_drop = max(self.largest_drop, max(Decimal(0), drop))
        self.old_total += sum((c.old_amount for c in existing), Decimal(0))
        self.new_total += sum((c.new_amount for c in existing if c.kind is not ChangeKind.CANCEL), Decimal(0))
        self.new_total += sum((successor.new_amount for successor in handed_over.values()), Decimal(0))
        drifted = [c for c in plan.changes if c.drift and c.kind is ChangeKind.UPDATE]
        self.drifted += len(drifted)
        self.drifted_ids.extend(c.addition_id for c in drifted[: 10 - len(self.drifted_ids)] if c.addition_id)

    def judge(self, thresholds: Thresholds = Thresholds()) -> Safety:
        if not self.writes:
            return Safety(Verdict.APPLY, (), Decimal(0), Decimal(0), Decimal(0))
        changed_fraction = Decimal(self.changed) / Decimal(self.existing) if self.existing else Decimal(0)
        old_total, new_total = self.old_total, self.new_total
        total_change = abs(new_total - old_total) / old_total if old_total else Decimal(0)
        reasons = []
        if thresholds.max_changed_fraction is not None and changed_fraction > thresholds.max_changed_fraction:
            reasons.append(
                f"{self.changed} of {self.existing} existing lines change ({_percent(changed_fraction)}, "
                f"more than {_percent(thresholds.max_changed_fraction)})"
            )
        drop = thresholds.max_quantity_drop
        if drop is not None and self.largest_drop > drop:
            reasons.append(f"a quantity falls by {_percent(self.largest_drop)} (more than {_percent(drop)})")
        if thresholds.max_total_change is not None and total_change > thresholds.max_total_change:
            reasons.append(
                f"the total of existing lines changes by {_percent(total_change)}, from "
                f"{format_money(old_total, thresholds.currency)} to {format_money(new_total, thresholds.currency)} "
                f"(more than {_percent(thresholds.max_total_change)})"
            )
        if self.drifted and thresholds.drift_policy is DriftPolicy.HOLD:
            reasons.append(
                f"{self.drifted} addition(s) were edited in ConnectWise since meterbridge wrote them: "
                + ", ".join(str(i) for i in self.drifted_ids)
            )
        verdict = Verdict.HOLD if reasons else Verdict.APPLY
        return Safety(verdict, tuple(reasons), changed_fraction, self.largest_drop, total_change)
