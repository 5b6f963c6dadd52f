"""One line's changes: create, update, cancel, noop or blocked, against the addition it goes on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from meterbridge.domain.billing import DesiredLine, LineKey, Strategy, ZeroPolicy
from meterbridge.domain.copies import evolve
from meterbridge.domain.errors import PeriodError
from meterbridge.domain.invoice import amount
from meterbridge.domain.money import ZERO
from meterbridge.domain.periods import Period
from meterbridge.domain.plan.changes import (
    ActualAddition,
    AgreementView,
    Change,
    ChangeKind,
    FieldChange,
    LastMonth,
    Target,
    billed,
)
from meterbridge.domain.plan.corrections import MONEY_FIELDS, correct, is_correction, wanted_for
from meterbridge.domain.plan.dates import DatePolicies, decide_dates
from meterbridge.domain.plan.ownership import first_open, invoiced, on_addition, retire, unowned_beside
from meterbridge.domain.plan.strategy import covers, settle
from meterbridge.domain.policies import DriftPolicy, InvoicedPolicy

#: the invoiced policies under which an invoiced month's amount is billed later, as a correction
BILL_LATER = (InvoicedPolicy.ADJUST, InvoicedPolicy.ALLOW)


@dataclass(frozen=True)
class Around:
    """What a line's plan sees beyond its own additions: the agreements read (whether ConnectWise
    has invoiced them, whether they prorate), the additions nobody owns, by (agreement, product),
    and the additions of lines no longer desired, by (customer, agreement, product): what they had
    ConnectWise invoice for a month, and the corrections they made, count towards that month for
    the line that bills the product now (a replaced configuration's month is never billed again)."""

    agreements: Mapping[int, AgreementView] = field(default_factory=dict)
    unowned: Mapping[tuple[int, str], Sequence[ActualAddition]] = field(default_factory=dict)
    prices: Mapping[str, Decimal] = field(default_factory=dict)  # catalog prices, by product (casefolded)
    gone: Mapping[tuple[str, int, str], Sequence[ActualAddition]] = field(default_factory=dict)

    def billed_before(
        self, line: DesiredLine, agreement: AgreementView, history: Sequence[ActualAddition]
    ) -> list[ActualAddition]:
        """The line's additions and those of the lines gone that billed its product on its agreement."""
        return [*history, *self.gone.get((line.customer, agreement.id, line.cw_product.casefold()), ())]


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
    base = evolve(on_addition(key, existing), successor=successor)
    if existing.cancelled is not None and existing.cancelled <= last_day:
        return evolve(base, reason="already cancelled")
    return evolve(
        base,
        kind=ChangeKind.CANCEL,
        fields=(FieldChange("cancelledDate", existing.cancelled, last_day),),
        reason=reason,
    )


def plan_line(
    target: Target,
    period: Period,
    owned: Mapping[str, ActualAddition],
    others: Mapping[str, ActualAddition],
    history: Sequence[ActualAddition],
    policies: DatePolicies,
    drift_policy: DriftPolicy,
    around: Around,
) -> list[Change]:
    """The changes of one desired line: its own (create, update, cancel, noop or blocked), the
    end of a running addition it takes over from (a switch to one addition per period), and the
    retirement of its addition on an agreement it no longer goes to."""
    settled = settle(target.line, period, others, history, first_open(target.agreement, period))
    line = settled.line
    key = str(line.key)
    price = line.unit_price if line.unit_price is not None else around.prices.get(line.cw_product.casefold())
    base = Change(
        ChangeKind.NOOP,
        key=key,
        customer=line.customer,
        cw_product=line.cw_product,
        explanation=line.explanation,
        warnings=settled.notes,
        label=target.label,
        unit=target.unit,
        last=last_month(history, period, around),
        would_bill=billed(line.quantity, price, line.bill_customer.value),
    )
    if target.agreement is None:
        return [evolve(base, kind=ChangeKind.BLOCKED, reason=target.unresolved or "no agreement")]
    if target.waiting is not None:
        return [_left(base, owned.get(key), target.agreement.id, target.waiting)]
    policy = line.invoiced_policy or policies.invoiced
    late = invoiced(target.agreement, period) and policy in BILL_LATER
    if settled.blocked is not None:
        if late and not _reshaped_since(around.billed_before(line, target.agreement, history), period):
            # the month is invoiced: what its additions cannot take any more is a correction
            return _late(
                evolve(base, agreement_id=target.agreement.id), line, period, target.agreement, history, around
            )
        refused = evolve(base, kind=ChangeKind.BLOCKED, reason=settled.blocked, agreement_id=target.agreement.id)
        return [evolve(refused, holds_company=False)]
    extra: list[Change] = []
    if settled.end_running is not None:
        ending = settled.end_running
        assert ending.owned_key is not None
        assert settled.running_ends is not None
        last_day = settled.running_ends
        reason = f"replaced by one addition per period from {last_day + timedelta(days=1):%Y-%m}"
        extra.append(end_addition(ending.owned_key, ending, last_day, reason, successor=key))
    existing = owned.get(key)
    if existing is not None and existing.cancelled is not None and existing.cancelled < period.first_day:
        existing = None  # ended in an earlier period: history stays, a new addition starts
    if existing is not None and existing.agreement_id != target.agreement.id:
        why = f"the line now goes to agreement {target.agreement.id} ({target.agreement.name})"
        extra.append(retire(key, existing, period, around.agreements.get(existing.agreement_id), why))
        existing = None  # a new addition on the agreement it goes to now
    base = evolve(base, agreement_id=target.agreement.id)
    if existing is None and line.quantity == 0:
        if late and not _reshaped_since(around.billed_before(line, target.agreement, history), period):
            return [*_late(base, line, period, target.agreement, history, around), *extra]  # a credit, if billed
        return [evolve(base, reason="no usage: nothing to create"), *extra]
    corrections: list[Change] = []
    if existing is None and late:
        # no new addition can bill an invoiced month: the month's amount is a correction in the next open one
        corrections = _late(base, line, period, target.agreement, history, around)
        if line.strategy is Strategy.PER_PERIOD:
            return [*corrections, *extra]
    effective, cancelled, warnings, blocked = decide_dates(line, target.agreement, period, existing, policies)
    if blocked is not None:
        return [evolve(base, kind=ChangeKind.BLOCKED, reason=blocked), *extra]
    assert effective is not None
    if settled.keep_end and existing is not None:
        cancelled = existing.cancelled
    if existing is not None and _reopens_invoiced(existing, cancelled, target.agreement):
        cancelled = existing.cancelled  # the months after its end are invoiced without it: it stays ended
    notes = (*settled.notes, *warnings)
    if existing is None:
        beside = unowned_beside(target, period, around.unowned)
        if beside:
            return [evolve(base, kind=ChangeKind.BLOCKED, reason=_beside_reason(target, period, beside)), *extra]
        return [_create(base, line, target.agreement.id, effective, cancelled, notes), *corrections, *extra]
    before = around.billed_before(line, target.agreement, history)
    changed = _on_existing(
        base, line, existing, period, cancelled, notes, settled.notes, drift_policy, target, policy, before
    )
    return [*changed, *extra]


def _reopens_invoiced(existing: ActualAddition, cancelled: date | None, agreement: AgreementView | None) -> bool:
    """Moving the addition's end later would have it bill a month after its end that ConnectWise
    has invoiced without it: an invoice is final, and a later plan would read that month as billed
    by it (and correct it short)."""
    if existing.cancelled is None or (cancelled is not None and cancelled <= existing.cancelled):
        return False
    following = existing.cancelled + timedelta(days=1)
    return invoiced(agreement, Period(following.year, following.month))


def last_month(history: Sequence[ActualAddition], period: Period, around: Around) -> LastMonth | None:
    """The latest month up to ``period`` that one of the line's additions was pushed for (a dated
    addition's own month, a running addition's latest period), with what it bills for that month;
    None when the line was never pushed. Corrections bill another month's difference: not counted."""
    latest: tuple[Period, ActualAddition] | None = None
    for addition in history:
        period_key = LineKey.split(addition.owned_key or "")[1]
        if is_correction(addition):
            continue
        month = addition.last_period if period_key == "running" else _month(period_key)
        if month is None or month > period or (latest is not None and month <= latest[0]):
            continue
        latest = (month, addition)
    if latest is None:
        return None
    month, addition = latest
    agreement = around.agreements.get(addition.agreement_id)
    price = around.prices.get(addition.cw_product.casefold())
    billed_then = amount(addition, month, prorated=agreement.prorate if agreement else False, unit_price=price)
    return LastMonth(str(month), addition.quantity, billed_then, addition.unit_price)


def _month(period_key: str) -> Period | None:
    try:
        return Period.parse(period_key)
    except PeriodError:  # an owned key of another shape: no month to compare with
        return None


def _beside_reason(target: Target, period: Period, beside: Sequence[ActualAddition]) -> str:
    named = "; ".join(
        f"addition {a.id} ({a.quantity} x {a.unit_price if a.unit_price is not None else '?'}, {a.bill_customer}, "
        f"from {a.effective or '?'}{f' to {a.cancelled}' if a.cancelled else ''})"
        for a in beside
    )
    agreement = target.agreement
    assert agreement is not None
    return (
        f"{target.line.cw_product} is already on agreement {agreement.id} for {period} in an addition meterbridge does "
        f"not own: {named}. A new addition would bill {period} a second time: adopt it (configurations set "
        f"{target.line.customer} {target.line.key.configuration} --adopt {beside[0].id}) or, to bill beside it "
        f"knowingly, acknowledge it (configurations set {target.line.customer} {target.line.key.configuration} "
        f"--beside {beside[0].id})"
    )


def _left(base: Change, existing: ActualAddition | None, agreement_id: int, reason: str) -> Change:
    """A noop that leaves the line's addition (if any) as it is, saying why."""
    if existing is None:
        return evolve(base, agreement_id=agreement_id, reason=reason)
    return evolve(base, agreement_id=existing.agreement_id, addition_id=existing.id, reason=reason)


def _create(
    base: Change, line: DesiredLine, agreement_id: int, effective: date, cancelled: date | None, notes: tuple[str, ...]
) -> Change:
    if line.quantity == 0:
        return evolve(base, reason="no usage: nothing to create")
    values = _values(line, agreement_id, effective, cancelled)
    return evolve(base, kind=ChangeKind.CREATE, warnings=notes, values=values)


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
    policy: InvoicedPolicy,
    history: Sequence[ActualAddition],
) -> list[Change]:
    """Update, cancel or leave the addition the line goes on (only the fields that change); in a
    period ConnectWise has invoiced, by the invoiced policy (corrections.py)."""
    drift = _drifted(existing)
    base = evolve(base, agreement_id=existing.agreement_id, addition_id=existing.id, drift=drift)
    drift_note = (
        f"addition {existing.id} was edited in ConnectWise on {existing.last_updated:%Y-%m-%d %H:%M} "
        "after meterbridge last wrote it"
        if drift
        else ""
    )
    if line.quantity == 0 and line.zero_policy is not ZeroPolicy.ZERO:
        if line.zero_policy is ZeroPolicy.LEAVE:
            return [evolve(base, reason="no usage: left as it is (zero policy leave: it bills what it billed)")]
        agreement = target.agreement
        assert agreement is not None
        retired = retire(str(line.key), existing, period, agreement, f"no usage in {period} (zero policy cancel)")
        warnings = (*strategy_notes, *retired.warnings, drift_note) if drift else (*strategy_notes, *retired.warnings)
        ended = evolve(
            base,
            kind=retired.kind,
            fields=retired.fields,
            reason=retired.reason,
            warnings=warnings,
            old_quantity=existing.quantity,
        )
        billed = _invoiced_for(existing, period, agreement, history)
        if not invoiced(agreement, period) or billed == 0:
            return [ended]
        if policy is InvoicedPolicy.BLOCK:
            return [
                evolve(
                    base,
                    kind=ChangeKind.BLOCKED,
                    reason=f"{period} has no usage, but ConnectWise has invoiced it already at {billed}: credit it "
                    "as a correction in the next open month (invoiced_policy adjust)",
                )
            ]
        # the invoiced month keeps its invoice; what it should not have billed is credited in the next open one
        credit = correct(base, line, period, agreement, wanted_for(line, period, existing, None), billed, history)
        return [ended, *credit]
    diff = _diff(line, existing, cancelled, target.default_description)
    if not diff:
        return [base]
    if drift and drift_policy is DriftPolicy.KEEP_THEIRS:
        return [evolve(base, reason=f"{drift_note}; kept theirs (drift policy)")]
    warnings = (*notes, drift_note) if drift else notes
    agreement = target.agreement
    assert agreement is not None
    if invoiced(agreement, period) and any(f.field in MONEY_FIELDS for f in diff):
        return _invoiced_update(base, line, existing, period, agreement, tuple(diff), warnings, policy, history)
    return [evolve(base, kind=ChangeKind.UPDATE, fields=tuple(diff), warnings=warnings)]


