"""When schedules fall due: month ends, DST, day 31 in February (clamp and skip), a missed schedule."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support.depth import examples

from meterbridge.domain.periods import MissingDay, Period
from meterbridge.domain.schedules import (
    ScheduleKind,
    Target,
    Timing,
    hour_occurrences,
    latest_due,
    month_occurrences,
    next_after,
    period_of,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def test_auto_billing_runs_each_of_the_first_days_for_the_previous_month() -> None:
    timing = Timing(ScheduleKind.AUTO_BILLING, at=time(2, 0), days=3)
    assert latest_due(timing, LONDON, EPOCH, utc(2026, 12, 1, 1, 59)) == utc(2026, 11, 3, 2)  # last month's day 3
    first = latest_due(timing, LONDON, utc(2026, 11, 3, 2), utc(2026, 12, 1, 2, 0))
    assert first == utc(2026, 12, 1, 2)  # London is on UTC in December
    assert period_of(first, LONDON, Target.PREVIOUS) == Period(2026, 11)
    assert latest_due(timing, LONDON, first, utc(2026, 12, 1, 23)) is None  # once a day
    second = latest_due(timing, LONDON, first, utc(2026, 12, 2, 9))
    assert second == utc(2026, 12, 2, 2)
    third = latest_due(timing, LONDON, second, utc(2026, 12, 3, 2, 0, 1))
    assert third == utc(2026, 12, 3, 2)
    assert latest_due(timing, LONDON, third, utc(2026, 12, 31, 23, 59)) is None  # not after the first 3 days
    assert next_after(timing, LONDON, third) == utc(2027, 1, 1, 2)


def test_a_missed_schedule_runs_once_for_its_latest_occurrence() -> None:
    timing = Timing(ScheduleKind.AUTO_BILLING, at=time(2, 0), days=3)
    # down from November 2 to December 20: November's day 3 and December's days 1-3 were missed
    slot = latest_due(timing, LONDON, utc(2026, 11, 2, 2), utc(2026, 12, 20, 8))
    assert slot == utc(2026, 12, 3, 2)
    assert period_of(slot, LONDON, Target.PREVIOUS) == Period(2026, 11)
    assert latest_due(timing, LONDON, slot, utc(2026, 12, 20, 8)) is None
    monthly = Timing(ScheduleKind.MONTHLY, at=time(6, 0), day=5)
    assert latest_due(monthly, LONDON, utc(2026, 9, 5, 6), utc(2026, 12, 1, 8)) == utc(2026, 11, 5, 6)


def test_day_31_in_february_clamps_to_the_last_day_or_skips() -> None:
    clamp = Timing(ScheduleKind.MONTHLY, at=time(9, 0), day=31)
    skip = Timing(ScheduleKind.MONTHLY, at=time(9, 0), day=31, missing_day=MissingDay.SKIP)
    assert month_occurrences(clamp, 2027, 2, LONDON) == [utc(2027, 2, 28, 9)]
    assert month_occurrences(clamp, 2028, 2, LONDON) == [utc(2028, 2, 29, 9)]  # a leap year
    assert month_occurrences(skip, 2027, 2, LONDON) == []
    assert month_occurrences(skip, 2027, 4, LONDON) == []  # 30 days
    assert month_occurrences(skip, 2027, 3, LONDON) == [utc(2027, 3, 31, 8)]  # British Summer Time
    after_january = utc(2027, 1, 31, 9)
    assert latest_due(clamp, LONDON, after_january, utc(2027, 3, 5)) == utc(2027, 2, 28, 9)
    assert latest_due(skip, LONDON, after_january, utc(2027, 3, 5)) is None  # February skipped, March not yet
    assert next_after(skip, LONDON, after_january) == utc(2027, 3, 31, 8)
    assert period_of(utc(2027, 2, 28, 9), LONDON, Target.PREVIOUS) == Period(2027, 1)


def test_dst_a_skipped_time_runs_after_the_jump_and_a_repeated_time_once() -> None:
    spring = Timing(ScheduleKind.MONTHLY, at=time(2, 30), day=14)  # 2027-03-14: 02:00 EST -> 03:00 EDT
    assert month_occurrences(spring, 2027, 3, NEW_YORK) == [utc(2027, 3, 14, 7, 30)]  # 03:30 EDT
    fall = Timing(ScheduleKind.MONTHLY, at=time(1, 30), day=7)  # 2027-11-07: 01:00-02:00 twice
    assert month_occurrences(fall, 2027, 11, NEW_YORK) == [utc(2027, 11, 7, 5, 30)]  # the first 01:30 (EDT)
    second_pass = utc(2027, 11, 7, 6, 30)  # 01:30 EST: the same wall-clock time again
    assert latest_due(fall, NEW_YORK, utc(2027, 11, 7, 5, 30), second_pass) is None
    daily = Timing(ScheduleKind.AUTO_BILLING, at=time(2, 0), days=28)
    march = month_occurrences(daily, 2027, 3, ZoneInfo("Europe/Berlin"))
    berlin = [slot.astimezone(ZoneInfo("Europe/Berlin")) for slot in march]
    assert [b.time() for b in berlin[26:28]] == [time(2, 0), time(3, 0)]  # 2027-03-28 02:00 does not exist
    assert march[27] - march[26] == timedelta(hours=24)  # 01:00 UTC both days
    assert all(b.time() == time(2, 0) for b in berlin if b.day != 28)


def test_refresh_is_hourly_at_a_local_minute() -> None:
    timing = Timing(ScheduleKind.REFRESH, minute=15)
    now = utc(2026, 12, 1, 10, 0)  # 15:30 in Kolkata
    slot = latest_due(timing, KOLKATA, EPOCH, now)
    assert slot == utc(2026, 12, 1, 9, 45)  # 15:15 IST
    assert latest_due(timing, KOLKATA, slot, now) is None
    assert next_after(timing, KOLKATA, now) == utc(2026, 12, 1, 10, 45)
    assert period_of(slot, KOLKATA, Target.CURRENT) == Period(2026, 12)


def _dispatch_and_list(
    timing: Timing, zone: ZoneInfo, start: datetime, hours: int
) -> tuple[list[tuple[datetime, datetime]], list[tuple[datetime, datetime]]]:
    """A dispatcher ticking each minute (as ``services.schedules.due`` does) and, at each tick, what
    the listing says runs next (as ``schedules list`` does): (tick, slot run) and (tick, listed)."""
    after, now = start, start
    ran: list[tuple[datetime, datetime]] = []
    listed: list[tuple[datetime, datetime]] = []
    while now < start + timedelta(hours=hours):
        waiting = latest_due(timing, zone, after, now)
        listed.append((now, waiting or next_after(timing, zone, now)))
        if waiting is not None:
            ran.append((now, waiting))
            after = waiting
        now += timedelta(minutes=1)
    return ran, listed


LORD_HOWE = ZoneInfo("Australia/Lord_Howe")  # 2027-10-03 02:00 -> 02:30 (+10:30 -> +11); 2028-04-02 02:00 -> 01:30


@pytest.mark.parametrize(
    ("zone", "start", "minute", "wall"),
    [
        (LORD_HOWE, utc(2027, 10, 2, 13, 30), 45, ["00:45", "01:45", "02:45", "03:45", "04:45"]),
        # 02:15 is in the gap: as far after the jump (02:30) as it was into it
        (LORD_HOWE, utc(2027, 10, 2, 13, 30), 15, ["00:15", "01:15", "02:45", "03:15", "04:15", "05:15"]),
        # 01:45 twice on the clock: once, on its first pass
        (LORD_HOWE, utc(2028, 4, 1, 13, 30), 45, ["00:45", "01:45", "02:45", "03:45", "04:45"]),
        (NEW_YORK, utc(2027, 3, 14, 4, 0), 30, ["23:30", "00:30", "01:30", "03:30", "04:30"]),  # 02:30 skipped
        (NEW_YORK, utc(2027, 11, 7, 3, 0), 30, ["23:30", "00:30", "01:30", "02:30"]),  # 01:30 once
    ],
)
def test_the_refresh_listed_next_is_exactly_what_the_dispatcher_runs(
    zone: ZoneInfo, start: datetime, minute: int, wall: list[str]
) -> None:
    timing = Timing(ScheduleKind.REFRESH, minute=minute)
    ran, listed = _dispatch_and_list(timing, zone, start, hours=5)
    assert [slot.astimezone(zone).strftime("%H:%M") for _, slot in ran] == wall
    assert all(slot == tick for tick, slot in ran)  # each on the minute it falls on
    for tick, upcoming in listed:  # at every minute, the time listed next is the next one run
        following = [slot for at, slot in ran if at >= tick]
        assert upcoming == (following[0] if following else next_after(timing, zone, ran[-1][1]))


ZONES = [
    ZoneInfo(name)
    for name in ("UTC", "Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Sydney", "Australia/Lord_Howe")
]
timings = st.one_of(
    st.builds(
        Timing,
        kind=st.just(ScheduleKind.AUTO_BILLING),
        at=st.times(),
        days=st.integers(1, 28),
    ),
    st.builds(
        Timing,
        kind=st.just(ScheduleKind.MONTHLY),
        at=st.times(),
        day=st.integers(1, 31),
        missing_day=st.sampled_from(MissingDay),
    ),
    st.builds(Timing, kind=st.just(ScheduleKind.REFRESH), minute=st.integers(0, 59)),
)
moments = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2029, 12, 31)).map(  # noqa: DTZ001
    lambda d: d.replace(tzinfo=UTC)
)


@settings(max_examples=examples(400))
@given(timing=timings, zone=st.sampled_from(ZONES), after=moments, span=st.integers(0, 200 * 24 * 3600))
def test_latest_due_is_the_last_occurrence_in_the_window(
    timing: Timing, zone: ZoneInfo, after: datetime, span: int
) -> None:
    """Due once: the answer is an occurrence inside (after, now], and none lies after it until now;
    no answer means no occurrence in the window."""
    now = after + timedelta(seconds=span)
    upcoming = next_after(timing, zone, after)  # listed as next: the dispatcher runs it then, not before
    assert latest_due(timing, zone, after, upcoming) == upcoming
    assert latest_due(timing, zone, after, upcoming - timedelta(microseconds=1)) is None
    slot = latest_due(timing, zone, after, now)
    if slot is None:
        assert next_after(timing, zone, after) > now
        return
    assert after < slot <= now
    assert next_after(timing, zone, slot) > now
    if timing.kind is ScheduleKind.REFRESH:
        assert slot in hour_occurrences(timing.minute, zone, slot)
    else:
        local = slot.astimezone(zone)
        assert slot in month_occurrences(timing, local.year, local.month, zone)
