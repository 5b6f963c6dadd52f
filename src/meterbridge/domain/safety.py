"""The safety verdict: what a plan may write now, and what waits for a person to approve it by checksum.

Thresholds are judged at two levels (each can be turned off with None):

* per line, so per company: a line over one of these holds its company (the company's writes
  wait; the other companies go ahead), with a reason naming the line, its numbers and the
  threshold (``Safety.held``):
  * ``max_quantity_drop``: a line's quantity falls by more than this fraction (an update, or an
    addition ended: a fall to nothing, unless another addition takes the line over);
  * ``max_jump_factor`` and ``max_jump_amount``: a line's quantity moves by more than this factor
    (up or down), or its amount by more than this amount, over the latest month pushed for it
    (``Change.last``): a per-period line's new addition is compared with the month before too;
  * ``drift_policy`` hold: an addition edited in ConnectWise since meterbridge wrote it;
* over the whole plan, a ceiling: when one of these trips, the whole plan is held, as before a
  company was ever held on its own:
  * ``max_changed_fraction``: updates and cancels over the lines that already existed (new lines
    are expected: a per-period strategy creates them every month);
  * ``max_total_change``: the relative change of the total amount of the lines that existed.

Amounts are compared on one basis: what the invoice charges (``plan.billed``, the invoice model);
a quantity-only line is valued at the price ConnectWise already applies to it. A plan with no
write is never held.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from meterbridge.domain.billing import LineKey
from meterbridge.domain.money import format_money
from meterbridge.domain.plan import Change, ChangeKind, Plan
from meterbridge.domain.plan.corrections import corrected_period
from meterbridge.domain.policies import DriftPolicy

#: held companies named one by one in the plan's reasons; the rest are counted
NAMED = 20


class Verdict(StrEnum):
    APPLY = "apply"  # nothing held
    HOLD = "hold"  # the whole plan: a run-wide threshold (the ceiling)
    HOLD_SOME = "hold_some"  # some companies: the rest go ahead


@dataclass(frozen=True)
class Thresholds:
    max_changed_fraction: Decimal | None = Decimal("0.20")
    max_quantity_drop: Decimal | None = Decimal("0.30")
    max_total_change: Decimal | None = Decimal("0.25")
    drift_policy: DriftPolicy = DriftPolicy.HOLD
    currency: str = "$"
    max_jump_factor: Decimal | None = Decimal(5)
    max_jump_amount: Decimal | None = Decimal(500)


@dataclass(frozen=True)
class Safety:
    verdict: Verdict
    #: why: the run-wide reasons first, then each held company's ("C007: storage 1,200 GB -> ...")
    reasons: tuple[str, ...]
    changed_fraction: Decimal
    largest_drop: Decimal
    total_change: Decimal
    #: customer -> why its writes wait for approval, each reason naming a line and a threshold
    held: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: the run-wide reasons alone: when there are any, the whole plan is held
    ceiling: tuple[str, ...] = ()


def _percent(value: Decimal) -> str:
    return f"{(value * 100).quantize(Decimal('0.1'))} %"


def _limit(fraction: Decimal) -> str:
    """A threshold as a person set it: 0.30 -> "30 %"."""
    return f"{format((fraction * 100).normalize(), 'f')} %"


def _number(value: Decimal) -> str:
    """1200.00 -> "1,200"; 385.25 -> "385.25"."""
    if value == value.to_integral_value():
        return f"{int(value):,}"
    return f"{value.normalize():,f}"


def _times(value: Decimal) -> str:
    return f"{_number(value.quantize(Decimal('0.1')))}x"


def judge(plan: Plan, thresholds: Thresholds = Thresholds()) -> Safety:
    tally = SafetyTally(thresholds)
    tally.add(plan)
    return tally.judge()


@dataclass
class SafetyTally:
    """What the verdict weighs, summed over the parts of a plan made a chunk of companies at a
    time (a company's lines, and a line and the line it hands over to, belong to one part): the
    verdict of the parts together is the verdict of the whole plan. A company is judged with its
    part (``add`` returns the companies it holds)."""

    thresholds: Thresholds = field(default_factory=Thresholds)
    writes: int = 0
    existing: int = 0
    changed: int = 0
    largest_drop: Decimal = Decimal(0)
    old_total: Decimal = Decimal(0)
    new_total: Decimal = Decimal(0)
    held: dict[str, list[str]] = field(default_factory=dict)  # customer -> why its writes wait

    def add(self, plan: Plan) -> dict[str, list[str]]:
        """Sum a part of the plan; returns the companies of the part held, with their reasons."""
        writes = plan.writes
        self.writes += len(writes)
        existing = [c for c in plan.changes if c.addition_id is not None and c.kind is not ChangeKind.BLOCKED]
        self.existing += len(existing)
        self.changed += sum(1 for c in existing if c.kind in (ChangeKind.UPDATE, ChangeKind.CANCEL))
        creates = {c.key: c for c in plan.of_kind(ChangeKind.CREATE)}
        # a running addition ended for the per-period line that bills on (a switch of strategy) is
        # one line moving to a new addition: compared with its successor, not counted as a drop to 0
        handed_over = {c.key: creates[c.successor] for c in plan.of_kind(ChangeKind.CANCEL) if c.successor in creates}
        successors = {successor.key for successor in handed_over.values()}
        held: dict[str, list[str]] = {}
        for change in writes:
            if change.key in successors:  # its fall is weighed on the cancel it takes over from
                drop, reason = Decimal(0), None
            else:
                drop, reason = _drop(change, handed_over.get(change.key), str(plan.period), self.thresholds)
            self.largest_drop = max(self.largest_drop, drop)
            reasons = [reason] if reason else []
            reasons += _jump(change, str(plan.period), self.thresholds, fell=reason is not None)
            if change.drift and change.kind is ChangeKind.UPDATE and self.thresholds.drift_policy is DriftPolicy.HOLD:
                reasons.append(
                    f"{_name(change)}: addition {change.addition_id} was edited in ConnectWise since meterbridge wrote "
                    "it (drift policy hold)"
                )
            if reasons:
                held.setdefault(change.customer, []).extend(reasons)
        self.old_total += sum((c.old_amount for c in existing), Decimal(0))
        self.new_total += sum((c.new_amount for c in existing), Decimal(0))
        self.new_total += sum((successor.new_amount for successor in handed_over.values()), Decimal(0))
        self.held.update(held)
        return held

    def judge(self) -> Safety:
        if not self.writes:
            return Safety(Verdict.APPLY, (), Decimal(0), Decimal(0), Decimal(0))
        thresholds = self.thresholds
        changed_fraction = Decimal(self.changed) / Decimal(self.existing) if self.existing else Decimal(0)
        old_total, new_total = self.old_total, self.new_total
        total_change = abs(new_total - old_total) / old_total if old_total else Decimal(0)
        ceiling = []
        if thresholds.max_changed_fraction is not None and changed_fraction > thresholds.max_changed_fraction:
            ceiling.append(
                f"{self.changed} of {self.existing} existing lines change ({_percent(changed_fraction)}, "
                f"more than {_percent(thresholds.max_changed_fraction)})"
            )
        if thresholds.max_total_change is not None and total_change > thresholds.max_total_change:
            ceiling.append(
                f"the total of existing lines changes by {_percent(total_change)}, from "
                f"{format_money(old_total, thresholds.currency)} to {format_money(new_total, thresholds.currency)} "
                f"(more than {_percent(thresholds.max_total_change)})"
            )
        named = [f"{customer}: {reason}" for customer, reasons in list(self.held.items())[:NAMED] for reason in reasons]
        if len(self.held) > NAMED:
            named.append(f"and {len(self.held) - NAMED:,} more companies held")
        verdict = Verdict.HOLD if ceiling else Verdict.HOLD_SOME if self.held else Verdict.APPLY
        return Safety(
            verdict,
            (*ceiling, *named),
            changed_fraction,
            self.largest_drop,
            total_change,
            held={customer: tuple(reasons) for customer, reasons in self.held.items()},
            ceiling=tuple(ceiling),
        )


def _name(change: Change) -> str:
    """What the reasons call a line: its products (``Target.label``), else its configuration and product."""
    if change.label:
        return change.label
    parsed = LineKey.parse(change.key)
    return f"{parsed.configuration} {parsed.cw_product}"


def _quantity(value: Decimal, change: Change) -> str:
    return f"{_number(value)} {change.unit}" if change.unit else _number(value)


def _drop(change: Change, successor: Change | None, period: str, thresholds: Thresholds) -> tuple[Decimal, str | None]:
    """How far the write makes the line's quantity fall (0 to 1), and the reason when that is over
    ``max_quantity_drop``: an update against the addition's quantity, an addition ended (to nothing,
    or to the addition that takes its line over), a new addition of a per-period line against the
    latest month pushed for the line."""
    drop, old, new = Decimal(0), Decimal(0), Decimal(0)
    then = later = ""  # the months, when the two quantities are two months'
    nothing = False  # the line bills nothing from this period on
    last = change.last
    fresh = change.kind is ChangeKind.CREATE and corrected_period(LineKey.split(change.key)[1]) is None
    if fresh and last is not None and last.period != period and last.quantity > 0:
        old, new = last.quantity, Decimal(change.values["quantity"])
        drop = max(drop, (old - new) / old)
        then, later = f" in {last.period}", f" in {period}"
    for field_change in change.fields:
        if field_change.field == "quantity" and field_change.old and field_change.old > 0:
            old, new = field_change.old, field_change.new
            drop = max(drop, (old - new) / old)
    if change.kind is ChangeKind.CANCEL and change.addition_id is not None:
        old = change.old_quantity if change.old_quantity is not None else last.quantity if last else Decimal(0)
        if successor is None and (old > 0 or change.old_quantity is None):  # an addition at 0 falls no further
            drop, new = Decimal(1), Decimal(0)
            ended = change.fields[0].new if change.fields else ""
            later = f" (addition {change.addition_id} ends {ended})"
            nothing = True
        elif successor is not None and old > 0:
            new = Decimal(successor.values["quantity"])
            drop = max(drop, (old - new) / old)
    limit = thresholds.max_quantity_drop
    if limit is None or drop <= limit:
        return drop, None
    to = f"nothing from {period}" if nothing else _quantity(new, change)
    return drop, (
        f"{_name(change)} {_quantity(old, change)}{then} -> {to}{later}, a {_percent(drop)} drop over "
        f"max_quantity_drop {_limit(limit)}"
    )


def _after(change: Change, name: str, last: Decimal | None) -> Decimal | None:
    """A field of the line's addition once the write is applied (``last``: what it was)."""
    if change.kind is ChangeKind.CREATE:
        value = change.values.get(name)
        return None if value is None else Decimal(value)
    for field_change in change.fields:
        if field_change.field == name:
            return None if field_change.new is None else Decimal(field_change.new)
    return last


