"""When a tenant's schedule falls due, on the tenant's wall clock (pure: the caller says what
time it is).

Three kinds, as the backup consoles in shared/reference bill:

* ``auto_billing``: every day of the first ``days`` days of each month at ``at`` (MSP360: the
  first 3 days), for the previous month; a day's run after the first picks up late usage and
  writes nothing when nothing changed.
* ``monthly``: day ``day`` of each month at ``at`` (Infrascale, rCloud), for the previous month;
  a month without that day runs on its last day (``clamp``, the default) or not at all (``skip``,
  as rCloud does).
* ``refresh``: every hour at minute ``minute`` (SolarWinds' hourly update): a preview with drift
  detection, never a write.

Wall-clock times are in the tenant's time zone. A time the clock skips (the spring-forward gap)
runs as far after the jump as it was into the gap (02:30 -> 03:30); a time the clock passes twice
(fall back) runs on its first pass. A schedule due several times while nothing ran (the process
was down) is due once, for its latest occurrence: ``latest_due``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from meterbridge.domain.periods import MissingDay, Period, scheduled_day


class ScheduleKind(StrEnum):
    AUTO_BILLING = "auto_billing"
    MONTHLY = "monthly"
    REFRESH = "refresh"


class Target(StrEnum):
    PREVIOUS = "previous"  # the month before the one the schedule runs in (billing in arrears)
    CURRENT = "current"  # the month it runs in, provisionally (usage so far)


@dataclass(frozen=True)
class Timing:
    kind: ScheduleKind
    at: time = time(2, 0)  # auto_billing, monthly: the local wall-clock time
    days: int = 3  # auto_billing: the first N days of the month (1-28)
    day: int = 1  # monthly: the day of the month (1-31)
    missing_day: MissingDay = MissingDay.CLAMP  # monthly: a month without ``day``
    minute: int = 0  # refresh: the minute past each local hour (0-59)

    @property
    def writes(self) -> bool:
        """Whether a run of it pushes (auto_billing, monthly) or only previews (refresh)."""
        return self.kind is not ScheduleKind.REFRESH


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """``day`` at ``at`` on the zone's wall clock, as a UTC instant (a skipped time: as far after
    the jump as it was into the gap; a repeated time: its first pass)."""
    return datetime.combine(day, at, tzinfo=zone).replace(fold=0).astimezone(UTC)


def _month_back(year: int, month: int, back: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) - back
    return index // 12, index % 12 + 1


def _days_around(moment: datetime, zone: ZoneInfo) -> list[date]:
    """The local day of ``moment`` and the days either side: every occurrence within a day of it
    falls on one of them (a time shifted past a gap at midnight lands on the next day)."""
    day = moment.astimezone(zone).date()
    return [day - timedelta(days=1), day, day + timedelta(days=1)]


def daily_occurrences(at: time, zone: ZoneInfo, around: datetime) -> list[datetime]:
    """The UTC instants of ``at`` on the local days around ``around``, in order."""
    return sorted({local_instant(day, at, zone) for day in _days_around(around, zone)})


def hour_occurrences(minute: int, zone: ZoneInfo, around: datetime) -> list[datetime]:
    """The UTC instants of ``minute`` past each local hour on the days around ``around``, in order:
    the refresh's (and an hourly pull's) occurrences. Each is a wall-clock time under the same
    rules as the others: a skipped one as far after the jump as it was into the gap (in a 1-hour
    gap that is the next hour's own occurrence, so it runs once; in Lord Howe's 30-minute gap
    02:15 runs at 02:45), a repeated one on its first pass. ``latest_due`` and ``next_after``
    both come from this one list, so what is listed next is what the dispatcher runs."""
    return sorted(
        {local_instant(day, time(hour, minute), zone) for day in _days_around(around, zone) for hour in range(24)}
    )


def month_occurrences(timing: Timing, year: int, month: int, zone: ZoneInfo) -> list[datetime]:
    """The UTC instants ``timing`` falls on in one local month (auto_billing and monthly)."""
    period = Period(year, month)
    if timing.kind is ScheduleKind.AUTO_BILLING:
        days = range(1, min(timing.days, period.days) + 1)
        return [local_instant(date(year, month, d), timing.at, zone) for d in days]
    if timing.kind is ScheduleKind.MONTHLY:
        day = scheduled_day(period, timing.day, timing.missing_day)
        return [] if day is None else [local_instant(day, timing.at, zone)]
    raise ValueError(f"{timing.kind} is not a monthly kind")


def latest_due(timing: Timing, zone: ZoneInfo, after: datetime, now: datetime) -> datetime | None:
    """The latest occurrence in ``(after, now]`` (UTC instants), or None: what is due now, once."""
    if timing.kind is ScheduleKind.REFRESH:
        slot = max(slot for slot in hour_occurrences(timing.minute, zone, now) if slot <= now)
        return slot if slot > after else None
    local = now.astimezone(zone)
    # the latest occurrence is at most 2 months back (day 31, skipped in a 30-day month and February)
    for back in range(4):
        year, month = _month_back(local.year, local.month, back)
        found = [slot for slot in month_occurrences(timing, year, month, zone) if after < slot <= now]
        if found:
            return max(found)
        if Period(year, month).start(zone) <= after:
            return None
    return None


def next_after(timing: Timing, zone: ZoneInfo, now: datetime) -> datetime:
    """The first occurrence after ``now`` (UTC): what a person is told the schedule does next."""
    if timing.kind is ScheduleKind.REFRESH:
        return min(slot for slot in hour_occurrences(timing.minute, zone, now) if slot > now)
    local = now.astimezone(zone)
    for ahead in range(4):
        year, month = _month_back(local.year, local.month, -ahead)
        found = [slot for slot in month_occurrences(timing, year, month, zone) if slot > now]
        if found:
            return min(found)
    raise AssertionError("every timing falls within 4 months")  # pragma: no cover


def period_of(slot: datetime, zone: ZoneInfo, target: Target) -> Period:
    """The billing month a run at ``slot`` works on."""
    local = slot.astimezone(zone)
    period = Period(local.year, local.month)
    return period.previous() if target is Target.PREVIOUS else period


PULL_EVERY = ("hourly", "daily", "manual")


def pull_slot(every: str, at_minute: int, zone: ZoneInfo, now: datetime) -> datetime | None:
    """The latest time a usage source was due to be pulled at or before ``now`` (UTC): ``hourly``
    at ``at_minute`` past each local hour, ``daily`` at ``at_minute`` minutes after local midnight;
    ``manual`` is never due."""
    if every == "hourly":
        return latest_due(Timing(ScheduleKind.REFRESH, minute=at_minute), zone, datetime.min.replace(tzinfo=UTC), now)
    if every != "daily":
        return None
    at = time(at_minute // 60, at_minute % 60)
    return max(slot for slot in daily_occurrences(at, zone, now) if slot <= now)


def next_pull(every: str, at_minute: int, zone: ZoneInfo, now: datetime) -> datetime | None:
    """The first time after ``now`` a source is pulled (None: only by hand)."""
    if every == "hourly":
        return next_after(Timing(ScheduleKind.REFRESH, minute=at_minute), zone, now)
    if every != "daily":
        return None
    at = time(at_minute // 60, at_minute % 60)
    return min(slot for slot in daily_occurrences(at, zone, now) if slot > now)
