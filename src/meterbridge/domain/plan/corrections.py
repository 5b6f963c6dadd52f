"""A period ConnectWise has invoiced is never edited in place: the difference is a correction.

An invoice is what the additions held when it was made (docs/decisions/0011): a quantity or
price changed afterwards for an invoiced month is never invoiced. So when a line's month has been
invoiced (the agreement's next invoice date is after it) and what the rules bill for it differs
from what ConnectWise invoiced, the line's invoiced policy decides:

* ``adjust`` (the default; ``move`` reads the same here): the addition is left as invoiced and the
  difference is billed as a correction in the next open month: an addition of its own, one month
  long (quantity 1 at the difference, an amount exact whether or not the agreement prorates), its
  invoice text saying what it corrects. Its line key is the line's with ``PERIOD+MONTH`` for a
  period (``C1/C1-storage/BACKUP-GB/2026-10+2026-11``): the corrections a month has had count
  towards what it has billed, so a correction is never billed twice, and a later change of the
  same month updates its correction while that one is not invoiced either;
* ``block``: the line is held, with the reason and the fix;
* ``allow``: the addition is edited in place, with a warning that ConnectWise will not invoice
  the difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from meterbridge.domain.billing import BillMode, DesiredLine, LineKey, Strategy
from meterbridge.domain.copies import evolve
from meterbridge.domain.explanation import Step
from meterbridge.domain.invoice import Dated, amount
from meterbridge.domain.money import ZERO
from meterbridge.domain.periods import Period
from meterbridge.domain.plan.changes import ActualAddition, AgreementView, Change, ChangeKind, FieldChange

#: fields of an addition that change what a month is invoiced
MONEY_FIELDS = frozenset({"quantity", "unitPrice", "billCustomer"})


def correction_key(prefix: str, period: Period, month: Period) -> str:
    return f"{prefix}/{period}+{month}"


def corrected_period(period_key: str) -> tuple[str, str] | None:
    """(the period corrected, the month billed) of a correction's period key, else None."""
    corrected, plus, month = period_key.partition("+")
    return (corrected, month) if plus else None


def is_correction(addition: ActualAddition) -> bool:
    """The addition is a correction of a month (its owned key's period is ``PERIOD+MONTH``)."""
    return corrected_period(LineKey.split(addition.owned_key or "")[1]) is not None


def open_month(agreement: AgreementView) -> Period:
    """The first month ConnectWise has not invoiced on the agreement."""
    assert agreement.next_invoice is not None
    return Period(agreement.next_invoice.year, agreement.next_invoice.month)


def month_amount(addition: Dated | ActualAddition, month: Period, prorated: bool) -> Decimal:
    return amount(addition, month, prorated=prorated)


def correct(
    base: Change,
    line: DesiredLine,
    period: Period,
    agreement: AgreementView,
    wanted: Dated,
    invoiced: Decimal,
    history: Sequence[ActualAddition],
) -> list[Change]:
    """The correction that brings ``period`` to what the rules bill (``wanted``, the line's
    addition as it should be for the period) given what ConnectWise ``invoiced`` for it and the
    corrections it had: none when nothing is left to correct."""
    prorated = agreement.prorate
    rules = month_amount(wanted, period, prorated)
    earlier = []
    for addition in history:
        marked = corrected_period(LineKey.split(addition.owned_key or "")[1])
        if marked is not None and marked[0] == str(period):
            earlier.append((Period.parse(marked[1]), addition))
    corrected = sum((month_amount(a, month, prorated) for month, a in earlier), ZERO)
    difference = rules - invoiced - corrected
    said = (
        f"ConnectWise invoiced {period} at {invoiced}"
        + (f" and it has had corrections of {corrected}" if earlier else "")
        + f"; the rules bill {rules}"
    )
    if difference == 0:
        settled = f"{period} is invoiced: {said}, nothing to correct"
        if not earlier:
            return [evolve(base, reason=settled)]
        _, latest = max(earlier, key=lambda found: (found[0], found[1].id))
        assert latest.owned_key is not None
        return [
            evolve(base, key=latest.owned_key, agreement_id=latest.agreement_id, addition_id=latest.id, reason=settled)
        ]
    month = open_month(agreement)
    key = correction_key(line.key.prefix, period, month)
    text = f"Correction for {period}: {'+' if difference > 0 else ''}{difference} ({said})"
    step = Step("correction", f"{said}: the difference, {difference}, is billed in {month}", difference)
    pending = next(  # one of this line's own (a gone line's stays as it is, counted above)
        (a for m, a in earlier if m == month and LineKey.split(a.owned_key or "")[0] == line.key.prefix), None
    )
    if pending is not None:  # this month's correction, not invoiced yet: it takes the difference too
        price = (pending.unit_price or ZERO) + difference
        return [
            evolve(
                base,
                kind=ChangeKind.UPDATE,
                key=key,
                agreement_id=pending.agreement_id,
                addition_id=pending.id,
                fields=(
                    FieldChange("unitPrice", pending.unit_price, price),
                    FieldChange("invoiceDescription", pending.description, f"Correction for {period}: {price}"),
                ),
                reason=f"{period} is invoiced: the correction billed in {month} takes the further difference",
                explanation=line.explanation.then(step),
            )
        ]
    values: dict[str, object] = {
        "agreementId": agreement.id,
        "product": line.cw_product,
        "quantity": Decimal(1),
        "unitPrice": difference,
        "billCustomer": BillMode.BILLABLE.value,
        "effectiveDate": month.first_day,
        "cancelledDate": month.last_day,
        "invoiceDescription": text[:6000],
    }
    if line.unit_cost is not None:
        values["unitCost"] = ZERO
    return [
        evolve(
            base,
            kind=ChangeKind.CREATE,
            key=key,
            agreement_id=agreement.id,
            addition_id=None,
            values=values,
            fields=(),
            reason=f"{period} is invoiced: the difference is billed as a correction in {month}",
            explanation=line.explanation.then(step),
        )
    ]


def wanted_for(line: DesiredLine, period: Period, existing: ActualAddition | None, price: Decimal | None) -> Dated:
    """The line's addition as the rules want it for ``period``."""
    start: date = period.first_day
    if line.strategy is Strategy.RUNNING and existing is not None and existing.effective is not None:
        start = min(existing.effective, period.first_day)
    end = period.last_day if line.strategy is Strategy.PER_PERIOD else None
    unit_price = line.unit_price if line.unit_price is not None else price
    return Dated(line.quantity, unit_price, line.bill_customer.value, start, end)