def _jump(change: Change, period: str, thresholds: Thresholds, *, fell: bool = False) -> list[str]:
    """The reason, when the write moves the line's quantity by more than ``max_jump_factor`` (at the
    same unit price) or its amount by more than ``max_jump_amount`` over the latest month pushed for
    it; both months shown (``fell``: the drop threshold named the line's fall already: its factor is
    not said twice)."""
    last = change.last
    if last is None or change.kind not in (ChangeKind.CREATE, ChangeKind.UPDATE):
        return []
    if corrected_period(LineKey.split(change.key)[1]) is not None:
        return []  # a correction bills another month's difference: not a month of its own
    now = _after(change, "quantity", last.quantity)
    if now is None:
        return []
    over = []
    factor_limit, amount_limit = thresholds.max_jump_factor, thresholds.max_jump_amount
    # quantities at another unit price are counted in other units (blocks of 10 GB become GB): only
    # their amounts compare
    alike = _after(change, "unitPrice", last.unit_price) == last.unit_price
    if factor_limit is not None and alike and last.quantity > 0 and now > 0:
        up = now >= last.quantity
        factor = now / last.quantity if up else last.quantity / now
        if factor > factor_limit and (up or not fell):
            over.append(f"{_times(factor)} {'up' if up else 'down'} over max_jump_factor {_number(factor_limit)}")
    moved = change.new_amount - last.amount
    if amount_limit is not None and abs(moved) > amount_limit:
        sign = "+" if moved > 0 else ""
        over.append(
            f"{sign}{format_money(moved, thresholds.currency)} over max_jump_amount "
            f"{format_money(amount_limit, thresholds.currency)}"
        )
    if not over:
        return []
    money = thresholds.currency
    then, later = (f"as pushed for {period}", "now") if last.period == period else (f"in {last.period}", f"in {period}")
    return [
        f"{_name(change)} {_quantity(last.quantity, change)} ({format_money(last.amount, money)}) {then} -> "
        f"{_quantity(now, change)} ({format_money(change.new_amount, money)}) {later}: {' and '.join(over)}"
    ]
