"""Models tolerate what real instances add or omit; the wire keeps every digit it can."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterbridge.connectwise import Addition, Agreement, Company, Configuration, ProductRef, changed_fields
from meterbridge.connectwise.models import to_body
from meterbridge.connectwise.wire import dumps, loads


def test_missing_and_unknown_fields_are_fine() -> None:
    assert Company.model_validate({}).id is None
    agreement = Agreement.model_validate(
        {
            "id": 3,
            "customFields": [{"id": 9, "caption": "Region", "value": "EU"}],
            "company": {"id": 1, "extra": 2},
            "billStartDate": "2026-10-15T00:00:00Z",
            "_info": {"lastUpdated": "2026-11-01T10:00:00Z", "mobileGuid": "x"},
        }
    )
    assert agreement.bill_start_date == datetime(2026, 10, 15, tzinfo=UTC)
    assert agreement.info is not None
    assert agreement.info.last_updated == datetime(2026, 11, 1, 10, tzinfo=UTC)
    body = to_body(agreement)
    assert body["customFields"] == [{"id": 9, "caption": "Region", "value": "EU"}]  # kept for a PUT
    assert body["company"] == {"id": 1, "extra": 2}
    assert "_info" not in body


def test_decimals_come_in_exact() -> None:
    addition = Addition.model_validate(loads(b'{"quantity": 1234.5678901234, "unitPrice": 0.1, "extPrice": 1e2}'))
    assert addition.quantity == Decimal("1234.5678901234")
    assert addition.unit_price == Decimal("0.1")
    assert addition.ext_price == Decimal("1E+2")
    config = Configuration.model_validate(loads(b'{"backupBillableSpaceGb": 1536.25, "backupMonth": 10}'))
    assert config.backup_billable_space_gb == Decimal("1536.25")


@given(st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-(10**12), max_value=10**12))
def test_decimals_go_out_and_back_unchanged(value: Decimal) -> None:
    assert loads(dumps({"quantity": value}))["quantity"] == value


def test_too_many_digits_are_refused_not_rounded_silently() -> None:
    with pytest.raises(ValueError, match=r"quantity: .* 17 significant digits"):
        dumps({"quantity": Decimal("1.2345678901234567")})
    with pytest.raises(ValueError, match="cannot be sent"):
        dumps({"unitPrice": Decimal("NaN")})


def test_datetimes_go_out_in_connectwise_format() -> None:
    moment = datetime(2026, 10, 1, 2, 30, tzinfo=timezone(timedelta(hours=2)))
    assert loads(dumps({"effectiveDate": moment})) == {"effectiveDate": "2026-10-01T00:30:00Z"}
    with pytest.raises(ValueError, match="timezone-aware"):
        dumps({"effectiveDate": datetime(2026, 10, 1)})  # noqa: DTZ001 - the point of the test


def test_changed_fields_builds_a_minimal_patch() -> None:
    before = Addition(id=1, product=ProductRef(id=5), quantity=Decimal(10), invoice_description="x")
    after = before.model_copy(update={"quantity": Decimal("10.00"), "invoice_description": None})
    assert changed_fields(before, after) == {"invoiceDescription": None}  # 10 == 10.00
    moved = before.model_copy(update={"product": ProductRef(id=6)})
    assert changed_fields(before, moved) == {"product": {"id": 6}}