def _invoiced_for(
    existing: ActualAddition, period: Period, agreement: AgreementView, history: Sequence[ActualAddition]
) -> Decimal:
    """What ConnectWise invoiced for ``period`` by the line's addition and by those of the lines
    gone before it (``history`` holds both; ``Around.billed_before``), corrections apart."""
    gone = [
        a
        for a in history
        if a.id != existing.id
        and a.owned_key
        and LineKey.split(a.owned_key)[0] != LineKey.split(existing.owned_key or "")[0]
    ]
    return sum(
        (
            amount(a, period, prorated=agreement.prorate)
            for a in (existing, *gone)
            if covers(a, period) and not is_correction(a)
        ),
        ZERO,
    )


def _reshaped_since(history: Sequence[ActualAddition], period: Period) -> bool:
    """A running addition that billed ``period`` holds a later period's quantity now: what
    ConnectWise invoiced for ``period`` cannot be read off it, so no correction can be worked out."""
    return any(
        covers(a, period) and a.last_period is not None and a.last_period > period
        for a in history
        if not is_correction(a)
    )


def _late(
    base: Change,
    line: DesiredLine,
    period: Period,
    agreement: AgreementView,
    history: Sequence[ActualAddition],
    around: Around,
) -> list[Change]:
    """The correction an invoiced period's line needs: what the rules bill for it, less what the
    line's additions (and those of lines gone before it) had ConnectWise invoice for it and the
    corrections it had (corrections.py)."""
    history = around.billed_before(line, agreement, history)
    billed = sum(
        (amount(a, period, prorated=agreement.prorate) for a in history if covers(a, period) and not is_correction(a)),
        ZERO,
    )
    price = line.unit_price if line.unit_price is not None else around.prices.get(line.cw_product.casefold())
    return correct(base, line, period, agreement, wanted_for(line, period, None, price), billed, history)


