"""One line's changes: create, update, cancel, noop or blocked, against the addition it goes on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from meterbridge.domain.billing import DesiredLine, LineKey, ZeroPolicy
from meterbridge.domain.copies import evolve
from meterbridge.domain.periods import Period
from meterbridge.domain.plan.changes import ActualAddition, Change, ChangeKind, FieldChange, Target, billed
from meterbridge.domain.plan.dates import DatePolicies, decide_dates
from meterbridge.domain.plan.strategy import settle
from meterbridge.domain.policies import DriftPolicy


def _values(line: DesiredLine, agreement_id: int, effective: date, cancelled: date | None) -> dict[str, Any]:
    values: dict[str, Any] = {
        "agreementId": agreement_id,
        "product": line.cw_product,
        "quantity": line.quantity,
        "billCustomer": line.bill_customer.value,
        "effectiveDate": effective,
    }
    if line.unit_price is not None:
        values["unitPrice"] = line.unit_price
    if line.unit_cost is not None:
        values["unitCost"] = line.unit_cost
    if cancelled is not None:
        values["cancelledDate"] = cancelled
    if line.description is not None:
        values["invoiceDescription"] = line.description
    return values


def _diff(
    line: DesiredLine, actual: ActualAddition, cancelled: date | None, default_description: str | None = None
) -> list[FieldChange]:
    changes = []
    if actual.quantity != line.quantity:
        changes.append(FieldChange("quantity", actual.quantity, line.quantity))
    if line.unit_price is not None and actual.unit_price != line.unit_price:
        changes.append(FieldChange("unitPrice", actual.unit_price, line.unit_price))
    if line.unit_cost is not None and actual.unit_cost != line.unit_cost:
        changes.append(FieldChange("unitCost", actual.unit_cost, line.unit_cost))
    if actual.bill_customer != line.bill_customer.value:
        changes.append(FieldChange("billCustomer", actual.bill_customer, line.bill_customer.value))
    if line.description is not None and actual.description != line.description:
        changes.append(FieldChange("invoiceDescription", actual.description, line.description))
    elif (
        line.description is None
        and default_description is not None
        and actual.description not in (None, default_description)
    ):
        # our description was taken away: the invoice goes back to the ConnectWise product's own text
        changes.append(FieldChange("invoiceDescription", actual.description, default_description))
    if actual.cancelled != cancelled:
        changes.append(FieldChange("cancelledDate", actual.cancelled, cancelled))
    return changes


def _drifted(actual: ActualAddition) -> bool:
    return (
        actual.last_written is not None
        and actual.last_updated is not None
        and actual.last_updated > actual.last_written
    )


def end_addition(
    key: str, existing: ActualAddition, last_day: date, reason: str, successor: str | None = None
) -> Change:
    """Cancel an owned addition on ``last_day`` (a noop when it already ends by then)."""
    base = Change(
        ChangeKind.NOOP,
        key=key,
        customer=LineKey.customer_of(key),
        cw_product=existing.cw_product,
        agreement_id=existing.agreement_id,
        addition_id=existing.id,
        old_amount=billed(existing.quantity, existing.unit_price, existing.bill_customer),
        successor=successor,
        old_quantity=existing.quantity,
    )
    if existing.cancelled is not None and existing.cancelled <= last_day:
        return evolve(base, reason="already cancelled", new_amount=base.old_amount)
    return evolve(
        base,
        kind=ChangeKind.CANCEL,
        fields=(FieldChange("cancelledDate", existing.cancelled, last_day),),
        reason=reason,
        new_amount=base.old_amount,
    )


def plan_line(
    target: Target,
    period: Period,
    owned: Mapping[str, ActualAddition],
    others: Mapping[str, ActualAddition],
    history: Sequence[ActualAddition],
    policies: DatePolicies,
    drift_policy: DriftPolicy,
) -> list[Change]:
    """The changes of one desired line: its own (create, update, cancel, noop or blocked), and the
    end of a running addition it takes over from (a switch to one addition per period)."""
    settled = settle(target.line, period, others, history)
    line = settled.line
    key = str(line.key)
    base = Change(
        ChangeKind.NOOP,
        key=key,
        customer=line.customer,
        cw_product=line.cw_product,
        explanation=line.explanation,
        warnings=settled.notes,
    )
    if target.agreement is None:
        return [evolve(base, kind=ChangeKind.BLOCKED, reason=target.unresolved or "no agreement")]
    if target.waiting is not None:
        return [_left(base, owned.get(key), target.agreement.id, target.waiting)]
    if settled.blocked is not None:
        refused = evolve(base, kind=ChangeKind.BLOCKED, reason=settled.blocked, agreement_id=target.agreement.id)
        return [evolve(refused, holds_company=False)]
    extra: list[Change] = []
    if settled.end_running is not None:
        ending = settled.end_running
        assert ending.owned_key is not None
        last_day = period.first_day - timedelta(days=1)
        reason = f"replaced by one addition per period from {period}"
        extra.append(end_addition(ending.owned_key, ending, last_day, reason, successor=key))
    existing = owned.get(key)
    if existing is not None and existing.cancelled is not None and existing.cancelled < period.first_day:
        existing = None  # ended in an earlier period: history stays, a new addition starts
    base = evolve(base, agreement_id=target.agreement.id)
    effective, cancelled, warnings, blocked = decide_dates(line, target.agreement, period, existing, policies)
    if blocked is not None:
        return [evolve(base, kind=ChangeKind.BLOCKED, reason=blocked), *extra]
    assert effective is not None
    if settled.keep_end and existing is not None:
        cancelled = existing.cancelled
    notes = (*settled.notes, *warnings)
    if existing is None:
        return [_create(base, line, target.agreement.id, effective, cancelled, notes), *extra]
    changed = _on_existing(base, line, existing, period, cancelled, notes, settled.notes, drift_policy, target)
    return [changed, *extra]


def _left(base: Change, existing: ActualAddition | None, agreement_id: int, reason: str) -> Change:
    """A noop that leaves the line's addition (if any) as it is, saying why."""
    if existing is None:
        return evolve(base, agreement_id=agreement_id, reason=reason)
    amount = billed(existing.quantity, existing.unit_price, existing.bill_customer)
    return evolve(
        base,
        agreement_id=existing.agreement_id,
        addition_id=existing.id,
        old_amount=amount,
        new_amount=amount,
        reason=reason,
    )


