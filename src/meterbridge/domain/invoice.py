"""What ConnectWise will invoice: an addition's amount on its agreement's invoice for a period.

Every "before" and "after" meterbridge shows comes from here, applied to the additions as read
from ConnectWise (before) and as they will be after a plan (after), never from what a line
meant to bill. The rules (docs/billing-core.md "What ConnectWise will invoice"; which of them
ConnectWise documents and which are inferred: docs/decisions/0011-cwsim-invoices.md):

* an addition counts in a period when its effective date is on or before the period's last day
  and it has no cancelled date, or one on or after the period's first day: both days count, so
  an addition cancelled on a month's last day bills that month in full;
* DoNotBill is not on the invoice; NoCharge is, at no charge; Billable is quantity x unit price;
* on a prorated agreement, the amount is for the days of the period the addition is active
  (x days / days of the month); on one that is not prorated, the full amount;
* rounded once, to the cent, half away from zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol

from meterbridge.domain.money import round_amount
from meterbridge.domain.periods import Period

BILLABLE, NO_CHARGE, DO_NOT_BILL = "Billable", "NoCharge", "DoNotBill"
NOTHING = Decimal("0.00")  # an amount, in cents, that is nothing


class Billing(Protocol):
    """What the invoice reads of an addition (ActualAddition, or an addition as a plan leaves it)."""

    @property
    def quantity(self) -> Decimal: ...

    @property
    def unit_price(self) -> Decimal | None: ...

    @property
    def bill_customer(self) -> str: ...

    @property
    def effective(self) -> date | None: ...

    @property
    def cancelled(self) -> date | None: ...


def days_active(addition: Billing, period: Period) -> int:
    """The days of ``period`` the addition is active (0: it is not on the period's invoice)."""
    start = max(addition.effective or period.first_day, period.first_day)
    end = min(addition.cancelled or period.last_day, period.last_day)
    return max((end - start).days + 1, 0)


def on_invoice(addition: Billing, period: Period) -> bool:
    """Whether the addition is a line of its agreement's invoice for ``period``."""
    return addition.bill_customer != DO_NOT_BILL and days_active(addition, period) > 0


def amount(addition: Billing, period: Period, *, prorated: bool, unit_price: Decimal | None = None) -> Decimal:
    """What ConnectWise invoices for the addition in ``period`` (0 when it is not on the invoice,
    or at no charge). ``unit_price``: the price ConnectWise will give an addition that has none
    yet (a quantity-only create takes its catalog item's)."""
    days = days_active(addition, period)
    if days == 0 or addition.bill_customer != BILLABLE:
        return NOTHING
    price = addition.unit_price if addition.unit_price is not None else unit_price
    if price is None:
        return NOTHING
    charged = addition.quantity * price
    if prorated and days < period.days:
        charged = charged * days / period.days
    return round_amount(charged)


@dataclass(frozen=True)
class Dated:
    """An addition's invoice fields on their own: what a plan will leave it holding."""

    quantity: Decimal
    unit_price: Decimal | None
    bill_customer: str
    effective: date | None
    cancelled: date | None