def _invoiced_update(
    base: Change,
    line: DesiredLine,
    existing: ActualAddition,
    period: Period,
    agreement: AgreementView,
    diff: tuple[FieldChange, ...],
    warnings: tuple[str, ...],
    policy: InvoicedPolicy,
    history: Sequence[ActualAddition],
) -> list[Change]:
    """A change to what an invoiced period bills, by the invoiced policy (corrections.py)."""
    said = (
        f"ConnectWise has invoiced {period} already (agreement {agreement.id}'s next invoice date is "
        f"{agreement.next_invoice}) and never invoices it again"
    )
    if policy is InvoicedPolicy.ALLOW:
        allowed = f"{said}: the edit of addition {existing.id} is not invoiced (invoiced_policy allow)"
        return [evolve(base, kind=ChangeKind.UPDATE, fields=diff, warnings=(*warnings, allowed))]
    if policy is InvoicedPolicy.BLOCK:
        return [
            evolve(
                base,
                kind=ChangeKind.BLOCKED,
                reason=f"{said}: editing addition {existing.id} would change an invoiced month; bill the difference "
                "as a correction in the next open month (invoiced_policy adjust) or edit it in place knowingly "
                "(invoiced_policy allow)",
            )
        ]
    out: list[Change] = []
    rest = tuple(f for f in diff if f.field not in MONEY_FIELDS)
    if rest:  # what does not change the invoiced amount is still written
        out.append(evolve(base, kind=ChangeKind.UPDATE, fields=rest, warnings=warnings))
    else:
        out.append(
            evolve(base, reason=f"{period} is invoiced: addition {existing.id} stays as ConnectWise invoiced it")
        )
    billed = _invoiced_for(existing, period, agreement, history)
    wanted = wanted_for(line, period, existing, existing.unit_price)
    out.extend(correct(base, line, period, agreement, wanted, billed, history))
    return out
