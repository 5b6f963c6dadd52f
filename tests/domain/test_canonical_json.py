"""A change's canonical JSON, written directly for speed, is byte for byte what ``json.dumps``
writes of ``canonical()``: checksums and digests approved before stay the same."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from meterbridge.domain.plan.changes import Change, ChangeKind, Checksum, FieldChange, checksum, sha256_of

texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
scalars: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    texts,
    st.decimals(allow_nan=False, allow_infinity=True),
    st.just(Decimal("NaN")),
    st.dates(),
    st.datetimes(),
    st.floats(allow_nan=False),
    st.lists(st.integers(), max_size=3),
)
changes = st.builds(
    Change,
    kind=st.sampled_from(ChangeKind),
    key=texts,
    customer=texts,
    cw_product=texts,
    agreement_id=st.none() | st.integers(min_value=0, max_value=10**12),
    addition_id=st.none() | st.integers(min_value=0, max_value=10**12),
    values=st.dictionaries(texts, scalars, max_size=6),
    fields=st.lists(st.builds(FieldChange, field=texts, old=scalars, new=scalars), max_size=3).map(tuple),
    reason=texts,
)


@given(changes)
def test_the_canonical_json_is_what_json_dumps_writes(change: Change) -> None:
    expected = json.dumps(change.canonical(), sort_keys=True, separators=(",", ":"))
    assert change.canonical_json() == expected
    assert change.digest() == sha256_of([change.canonical()])


@given(st.lists(changes, max_size=5))
def test_the_checksum_is_over_the_json_list_of_canonical_changes(parts: list[Change]) -> None:
    text = json.dumps([c.canonical() for c in parts], sort_keys=True, separators=(",", ":"))
    assert checksum(parts) == hashlib.sha256(text.encode("utf-8")).hexdigest()
    whole = Checksum()
    whole.add(parts)
    assert whole.hexdigest() == checksum(parts)


def test_an_update_writes_every_kind_of_value_it_carries() -> None:
    change = Change(
        ChangeKind.UPDATE,
        'cust "1"/storage/BACKUP-GB/running',
        "cust",
        "BACKUP-GB",
        agreement_id=7,
        addition_id=None,
        values={"quantity": Decimal("12.50"), "effectiveDate": date(2026, 10, 1), "note": "caf\u00e9"},
        fields=(FieldChange("cancelledDate", None, datetime(2026, 10, 31, 12, tzinfo=UTC)),),
        reason="r\u00e9ason\n",
    )
    text = change.canonical_json()
    assert text == (
        '{"addition":null,"agreement":7,"fields":[["cancelledDate",null,"2026-10-31T12:00:00+00:00"]],'
        '"key":"cust \\"1\\"/storage/BACKUP-GB/running","kind":"update","reason":"r\\u00e9ason\\n",'
        '"values":{"effectiveDate":"2026-10-01","note":"caf\\u00e9","quantity":"12.5"}}'
    )
