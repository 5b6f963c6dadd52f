"""Billing periods: calendar months in a tenant's time zone, half-open ``[start, end)``."""

from __future__ import annotations

import calendar
import functools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from meterbridge.domain.errors import PeriodError

_PERIOD = re.compile(r"^(\d{4})-(\d{2})$", re.ASCII)  # ASCII digits only: "２０２６-10" is no period


@functools.lru_cache(maxsize=4096)
def _text(year: int, month: int) -> str:
    """``2026-10``; planning prints the same few periods hundreds of thousands of times."""
    return f"{year:04d}-{month:02d}"


@dataclass(frozen=True, order=True)
class Period:
    """One billing month, e.g. ``Period.parse("2026-10")``; printed back as ``2026-10``."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 1 <= self.year <= 9998:
            raise PeriodError(f"no such billing month: {self.year:04d}-{self.month:02d}")

    @classmethod
    def parse(cls, text: str) -> Period:
        match = _PERIOD.match(text.strip())
        if match is None:
            raise PeriodError(f"a billing period is written YYYY-MM (for example 2026-10), not {text!r}")
        return cls(int(match[1]), int(match[2]))

    @classmethod
    def containing(cls, moment: datetime, tz: ZoneInfo) -> Period:
        local = moment.astimezone(tz)
        return cls(local.year, local.month)

    def __str__(self) -> str:
        return _text(self.year, self.month)

    def next(self) -> Period:
        return Period(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Period:
        return Period(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, self.month, self.days)

    @property
    def days(self) -> int:
        return calendar.monthrange(self.year, self.month)[1]

    def start(self, tz: ZoneInfo) -> datetime:
        """Midnight of the first day, in the tenant's zone (an aware datetime)."""
        return datetime.combine(self.first_day, time(0), tzinfo=tz)

    def end(self, tz: ZoneInfo) -> datetime:
        """The start of the next period: the bound is exclusive."""
        return self.next().start(tz)

    def contains(self, moment: datetime, tz: ZoneInfo) -> bool:
        return self.start(tz) <= moment < self.end(tz)

    def seconds(self, tz: ZoneInfo) -> int:
        """Real elapsed seconds, so a month with a DST change is an hour shorter or longer."""
        # Aware datetimes that share a tzinfo subtract as wall-clock times: compare in UTC.
        return int((self.end(tz).astimezone(UTC) - self.start(tz).astimezone(UTC)) / timedelta(seconds=1))


class MissingDay(StrEnum):
    """What a monthly schedule does in a month without its day (the 31st in April)."""

    CLAMP = "clamp"  # run on the month's last day (the default)
    SKIP = "skip"  # do not run that month


def scheduled_day(period: Period, day: int, missing: MissingDay = MissingDay.CLAMP) -> date | None:
    """The day in ``period`` a schedule set to ``day`` of the month runs; None when it skips."""
    if not 1 <= day <= 31:
        raise PeriodError(f"a day of the month is 1 to 31, not {day}")
    if day <= period.days:
        return date(period.year, period.month, day)
    return period.last_day if missing is MissingDay.CLAMP else None
