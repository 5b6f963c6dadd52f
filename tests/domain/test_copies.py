"""evolve: the planner's copy of a frozen record equals dataclasses.replace's, and refuses what replace refuses."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from meterbridge.domain.billing import LineKey
from meterbridge.domain.copies import evolve
from meterbridge.domain.plan import ChangeKind
from meterbridge.domain.plan.changes import Change
from meterbridge.domain.pricing import Price


def test_evolve_equals_replace_and_leaves_the_original() -> None:
    key = LineKey("acme", "storage", "BACKUP-GB", "2026-10")
    assert evolve(key, period="running") == dataclasses.replace(key, period="running")
    assert key.period == "2026-10"
    assert evolve(key) == key and evolve(key) is not key
    assert hash(evolve(key, period="running")) == hash(dataclasses.replace(key, period="running"))


def test_evolve_copies_a_change_with_every_field_as_replace_does() -> None:
    fields = {f.name for f in dataclasses.fields(Change) if f.default is dataclasses.MISSING}
    assert fields, "Change has required fields"
    change = Change(**{name: _sample(name) for name in fields})  # type: ignore[arg-type]
    changed = {"kind": ChangeKind.BLOCKED, "reason": "held"}
    assert evolve(change, **changed) == dataclasses.replace(change, **changed)  # type: ignore[arg-type]


def test_evolve_refuses_unknown_fields_and_records_it_cannot_copy() -> None:
    key = LineKey("acme", "storage", "BACKUP-GB", "2026-10")
    with pytest.raises(TypeError, match="no field colour"):
        evolve(key, colour="red")
    with pytest.raises(TypeError, match=r"use dataclasses\.replace"):
        evolve(Price(Decimal(1)), places=3)  # Price checks itself in __post_init__: evolve would skip it


def _sample(name: str) -> object:
    if name == "kind":
        return ChangeKind.CREATE
    if name in ("old_amount", "new_amount", "quantity"):
        return Decimal("1.50")
    return name
