"""One bill per period across strategies: which addition a period's line goes on.

A period already billed by a line's addition of the other strategy stays on it (a switch of
strategy takes effect from the next period); a running addition that holds a later period is
never given an older one; a running line never starts before a month billed on its own, nor
on top of a running addition that starts later; a running addition replaced by per-period
lines ends the day before the first of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from meterbridge.domain.billing import DesiredLine, Strategy, ZeroPolicy
from meterbridge.domain.copies import evolve
from meterbridge.domain.periods import Period
from meterbridge.domain.plan.changes import ActualAddition


def covers(addition: ActualAddition, period: Period) -> bool:
    """The addition bills (part of) the period: it starts by the period's end and has not ended before it."""
    started = addition.effective is None or addition.effective <= period.last_day
    return started and (addition.cancelled is None or addition.cancelled >= period.first_day)


def _as_strategy(line: DesiredLine, strategy: Strategy, period: Period) -> DesiredLine:
    key = evolve(line.key, period=str(period) if strategy is Strategy.PER_PERIOD else "running")
    zero = ZeroPolicy.ZERO if strategy is Strategy.PER_PERIOD and line.zero_policy is ZeroPolicy.CANCEL else None
    return evolve(line, key=key, strategy=strategy, zero_policy=zero or line.zero_policy)


@dataclass(frozen=True)
class Settled:
    """How a line bills this period once the additions of its other strategy are taken into account."""

    line: DesiredLine
    notes: tuple[str, ...] = ()
    blocked: str | None = None
    end_running: ActualAddition | None = None  # a running addition to end on ``running_ends``
    running_ends: date | None = None
    keep_end: bool = False  # kept on an addition of the other strategy: its end date stays as it is


def settle(
    line: DesiredLine,
    period: Period,
    others: Mapping[str, ActualAddition],
    history: Sequence[ActualAddition],
    first_open: Period | None = None,
) -> Settled:
    """``others``: per period key ("running", "2026-10", ...) of the line, the addition that counts for
    ``period``; ``history``: every addition of the line, whatever its key; ``first_open``: the first
    month from ``period`` on that ConnectWise has not invoiced (None: ``period``)."""
    running = others.get("running")
    dated = others.get(str(period))
    if line.strategy is Strategy.RUNNING:
        if dated is not None and covers(dated, period):
            return Settled(
                _as_strategy(line, Strategy.PER_PERIOD, period),
                (
                    f"{period} is already billed by its own addition {dated.id}: it stays on it, and the switch to "
                    f"a running addition takes effect from {period.next()}",
                ),
            )
        if running is not None and running.last_period is not None and running.last_period > period:
            return Settled(line, blocked=_older_period(running, period))
        if running is not None and not covers(running, period) and starts_after(running, period):
            return Settled(
                line,
                blocked=(
                    f"the running addition {running.id} bills from {running.effective}, after {period}: a running "
                    f"addition from {period} would bill those months a second time. Bill {period} by hand in "
                    "ConnectWise, or push a period from "
                    f"{running.effective:%Y-%m} on"
                ),
            )
        if running is not None and covers(running, period) and running.cancelled is not None:
            after = [a for a in history if a.id != running.id and starts_after(a, running.cancelled)]
            if after:  # reopening it would bill the later months twice
                return Settled(
                    line,
                    (
                        f"the running addition {running.id} ends on {running.cancelled}, before months billed by "
                        f"addition(s) {', '.join(str(a.id) for a in after)}: {period} is corrected on it, and it "
                        "stays ended",
                    ),
                    keep_end=True,
                )
        later = sorted(
            (key, addition)
            for key, addition in others.items()
            if key != "running" and key > str(period) and covers(addition, Period.parse(key))
        )
        if later:
            key, addition = later[0]
            return Settled(
                line,
                blocked=(
                    f"{key}, a later period, already has its own addition {addition.id}: a running addition "
                    f"from {period} would bill {key} a second time. The switch to a running addition starts "
                    f"with the latest period billed on its own: push {later[-1][0]} or later"
                ),
            )
        return Settled(line)
    if running is None or not covers(running, period):
        return Settled(line)
    if running.last_period is not None and running.last_period > period:
        return Settled(line, blocked=_older_period(running, period))
    if running.last_period == period or (running.effective is not None and running.effective >= period.first_day):
        return Settled(
            _as_strategy(line, Strategy.RUNNING, period),
            (
                f"{period} is already billed by the running addition {running.id}: it stays on it, and the switch "
                f"to one addition per period takes effect from {period.next()}",
            ),
            keep_end=True,  # it may already end before a later month billed on its own
        )
    # it ends the day before the first per-period addition: a month ConnectWise has invoiced gets none
    # (its invoice is final: what the running addition billed it stays billed, corrected apart), so it
    # ends with the last of them; ended before, the next plan would read them as never billed
    first = first_open or period
    last = first.first_day - timedelta(days=1)
    note = f"the running addition {running.id} ends on {last}: from {first} this line is billed per period"
    if first != period:
        note += f" ({period} to {last:%Y-%m} are invoiced already: they stay billed by it, corrected apart)"
    return Settled(line, (note,), end_running=running, running_ends=last)


def starts_after(addition: ActualAddition, day: Period | date) -> bool:
    last = day.last_day if isinstance(day, Period) else day
    return addition.effective is not None and addition.effective > last


def _older_period(running: ActualAddition, period: Period) -> str:
    return (
        f"the running addition {running.id} already bills {running.last_period}, a later period: pushing {period} "
        f"onto it would replace {running.last_period}'s quantities with {period}'s. A running addition takes only "
        f"its latest period; correct {period} by hand in ConnectWise, or push {running.last_period} or later"
    )
