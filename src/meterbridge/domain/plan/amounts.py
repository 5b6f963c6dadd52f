"""Each change's amounts: what ConnectWise will invoice for its addition in the period before the
change and after it (domain/invoice.py), from the addition as read and as the change leaves it;
never what a line meant to bill. A preview's, a push's and a run's totals are sums of these.

In a period ConnectWise has invoiced, a write changes nothing of what it invoiced (an invoice is
final): its after is its before. A correction (corrections.py) counts in the month it bills."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from meterbridge.domain.billing import LineKey
from meterbridge.domain.copies import evolve
from meterbridge.domain.invoice import NOTHING, Dated, amount
from meterbridge.domain.periods import Period
from meterbridge.domain.plan.changes import ActualAddition, AgreementView, Change, ChangeKind
from meterbridge.domain.plan.corrections import corrected_period
from meterbridge.domain.plan.ownership import invoiced


def _as_dated(addition: ActualAddition) -> Dated:
    return Dated(addition.quantity, addition.unit_price, addition.bill_customer, addition.effective, addition.cancelled)


def after_change(change: Change, before: ActualAddition | None) -> Dated | None:
    """The addition's invoice fields once ``change`` is applied (None: there is no addition)."""
    if change.kind is ChangeKind.CREATE:
        return _created(change.values)
    if before is None:
        return None
    dated = _as_dated(before)
    if change.kind not in (ChangeKind.UPDATE, ChangeKind.CANCEL):
        return dated
    fields: dict[str, Any] = {
        "quantity": dated.quantity,
        "unit_price": dated.unit_price,
        "bill_customer": dated.bill_customer,
        "effective": dated.effective,
        "cancelled": dated.cancelled,
    }
    for field_change in change.fields:
        name = _FIELDS.get(field_change.field)
        if name is not None:
            fields[name] = field_change.new
    return Dated(**fields)


_FIELDS = {
    "quantity": "quantity",
    "unitPrice": "unit_price",
    "billCustomer": "bill_customer",
    "effectiveDate": "effective",
    "cancelledDate": "cancelled",
}


def _created(values: Mapping[str, Any]) -> Dated:
    cancelled = values.get("cancelledDate")
    effective = values.get("effectiveDate")
    return Dated(
        Decimal(values["quantity"]),
        Decimal(values["unitPrice"]) if values.get("unitPrice") is not None else None,
        str(values["billCustomer"]),
        effective if isinstance(effective, date) else None,
        cancelled if isinstance(cancelled, date) else None,
    )


def with_amounts(
    changes: Iterable[Change],
    actual: Iterable[ActualAddition],
    agreements: Mapping[int, AgreementView],
    period: Period,
    catalog_prices: Mapping[str, Decimal],
) -> list[Change]:
    """The changes with ``old_amount`` and ``new_amount``: the invoice model applied to each
    addition as read and as its change leaves it, on its agreement (prorated or not).
    ``catalog_prices``: ConnectWise product (casefolded) -> the price a create without one gets."""
    by_id = {addition.id: addition for addition in actual}
    out = []
    for change in changes:
        before = by_id.get(change.addition_id) if change.addition_id is not None else None
        agreement = agreements.get(change.agreement_id) if change.agreement_id is not None else None
        prorated = agreement.prorate if agreement is not None else False
        price = catalog_prices.get(change.cw_product.casefold())
        marked = corrected_period(LineKey.split(change.key)[1])
        month = Period.parse(marked[1]) if marked is not None else period  # a correction: the month it bills
        old = amount(_as_dated(before), month, prorated=prorated) if before is not None else NOTHING
        after = after_change(change, before) if change.kind is not ChangeKind.BLOCKED else None
        closed = marked is None and invoiced(agreement, period)
        if change.kind is ChangeKind.BLOCKED or (closed and change.is_write):
            new = old  # nothing is written, or the period is invoiced: ConnectWise invoices what it invoiced
        else:
            new = amount(after, month, prorated=prorated, unit_price=price) if after is not None else NOTHING
        out.append(evolve(change, old_amount=old, new_amount=new, prorated=prorated, invoiced=closed))
    return out
