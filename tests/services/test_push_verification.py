"""A landed write is checked against the plan through the invoice model: the addition ConnectWise
answered with must invoice the change's planned "after", or its company is a mismatch (never ok)
and the push's totals say what ConnectWise will really invoice."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from meterbridge.connectwise.models import Addition
from meterbridge.domain.copies import evolve
from meterbridge.domain.periods import Period
from meterbridge.domain.plan import Change, ChangeKind, FieldChange
from meterbridge.services.results import Applied, company_results_live, with_applied
from meterbridge.services.views import CompanyResult, CompanyStatus
from meterbridge.services.writes import mismatch

OCTOBER = Period(2026, 10)
CHANGE = Change(
    ChangeKind.UPDATE,
    key="C1/C1-storage/BACKUP-GB/running",
    customer="C1",
    cw_product="BACKUP-GB",
    agreement_id=1,
    addition_id=5,
    fields=(FieldChange("quantity", Decimal(90), Decimal(100)),),
    old_amount=Decimal("9.00"),
    new_amount=Decimal("10.00"),
)


def answer(**fields: Any) -> Addition:
    return Addition.model_validate(
        {
            "id": 5,
            "product": {"identifier": "BACKUP-GB"},
            "quantity": 100,
            "unitPrice": 0.10,
            "billCustomer": "Billable",
            "effectiveDate": "2026-07-01T00:00:00Z",
            **fields,
        }
    )


def test_an_answer_that_invoices_the_plan_is_no_mismatch() -> None:
    assert mismatch(CHANGE, answer(), OCTOBER) is None
    # cancelled on the period's last day: October is still invoiced in full
    assert mismatch(CHANGE, answer(cancelledDate="2026-10-31T00:00:00Z"), OCTOBER) is None


def test_an_answer_that_invoices_something_else_is_a_mismatch_with_the_amount_it_invoices() -> None:
    found = mismatch(CHANGE, answer(unitPrice=0.12), OCTOBER)
    assert found is not None
    reason, invoiced = found
    assert invoiced == Decimal("12.00")
    assert "addition 5" in reason and "12.00" in reason and "10.00 planned" in reason
    # on a prorated agreement an addition cancelled mid-month invoices part of the month
    part = mismatch(evolve(CHANGE, prorated=True), answer(cancelledDate="2026-10-15T00:00:00Z"), OCTOBER)
    assert part is not None and part[1] == Decimal("4.84")  # 10.00 x 15 / 31


def test_a_mismatched_company_is_never_ok_and_the_total_is_what_connectwise_will_invoice() -> None:
    applied = Applied()
    applied.land("C1", CHANGE.key)
    reason, invoiced = mismatch(CHANGE, answer(unitPrice=0.12), OCTOBER)  # type: ignore[misc]
    applied.differ("C1", CHANGE.key, reason, invoiced, change=CHANGE)
    assert applied.unbilled == Decimal("-2.00")  # the plan said 10.00 after; ConnectWise will invoice 12.00
    companies = {"C1": CompanyResult(reasons=[], landed=[], failed=[], writes=1)}
    with_applied(companies, applied)
    assert companies["C1"].status is CompanyStatus.MISMATCH
    assert companies["C1"].reasons == [reason]
    assert company_results_live(applied)["C1"].status is CompanyStatus.MISMATCH
