"""A company is written whole or not at all; a line ConnectWise's catalog would refuse is blocked."""

from __future__ import annotations

from collections.abc import Mapping

from meterbridge.domain.copies import evolve
from meterbridge.domain.plan.changes import HELD_BACK, Change, ChangeKind


def hold_companies(changes: list[Change], catalog: Mapping[str, str], held: Mapping[str, str]) -> list[Change]:
    """Block writes ConnectWise would refuse (catalog), then hold back the other writes of every
    company with a blocked line, so a company is written whole or not at all."""
    checked = []
    for change in changes:
        problem = catalog.get(change.cw_product.casefold())
        if problem is not None and change.kind in (ChangeKind.CREATE, ChangeKind.UPDATE):
            change = evolve(change, kind=ChangeKind.BLOCKED, reason=problem)
        checked.append(change)
    reasons: dict[str, str] = dict(held)
    for change in checked:
        if change.kind is ChangeKind.BLOCKED and change.holds_company:
            reasons.setdefault(change.customer, f"{change.cw_product}: {change.reason}")
    out = []
    for change in checked:
        reason = reasons.get(change.customer)
        if reason is not None and change.is_write:
            change = evolve(
                change,
                kind=ChangeKind.BLOCKED,
                reason=f"{HELD_BACK}: {reason}",
            )
        out.append(change)
    return out
