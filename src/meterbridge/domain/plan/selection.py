"""Which of a line's additions counts: for a period's line, and for ending lines that are gone."""

from __future__ import annotations

from collections.abc import Sequence

from meterbridge.domain.periods import Period
from meterbridge.domain.plan.changes import ActualAddition
from meterbridge.domain.plan.strategy import covers


def for_period(actual: Sequence[ActualAddition], period: Period) -> dict[str, ActualAddition]:
    """Per line key, the addition a line of ``period`` goes on: the one that bills (part of) the
    period, else the current one. A key can have several additions over time (a running line
    ended by a switch of strategy, started again later): a correction of an older period lands
    on the addition that billed it, never on a new one."""
    chosen: dict[str, ActualAddition] = {}

    def rank(addition: ActualAddition) -> tuple[bool, bool, int]:
        ongoing = addition.cancelled is None or addition.cancelled >= period.first_day
        return (covers(addition, period), ongoing, addition.id)

    for addition in actual:
        if addition.owned_key is None:
            continue
        best = chosen.get(addition.owned_key)
        if best is None or rank(addition) > rank(best):
            chosen[addition.owned_key] = addition
    return chosen


def current_owned(actual: Sequence[ActualAddition], period: Period) -> dict[str, ActualAddition]:
    """Per line key, the addition that counts now: one still running in (or after) the period
    first, else the newest; an addition ended in an earlier period is history."""
    current: dict[str, ActualAddition] = {}
    for addition in actual:
        if addition.owned_key is None:
            continue
        best = current.get(addition.owned_key)
        rank = (addition.cancelled is None or addition.cancelled >= period.first_day, addition.id)
        if best is None or rank > (best.cancelled is None or best.cancelled >= period.first_day, best.id):
            current[addition.owned_key] = addition
    return current
