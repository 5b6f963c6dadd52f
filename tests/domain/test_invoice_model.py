"""meterbridge's model of what ConnectWise invoices, by hand and against cwsim's invoicing (two
implementations written apart, the packages importing nothing of each other: they must agree)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support.depth import examples

from cwsim.invoicing import Month, invoice_lines
from meterbridge.domain.invoice import Dated, amount, days_active, on_invoice
from meterbridge.domain.periods import Period

OCTOBER = Period(2026, 10)


def dated(
    quantity: str, price: str | None, start: date | None, end: date | None = None, bill: str = "Billable"
) -> Dated:
    return Dated(Decimal(quantity), Decimal(price) if price is not None else None, bill, start, end)


def test_amounts_by_hand() -> None:
    full = dated("100", "0.10", date(2026, 9, 1))
    late = dated("5", "45", date(2026, 10, 11))
    early_end = dated("200", "0.10", date(2026, 10, 1), date(2026, 10, 15))
    assert amount(full, OCTOBER, prorated=True) == Decimal("10.00")
    assert amount(late, OCTOBER, prorated=True) == Decimal("152.42")  # 225 x 21/31
    assert amount(late, OCTOBER, prorated=False) == Decimal("225.00")
    assert amount(early_end, OCTOBER, prorated=True) == Decimal("9.68")  # 20 x 15/31
    assert days_active(early_end, OCTOBER) == 15


def test_a_month_is_billed_by_an_addition_cancelled_on_its_last_day_and_not_by_one_cancelled_before_it() -> None:
    on_last_day = dated("5", "45", date(2026, 7, 1), date(2026, 10, 31))
    day_before = dated("5", "45", date(2026, 7, 1), date(2026, 9, 30))
    assert amount(on_last_day, OCTOBER, prorated=False) == Decimal("225.00")
    assert amount(day_before, OCTOBER, prorated=False) == 0 and not on_invoice(day_before, OCTOBER)
    assert amount(dated("0", "45", date(2026, 10, 1)), OCTOBER, prorated=False) == 0  # a zeroed month


def test_bill_modes_and_a_price_still_to_come() -> None:
    assert amount(dated("50", "0.10", date(2026, 10, 1), bill="NoCharge"), OCTOBER, prorated=False) == 0
    assert on_invoice(dated("50", "0.10", date(2026, 10, 1), bill="NoCharge"), OCTOBER)
    assert not on_invoice(dated("50", "0.10", date(2026, 10, 1), bill="DoNotBill"), OCTOBER)
    # a quantity-only create: ConnectWise gives it the catalog item's price
    quantity_only = dated("3", None, date(2026, 10, 1))
    assert amount(quantity_only, OCTOBER, prorated=False) == 0
    assert amount(quantity_only, OCTOBER, prorated=False, unit_price=Decimal("12")) == Decimal("36.00")


days = st.integers(min_value=-70, max_value=70).map(lambda n: date(2026, 10, 15) + timedelta(days=n))


@given(
    quantity=st.decimals(min_value=0, max_value=100_000, places=2),
    price=st.decimals(min_value=0, max_value=999, places=4),
    start=st.one_of(st.none(), days),
    length=st.one_of(st.none(), st.integers(min_value=0, max_value=90)),
    bill=st.sampled_from(["Billable", "NoCharge", "DoNotBill"]),
    prorated=st.booleans(),
    month=st.sampled_from([Period(2026, 9), Period(2026, 10), Period(2026, 11), Period(2024, 2)]),
)
@settings(max_examples=examples(500))
def test_the_model_agrees_with_cwsim_invoicing(
    quantity: Decimal,
    price: Decimal,
    start: date | None,
    length: int | None,
    bill: str,
    prorated: bool,
    month: Period,
) -> None:
    end = start + timedelta(days=length) if start is not None and length is not None else None
    record = {
        "id": 1,
        "quantity": float(quantity),
        "unitPrice": float(price),
        "billCustomer": bill,
        "product": {"identifier": "BACKUP-GB"},
        **({"effectiveDate": f"{start.isoformat()}T00:00:00Z"} if start else {}),
        **({"cancelledDate": f"{end.isoformat()}T00:00:00Z"} if end else {}),
    }
    lines = invoice_lines({"id": 1, "prorateFlag": prorated}, [record], Month(month.year, month.month))
    ours = dated(str(Decimal(str(float(quantity)))), str(Decimal(str(float(price)))), start, end, bill)
    assert on_invoice(ours, month) == bool(lines)
    expected = Decimal(str(lines[0]["amount"])) if lines else Decimal(0)
    assert amount(ours, month, prorated=prorated) == expected
