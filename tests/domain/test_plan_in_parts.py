"""A plan summed a part at a time (its checksum, its safety verdict) is the plan summed whole."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from meterbridge.domain.periods import Period
from meterbridge.domain.plan import Change, ChangeKind, Checksum, FieldChange, Plan, checksum
from meterbridge.domain.safety import SafetyTally, Thresholds, judge

PERIOD = Period.parse("2026-11")
KINDS = list(ChangeKind)


@st.composite
def changes(draw: st.DrawFn, customer: str) -> list[Change]:
    found = []
    for n in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(KINDS))
        old, new = draw(st.integers(0, 50)), draw(st.integers(0, 50))
        existing = kind is not ChangeKind.CREATE and draw(st.booleans())
        created = {"quantity": Decimal(new), "effectiveDate": date(2026, 11, 1)}
        found.append(
            Change(
                kind=kind,
                key=f"{customer}/cfg/P{n}/2026-11",
                customer=customer,
                cw_product=f"P{n}",
                agreement_id=1,
                addition_id=100 + n if existing else None,
                values=created if kind is ChangeKind.CREATE else {},
                fields=(FieldChange("quantity", Decimal(old), Decimal(new)),) if kind is ChangeKind.UPDATE else (),
                drift=kind is ChangeKind.UPDATE and draw(st.booleans()),
                old_amount=Decimal(old) / 4,
                new_amount=Decimal(new) / 4,
                old_quantity=Decimal(old) if kind is ChangeKind.CANCEL else None,
            )
        )
    return found


@st.composite
def plans_in_parts(draw: st.DrawFn) -> list[list[Change]]:
    customers = [f"c{i:02d}" for i in range(draw(st.integers(1, 8)))]
    per_customer = [draw(changes(customer)) for customer in customers]
    cuts = sorted(draw(st.sets(st.integers(1, len(customers)), max_size=len(customers))) | {len(customers)})
    parts, start = [], 0
    for cut in cuts:
        parts.append([c for group in per_customer[start:cut] for c in group])
        start = cut
    return parts


@given(plans_in_parts())
def test_the_checksum_of_the_parts_is_the_checksum_of_the_whole(parts: list[list[Change]]) -> None:
    summed = Checksum()
    for part in parts:
        summed.add(part)
    whole = [c for part in parts for c in part]
    assert summed.hexdigest() == checksum(whole)
    if whole:
        assert summed.hexdigest() != checksum(whole[1:])


@given(plans_in_parts(), st.sampled_from(["0.05", "0.5"]))
def test_the_verdict_of_the_parts_is_the_verdict_of_the_whole(parts: list[list[Change]], fraction: str) -> None:
    thresholds = Thresholds(max_changed_fraction=Decimal(fraction), max_quantity_drop=Decimal("0.3"))
    tally = SafetyTally(thresholds)
    for part in parts:
        tally.add(Plan(PERIOD, tuple(part), checksum(part)))
    whole = [c for part in parts for c in part]
    assert tally.judge() == judge(Plan(PERIOD, tuple(whole), checksum(whole)), thresholds)
