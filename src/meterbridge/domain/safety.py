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

from dataclasses import dataclass
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
    if not plan.writes:
        return Safety(Verdict.APPLY, (), Decimal(0), Decimal(0), Decimal(0))
    existing = [c for c in plan.changes if c.addition_id is not None and c.kind is not ChangeKind.BLOCKED]
    changed = [c for c in existing if c.kind in (ChangeKind.UPDATE, ChangeKind.CANCEL)]
    changed_fraction = Decimal(len(changed)) / Decimal(len(existing)) if existing else Decimal(0)
    creates = {c.key: c for c in plan.of_kind(ChangeKind.CREATE)}
    # a running addition ended for the per-period line that bills on (a switch of strategy) is
    # one line moving to a new addition: compared with its successor, not counted as a drop to 0
    handed_over = {c.key: creates[c.successor] for c in plan.of_kind(ChangeKind.CANCEL) if c.successor in creates}
    largest_drop = Decimal(0)
    for change in plan.writes:
        for field in change.fields:
            if field.field == "quantity" and field.old and field.old > 0 and field.new < field.old:
                largest_drop = max(largest_drop, (field.old - field.new) / field.old)
        if change.kind is ChangeKind.CANCEL and change.addition_id is not None:
            successor = handed_over.get(change.key)
            if successor is None:
                largest_drop = max(largest_drop, Decimal(1))
            elif change.old_quantity and change.old_quantity > 0:
                new = Decimal(successor.values["quantity"])
                largest_drop = max(largest_drop, max(Decimal(0), (change.old_quantity - new) / change.old_quantity))
    old_total = sum((c.old_amount for c in existing), Decimal(0))
    new_total = sum((c.new_amount for c in existing if c.kind is not ChangeKind.CANCEL), Decimal(0))
    new_total += sum((successor.new_amount for successor in handed_over.values()), Decimal(0))
    total_change = abs(new_total - old_total) / old_total if old_total else Decimal(0)

    reasons = []
    if thresholds.max_changed_fraction is not None and changed_fraction > thresholds.max_changed_fraction:
        reasons.append(
            f"{len(changed)} of {len(existing)} existing lines change ({_percent(changed_fraction)}, "
            f"more than {_percent(thresholds.max_changed_fraction)})"
        )
    if thresholds.max_quantity_drop is not None and largest_drop > thresholds.max_quantity_drop:
        reasons.append(
            f"a quantity falls by {_percent(largest_drop)} (more than {_percent(thresholds.max_quantity_drop)})"
        )
    if thresholds.max_total_change is not None and total_change > thresholds.max_total_change:
        reasons.append(
            f"the total of existing lines changes by {_percent(total_change)}, from "
            f"{format_money(old_total, thresholds.currency)} to {format_money(new_total, thresholds.currency)} "
            f"(more than {_percent(thresholds.max_total_change)})"
        )
    drifted = [c for c in plan.changes if c.drift and c.kind is ChangeKind.UPDATE]
    if drifted and thresholds.drift_policy is DriftPolicy.HOLD:
        reasons.append(
            f"{len(drifted)} addition(s) were edited in ConnectWise since meterbridge wrote them: "
            + ", ".join(str(c.addition_id) for c in drifted[:10])
        )
    verdict = Verdict.HOLD if reasons else Verdict.APPLY
    return Safety(verdict, tuple(reasons), changed_fraction, largest_drop, total_change)
