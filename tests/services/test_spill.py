"""The push's writes put aside on disk come back exactly, in order, a list at a time."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from meterbridge.domain.plan import Change, ChangeKind, FieldChange
from meterbridge.services.spill import Spill


def _change(n: int) -> Change:
    return Change(
        kind=ChangeKind.CREATE if n % 2 else ChangeKind.UPDATE,
        key=f"c{n}/cfg/P/2026-11",
        customer=f"c{n}",
        cw_product="P",
        agreement_id=n,
        values={"quantity": Decimal("1.50"), "unitPrice": Decimal("0.093333"), "effectiveDate": date(2026, 11, 1)},
        fields=(FieldChange("quantity", Decimal("2"), Decimal("1E+1")),),
        old_amount=Decimal("0.14"),
    )


def test_lists_come_back_as_they_were_put_and_their_digests_with_them() -> None:
    spill: Spill[tuple[int, Change]] = Spill()
    first = [(0, _change(0)), (2, _change(1))]
    second = [(7, _change(2))]
    spill.put(first)
    spill.put([])  # a chunk without writes takes no place
    spill.put(second)
    assert spill.count == 3
    back = list(spill)
    assert back == [first, second]
    assert [c.digest() for _, c in back[0]] == [c.digest() for _, c in first]
    assert str(back[0][0][1].values["quantity"]) == "1.50"  # a Decimal as it was, not a float
    assert list(spill) == back  # read again: the same
    spill.close()


def test_nothing_put_makes_no_file() -> None:
    spill: Spill[int] = Spill()
    assert list(spill) == [] and spill.count == 0
    spill.close()