def _create(
    base: Change, line: DesiredLine, agreement_id: int, effective: date, cancelled: date | None, notes: tuple[str, ...]
) -> Change:
    if line.quantity == 0:
        return evolve(base, reason="no usage: nothing to create")
    values = _values(line, agreement_id, effective, cancelled)
    new_amount = billed(line.quantity, line.unit_price, line.bill_customer.value)
    return evolve(base, kind=ChangeKind.CREATE, warnings=notes, new_amount=new_amount, values=values)


def _on_existing(
    base: Change,
    line: DesiredLine,
    existing: ActualAddition,
    period: Period,
    cancelled: date | None,
    notes: tuple[str, ...],
    strategy_notes: tuple[str, ...],
    drift_policy: DriftPolicy,
    target: Target,
) -> Change:
    """Update, cancel or leave the addition the line goes on (only the fields that change)."""
    drift = _drifted(existing)
    old_amount = billed(existing.quantity, existing.unit_price, existing.bill_customer)
    price = line.unit_price if line.unit_price is not None else existing.unit_price  # quantity only: CW's price
    new_amount = billed(line.quantity, price, line.bill_customer.value)
    base = evolve(
        base,
        agreement_id=existing.agreement_id,
        addition_id=existing.id,
        drift=drift,
        old_amount=old_amount,
        new_amount=new_amount,
    )
    drift_note = (
        f"addition {existing.id} was edited in ConnectWise on {existing.last_updated:%Y-%m-%d %H:%M} "
        "after meterbridge last wrote it"
        if drift
        else ""
    )
    if line.quantity == 0 and line.zero_policy is not ZeroPolicy.ZERO:
        if line.zero_policy is ZeroPolicy.LEAVE or existing.cancelled is not None:
            return evolve(base, reason="no usage: left as it is", new_amount=old_amount)
        return evolve(
            base,
            kind=ChangeKind.CANCEL,
            reason="no usage: cancelled at the end of the period",
            fields=(FieldChange("cancelledDate", None, period.last_day),),
            warnings=(*strategy_notes, drift_note) if drift else strategy_notes,
            new_amount=old_amount,
        )
    diff = _diff(line, existing, cancelled, target.default_description)
    if not diff:
        return base
    if drift and drift_policy is DriftPolicy.KEEP_THEIRS:
        return evolve(base, reason=f"{drift_note}; kept theirs (drift policy)", new_amount=old_amount)
    return evolve(base, kind=ChangeKind.UPDATE, fields=tuple(diff), warnings=(*notes, drift_note) if drift else notes)
