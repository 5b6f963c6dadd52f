"""Agreement invoicing: what ConnectWise puts on an agreement's invoice for a billing period.

What ConnectWise and its partners document (API-NOTES.md section 7, the MSP360 document):

* ``billCustomer``: Billable is invoiced at quantity x unit price; NoCharge is on the invoice at
  no charge; DoNotBill is left off the invoice;
* a prorated agreement (``prorateFlag``) bills an addition that starts or ends inside a period
  for the part of the period it is active; an agreement that is not prorated bills the full
  amount;
* invoicing an agreement moves its ``nextInvoiceDate`` on; an addition dated before it on an
  agreement that is not prorated is refused (rules.py).

What cwsim infers where ConnectWise publishes nothing (docs/decisions/0011-cwsim-invoices.md):

* billing periods are calendar months, the first the month of ``nextInvoiceDate`` (or, before
  the first invoice, of ``billStartDate``);
* an addition counts in a period when its effectiveDate is on or before the period's last day
  and it has no cancelledDate or one on or after the period's first day (both days included);
* a prorated amount is quantity x unit price x the days active / the days of the month, rounded
  once to cents, half away from zero; a full amount is quantity x unit price, rounded the same;
* an invoice is what the additions hold when it is made: an addition written later for a period
  already invoiced is never invoiced for that period, and a change to it is not either;
* an invoiced addition cannot be deleted (records.py refuses it with 409).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from cwsim.errors import BadRequest
from cwsim.fields import format_datetime, parse_datetime
from cwsim.state import SimState

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    @classmethod
    def parse(cls, text: str) -> Month:
        try:
            year, month = (int(part) for part in text.split("-"))
            date(year, month, 1)
        except ValueError:
            raise BadRequest(f"month must be YYYY-MM, not '{text[:20]}'.") from None
        return cls(year, month)

    @property
    def first(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last(self) -> date:
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    @property
    def days(self) -> int:
        return calendar.monthrange(self.year, self.month)[1]

    def next(self) -> Month:
        return Month.of(self.last + timedelta(days=1))

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def _day(value: Any) -> date | None:
    return parse_datetime(value).date() if isinstance(value, str) and value else None


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


def invoice_lines(agreement: dict[str, Any], additions: list[dict[str, Any]], month: Month) -> list[dict[str, Any]]:
    """The lines of ``agreement``'s invoice for ``month``: one per addition active in it, but
    DoNotBill ones, in id order."""
    prorated = bool(agreement.get("prorateFlag"))
    lines = []
    for addition in sorted(additions, key=lambda a: a["id"]):
        bill = addition.get("billCustomer", "Billable")
        start = _day(addition.get("effectiveDate")) or month.first
        end = _day(addition.get("cancelledDate"))
        if bill == "DoNotBill" or start > month.last or (end is not None and end < month.first):
            continue
        days = ((min(end, month.last) if end else month.last) - max(start, month.first)).days + 1
        quantity, price = _decimal(addition.get("quantity")), _decimal(addition.get("unitPrice"))
        charged = quantity * price * days / month.days if prorated else quantity * price
        amount = Decimal(0) if bill == "NoCharge" else charged.quantize(CENT, ROUND_HALF_UP)
        lines.append(
            {
                "additionId": addition["id"],
                "product": (addition.get("product") or {}).get("identifier"),
                "description": addition.get("invoiceDescription") or addition.get("description", ""),
                "quantity": float(quantity),
                "unitPrice": float(price),
                "billCustomer": bill,
                "effectiveDate": addition.get("effectiveDate"),
                "cancelledDate": addition.get("cancelledDate"),
                "days": days if prorated else month.days,
                "periodDays": month.days,
                "amount": float(amount),
            }
        )
    return lines


def next_month(agreement: dict[str, Any]) -> Month | None:
    """The first period of the agreement not invoiced yet (None: it never started billing)."""
    start = _day(agreement.get("nextInvoiceDate")) or _day(agreement.get("billStartDate"))
    start = start or _day(agreement.get("startDate"))
    return Month.of(start) if start else None


def invoice_agreement(
    state: SimState,
    agreement: dict[str, Any],
    additions: list[dict[str, Any]] | None = None,
    *,
    keep_empty: bool = True,
) -> dict[str, Any] | None:
    """Invoice the agreement's next period (``additions``: the agreement's, when known): the
    invoice made (None when it has no line and ``keep_empty`` is off), and ``nextInvoiceDate``
    moved to the first day of the month after."""
    month = next_month(agreement)
    if month is None:
        raise BadRequest(f"Agreement {agreement['id']} has no billing start date to invoice from.")
    if agreement.get("cancelledFlag"):
        raise BadRequest(f"Agreement {agreement['id']} is cancelled and is not invoiced.")
    if additions is None:
        additions = list(state.collection("additions").scope(agreement["id"]))
    lines = invoice_lines(agreement, additions, month)
    agreement["nextInvoiceDate"] = format_datetime_day(month.next().first)
    if not lines and not keep_empty:
        return None
    return _store(state, agreement, month, lines)


def format_datetime_day(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _store(state: SimState, agreement: dict[str, Any], month: Month, lines: list[dict[str, Any]]) -> dict[str, Any]:
    invoices = state.collection("invoices")
    invoice_id = invoices.allocate_id()
    total = float(sum((Decimal(str(line["amount"])) for line in lines), Decimal(0)))
    today = state.clock()
    company = agreement.get("company") or {}
    invoice: dict[str, Any] = {
        "id": invoice_id,
        "invoiceNumber": f"{invoice_id:06d}",
        "type": "Agreement",
        "status": {"id": 1, "name": "New"},
        "company": company,
        "billToCompany": agreement.get("billToCompany") or company,
        "applyToType": "Agreement",
        "applyToId": agreement["id"],
        "agreement": {"id": agreement["id"], "name": agreement.get("name", "")},
        "date": format_datetime(today),
        "dueDate": format_datetime(today + timedelta(days=30)),
        "topComment": f"Billing period {month.first.isoformat()} to {month.last.isoformat()}",
        "productTotal": total,
        "serviceTotal": 0.0,
        "expenseTotal": 0.0,
        "agreementAmount": float(_decimal(agreement.get("billAmount"))),
        "subtotal": total,
        "salesTax": 0.0,
        "total": total,
        "payments": 0.0,
        "credits": 0.0,
        "balance": total,
        "period": str(month),  # cwsim's own: served by the admin API, never by ConnectWise's routes
        "lines": lines,
        "_info": {"lastUpdated": format_datetime(today), "dateEntered": format_datetime(today), "enteredBy": "cwsim"},
    }
    invoices.put(invoice)
    return invoice


def invoice_month(state: SimState, month: Month) -> list[dict[str, Any]]:
    """Invoice every agreement up to and including ``month``: each period not invoiced yet, in
    order (an agreement invoiced past it is left alone; a cancelled one is not invoiced). An
    invoice with no line is not kept, as ConnectWise does not keep a zero agreement invoice
    unless told to; ``nextInvoiceDate`` moves on all the same."""
    made = []
    additions = state.collection("additions")
    for agreement in sorted(state.collection("agreements").by_id.values(), key=lambda a: a["id"]):
        if agreement.get("cancelledFlag"):
            continue
        end = _day(agreement.get("endDate")) if not agreement.get("noEndingDateFlag") else None
        own = list(additions.scope(agreement["id"]))
        while (due := next_month(agreement)) is not None and (due.year, due.month) <= (month.year, month.month):
            if end is not None and end < due.first:
                break
            invoice = invoice_agreement(state, agreement, own, keep_empty=False)
            if invoice is not None:
                made.append(invoice)
    return made


def invoiced_additions(state: SimState) -> set[int]:
    """Every addition some invoice has a line for."""
    return {line["additionId"] for invoice in state.collection("invoices").by_id.values() for line in invoice["lines"]}
