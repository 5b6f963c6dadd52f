"""Usage aggregation and pricing: worked examples as tables, and properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterbridge.domain.errors import ConfigurationInvalid
from meterbridge.domain.pricing import Price, Range, Tier, TierMode, price_quantity, split_ranges
from meterbridge.domain.units import Unit
from meterbridge.domain.usage import Basis, UsageSample, aggregate

D = Decimal
START = datetime(2026, 10, 1, tzinfo=UTC)
END = datetime(2026, 11, 1, tzinfo=UTC)


def sample(day: float, quantity: str, unit: Unit = Unit.GB, received: datetime | None = None) -> UsageSample:
    return UsageSample("acme", "storage", START + timedelta(days=day), D(quantity), unit, received)


# -- aggregation -----------------------------------------------------------------------------

SAMPLES = [sample(0, "100"), sample(10, "400"), sample(20, "250"), sample(30.5, "300")]


@pytest.mark.parametrize(
    ("basis", "expected"),
    [
        (Basis.LAST, "300"),
        (Basis.MAX, "400"),
        (Basis.SUM, "1050"),
        # 100 for 10 days, 400 for 10, 250 for 10.5, 300 for 0.5 of 31 days
        (Basis.AVERAGE, "250.806452"),  # (100x10 + 400x10 + 250x10.5 + 300x0.5) / 31, to 6 decimals
    ],
)
def test_bases(basis: Basis, expected: str) -> None:
    result = aggregate(SAMPLES, START, END, basis, Unit.GB)
    assert result.quantity == D(expected)
    assert result.samples == 4
    assert result.explanation.steps[-1].name == "aggregation"


def test_samples_outside_the_period_are_ignored_and_counted() -> None:
    samples = [sample(-1, "999"), *SAMPLES, sample(31, "999")]
    result = aggregate(samples, START, END, Basis.MAX, Unit.GB)
    assert result.quantity == 400
    assert any("2 sample(s) outside the period ignored" in step.detail for step in result.explanation.steps)


def test_average_carries_the_value_from_before_the_period() -> None:
    samples = [sample(-3, "310"), sample(15.5, "620")]
    result = aggregate(samples, START, END, Basis.AVERAGE, Unit.GB)
    assert result.quantity == D(465)  # 310 for 15.5 days, 620 for 15.5 days
    assert any("carried from 2026-09-28" in line for line in result.explanation.lines())


def test_average_without_an_earlier_sample_covers_what_it_can_and_says_so() -> None:
    result = aggregate([sample(16, "200"), sample(24, "400")], START, END, Basis.AVERAGE, Unit.GB)
    assert result.quantity == D("293.333333")  # 200 for 8 days, 400 for 7 days, of 15
    assert next(w.detail for w in result.explanation.warnings).startswith("no sample before 2026-10-17")


def test_gaps_and_samples_after_the_push_are_flagged() -> None:
    month_end_import = END + timedelta(days=2)
    samples = [sample(0, "10"), sample(1, "10"), sample(9, "20", received=month_end_import)]
    before_push = aggregate(samples, START, END, Basis.AVERAGE, Unit.GB)
    warnings = [w.detail for w in before_push.explanation.warnings]
    assert any("gap from 2026-10-02" in w for w in warnings)
    assert not any("pushed" in w for w in warnings), "a month-end import before the first push is not late"
    pushed = aggregate(samples, START, END, Basis.AVERAGE, Unit.GB, pushed_at=END + timedelta(days=1))
    [late] = [w.detail for w in pushed.explanation.warnings if "pushed" in w.detail]
    assert late.startswith("1 sample(s) arrived after this period was first pushed (2026-11-02 00:00 UTC)")


def test_units_are_converted_before_aggregating() -> None:
    samples = [sample(1, "1", Unit.GIB), sample(2, "1000000000", Unit.BYTE)]
    result = aggregate(samples, START, END, Basis.SUM, Unit.GB)
    assert result.quantity == D("2.073741824")
    assert any(step.name == "unit" for step in result.explanation.steps)


def test_no_usage_is_zero_with_a_warning() -> None:
    result = aggregate([], START, END, Basis.LAST, Unit.GB)
    assert result.quantity == 0
    assert result.explanation.warnings


def test_dst_months_weigh_real_time() -> None:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Europe/London")
    start = datetime(2026, 10, 1, tzinfo=zone)
    end = datetime(2026, 11, 1, tzinfo=zone)  # the clocks go back on 25 October: 31 days + 1 hour
    switch = datetime(2026, 10, 25, 12, tzinfo=zone)
    samples = [UsageSample("a", "p", start, D(0), Unit.GB), UsageSample("a", "p", switch, D(744), Unit.GB)]
    result = aggregate(samples, start, end, Basis.AVERAGE, Unit.GB)
    hours_after = D((end.astimezone(UTC) - switch.astimezone(UTC)).total_seconds()) / 3600
    assert hours_after == 156  # 6.5 days after the switch, in real hours
    assert result.quantity == D("155.790604")  # 744 x 156 / 745: the month had 745 hours


# -- pricing ---------------------------------------------------------------------------------

TIERS = (Tier(D(1000), D("0.10"), D("0.04")), Tier(D(5000), D("0.08"), D("0.03")), Tier(None, D("0.05"), D("0.02")))


@pytest.mark.parametrize(
    ("quantity", "price", "included", "block", "expected"),
    [
        # quantity, price, included, block -> (sent quantity, unit price, unit cost, amount)
        ("1234.5", Price(D("0.12"), D("0.05")), "0", None, ("1234.5", "0.12", "0.05", "148.14")),
        ("1234.5", Price(D("0.12"), D("0.05")), "200", None, ("1034.5", "0.12", "0.05", "124.14")),
        ("150", Price(D("0.12"), D("0.05")), "200", None, ("0", "0.12", "0.05", "0.00")),
        ("1201", Price(D("0.12"), D("0.05")), "0", D(100), ("13", "12.00", "5.00", "156.00")),
        ("1200", Price(D("0.12"), D("0.05")), "0", D(100), ("12", "12.00", "5.00", "144.00")),
        # 100 + 320 + 50 = 470.00 exactly: the average unit price carries the decimals that bill it
        ("6000", Price(tiers=TIERS), "0", None, ("6000", "0.0783333", "0.03", "470.00")),
        ("1500", Price(tiers=TIERS), "0", None, ("1500", "0.093333", "0.036667", "140.00")),  # issue 9, point 1
        ("6000", Price(tiers=TIERS, tier_mode=TierMode.VOLUME), "0", None, ("6000", "0.05", "0.02", "300.00")),
        ("800", Price(tiers=TIERS, tier_mode=TierMode.VOLUME), "0", None, ("800", "0.10", "0.04", "80.00")),
        ("3", Price(D("45.5"), D("18"), places=4), "0", None, ("3", "45.5000", "18.0000", "136.50")),
        ("3", Price(is_set=False), "0", None, ("3", "0.00", "0.00", "0.00")),
    ],
)
def test_worked_pricing_examples(
    quantity: str, price: Price, included: str, block: Decimal | None, expected: tuple[str, str, str, str]
) -> None:
    priced = price_quantity(D(quantity), price, included=D(included), block_size=block, unit_label="GB")
    assert (priced.quantity, priced.unit_price, priced.unit_cost, priced.amount) == tuple(D(v) for v in expected)


def test_graduated_tiers_average_price_and_exact_amount() -> None:
    priced = price_quantity(D(6000), Price(tiers=TIERS, places=6))
    assert priced.unit_price == D("0.078333")  # (100 + 320 + 50) / 6000
    tier_step = next(step for step in priced.steps if step.name == "tier")
    assert tier_step.value == D("470.00")
    assert "1000 x 0.10 + 4000 x 0.08 + 1000 x 0.05" in tier_step.detail


def test_unset_price_is_flagged() -> None:
    priced = price_quantity(D(3), Price(is_set=False))
    assert priced.steps[0].warning
    assert "no price set" in priced.steps[0].detail


@pytest.mark.parametrize(
    "tiers",
    [
        (Tier(D(10), D(1)), Tier(D(5), D(1)), Tier(None, D(1))),
        (Tier(None, D(1)), Tier(None, D(1))),
        (Tier(D(10), D(1)),),
        (Tier(D(0), D(1)), Tier(None, D(1))),
    ],
)
def test_bad_tiers_are_refused(tiers: tuple[Tier, ...]) -> None:
    with pytest.raises(ConfigurationInvalid, match="tiers"):
        Price(tiers=tiers)


def test_ranges_send_each_range_to_its_product() -> None:
    ranges = (Range(D(1000), "BACKUP-GB", D("0.12")), Range(None, "BACKUP-GB-T2", D("0.09")))
    assert [(r.cw_product, q) for r, q in split_ranges(D(1500), ranges)] == [("BACKUP-GB", 1000), ("BACKUP-GB-T2", 500)]
    # every range is listed, so a range the usage no longer reaches goes to 0 instead of being cancelled
    assert [(r.cw_product, q) for r, q in split_ranges(D(700), ranges)] == [("BACKUP-GB", 700), ("BACKUP-GB-T2", 0)]
    assert [q for _, q in split_ranges(D(0), ranges)] == [0, 0]
    with pytest.raises(ConfigurationInvalid, match="open-ended"):
        split_ranges(D(1), (Range(D(10), "A"),))


quantities = st.decimals(min_value=0, max_value=10**7, places=3)
tier_modes = st.sampled_from(list(TierMode))


@given(quantities, st.sampled_from([None, D(1), D(50), D(100), D("0.5")]), tier_modes)
def test_amount_is_quantity_times_unit_price_within_rounding(
    quantity: Decimal, block: Decimal | None, mode: TierMode
) -> None:
    priced = price_quantity(quantity, Price(tiers=TIERS, tier_mode=mode, places=4), block_size=block)
    assert priced.amount == (priced.quantity * priced.unit_price).quantize(D("0.01"), rounding="ROUND_HALF_UP")


@given(quantities, quantities, st.sampled_from([None, D(1), D(100)]), tier_modes)
def test_blocks_and_tiers_are_monotonic_in_usage(
    first: Decimal, second: Decimal, block: Decimal | None, mode: TierMode
) -> None:
    low, high = sorted((first, second))
    price = Price(tiers=TIERS, tier_mode=TierMode.GRADUATED, places=6)
    a = price_quantity(low, price, block_size=block)
    b = price_quantity(high, price, block_size=block)
    assert a.quantity <= b.quantity
    assert a.amount <= b.amount + D("0.01") * 2  # only rounding of the averaged unit price can reorder
    exact_a = sum((min(max(low - lo, 0), (hi or low) - lo) * p for lo, hi, p in _slices()), D(0))
    exact_b = sum((min(max(high - lo, 0), (hi or high) - lo) * p for lo, hi, p in _slices()), D(0))
    assert exact_a <= exact_b


def _slices() -> list[tuple[Decimal, Decimal | None, Decimal]]:
    return [(D(0), D(1000), D("0.10")), (D(1000), D(5000), D("0.08")), (D(5000), None, D("0.05"))]


@given(quantities, quantities)
def test_ranges_split_exactly(first: Decimal, second: Decimal) -> None:
    ranges = (Range(D(1000), "A"), Range(D(5000), "B"), Range(None, "C"))
    for quantity in (first, second):
        shares = split_ranges(quantity, ranges)
        assert sum((share for _, share in shares), D(0)) == quantity
        assert all(share >= 0 for _, share in shares) and len(shares) == len(ranges)
