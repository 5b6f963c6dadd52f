"""Periods, units and money: worked examples and properties."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterbridge.domain.errors import PeriodError, UnitError
from meterbridge.domain.money import ceil_div, round_amount, round_price, round_quantity
from meterbridge.domain.periods import MissingDay, Period, scheduled_day
from meterbridge.domain.units import Unit, convert

NEW_YORK = ZoneInfo("America/New_York")
D = Decimal


def test_parse_print_next_previous() -> None:
    period = Period.parse("2026-10")
    assert str(period) == "2026-10"
    assert str(period.next()) == "2026-11"
    assert str(Period.parse("2026-12").next()) == "2027-01"
    assert str(Period.parse("2027-01").previous()) == "2026-12"
    assert Period.parse(" 2026-02 ").days == 28
    assert Period.parse("2028-02").last_day == date(2028, 2, 29)


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "26-10", "2026/10", "October", "2026-1", ""])
def test_bad_periods_say_how_to_write_one(text: str) -> None:
    with pytest.raises(PeriodError, match=r"YYYY-MM|no such billing month"):
        Period.parse(text)


def test_periods_are_half_open_in_the_tenant_zone() -> None:
    period = Period(2026, 11)
    start, end = period.start(NEW_YORK), period.end(NEW_YORK)
    assert start == datetime(2026, 11, 1, tzinfo=NEW_YORK)
    assert start.astimezone(UTC) == datetime(2026, 11, 1, 4, tzinfo=UTC)  # EDT, UTC-4
    assert end.astimezone(UTC) == datetime(2026, 12, 1, 5, tzinfo=UTC)  # EST, UTC-5
    assert period.contains(start, NEW_YORK)
    assert not period.contains(end, NEW_YORK)
    assert period.seconds(NEW_YORK) == 30 * 86400 + 3600  # DST ended: an hour longer
    assert Period.containing(datetime(2026, 11, 1, 3, 59, tzinfo=UTC), NEW_YORK) == Period(2026, 10)


@pytest.mark.parametrize(
    ("period", "day", "missing", "expected"),
    [
        ("2026-10", 3, MissingDay.CLAMP, date(2026, 10, 3)),
        ("2026-04", 31, MissingDay.CLAMP, date(2026, 4, 30)),
        ("2026-04", 31, MissingDay.SKIP, None),
        ("2026-02", 29, MissingDay.CLAMP, date(2026, 2, 28)),
        ("2028-02", 29, MissingDay.SKIP, date(2028, 2, 29)),
        ("2026-02", 30, MissingDay.SKIP, None),
    ],
)
def test_schedule_day_of_month(period: str, day: int, missing: MissingDay, expected: date | None) -> None:
    assert scheduled_day(Period.parse(period), day, missing) == expected


def test_schedule_day_must_exist_in_some_month() -> None:
    with pytest.raises(PeriodError, match="1 to 31"):
        scheduled_day(Period(2026, 1), 32)


@given(st.integers(min_value=1, max_value=9000), st.integers(min_value=1, max_value=12))
def test_next_and_previous_are_inverse(year: int, month: int) -> None:
    period = Period(year, month)
    assert period.next().previous() == period
    assert Period.parse(str(period)) == period
    assert period < period.next()


@pytest.mark.parametrize(
    ("quantity", "source", "target", "expected"),
    [
        ("1", Unit.GIB, Unit.GB, "1.073741824"),
        ("1", Unit.GB, Unit.GIB, "0.931322574615478515625"),
        ("1536", Unit.GIB, Unit.TIB, "1.5"),
        ("2.5", Unit.TB, Unit.GB, "2500"),
        ("1000000000", Unit.BYTE, Unit.GB, "1"),
        ("1", Unit.TIB, Unit.TB, "1.099511627776"),
        ("7", Unit.COUNT, Unit.COUNT, "7"),
    ],
)
def test_exact_conversions(quantity: str, source: Unit, target: Unit, expected: str) -> None:
    assert convert(D(quantity), source, target) == D(expected)


def test_counts_are_not_sizes() -> None:
    with pytest.raises(UnitError, match="a count is not a size"):
        convert(D(1), Unit.COUNT, Unit.GB)
    assert Unit.parse("gib") is Unit.GIB
    with pytest.raises(UnitError, match="unknown unit 'furlong'"):
        Unit.parse("furlong")


@given(
    st.decimals(min_value=0, max_value=10**9, places=6),
    st.sampled_from([u for u in Unit if u != Unit.COUNT]),
    st.sampled_from([u for u in Unit if u != Unit.COUNT]),
)
def test_conversion_round_trips_exactly(quantity: Decimal, source: Unit, target: Unit) -> None:
    assert convert(convert(quantity, source, target), target, source) == quantity


@pytest.mark.parametrize(
    ("function", "value", "expected"),
    [
        (round_quantity, "12.345", "12.35"),
        (round_quantity, "12.344", "12.34"),
        (round_quantity, "-0.005", "-0.01"),
        (round_amount, "153.625", "153.63"),
        (lambda v: round_price(v, 4), "0.123456", "0.1235"),
        (lambda v: round_price(v, 0), "2.5", "3"),
    ],
)
def test_named_rounding_steps_round_half_up(function, value: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    assert function(D(value)) == D(expected)


def test_blocks_round_up() -> None:
    assert ceil_div(D("1201"), D("100")) == 13
    assert ceil_div(D("1200"), D("100")) == 12
    assert ceil_div(D("0"), D("100")) == 0
    with pytest.raises(ValueError, match="positive"):
        ceil_div(D(1), D(0))
