"""Exact billing: the amount the rules imply is what ConnectWise bills, for every option that is accepted."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support.depth import examples

from meterbridge.domain.billing import (
    BillingConfiguration,
    BillMode,
    DataMode,
    DesiredLine,
    Product,
    ProductKind,
    Strategy,
    ZeroPolicy,
    build_lines,
    validate_configuration,
)
from meterbridge.domain.description import DescriptionTemplate
from meterbridge.domain.errors import ConfigurationInvalid
from meterbridge.domain.explanation import Explanation
from meterbridge.domain.money import round_amount, unit_price_for
from meterbridge.domain.periods import Period
from meterbridge.domain.plan import billed
from meterbridge.domain.pricing import Price, Range, Tier, TierMode
from meterbridge.domain.units import Unit

D = Decimal
OCTOBER = Period(2026, 10)
STORAGE = Product("storage", "Cloud storage", ProductKind.STORAGE, Unit.GB, cw_product="GB")
PRODUCTS = {"storage": STORAGE}


def one_line(config: BillingConfiguration, quantity: str, price: Price) -> DesiredLine:
    [line] = build_lines(config, PRODUCTS, {"storage": (D(quantity), Explanation())}, {"storage": price}, {}, OCTOBER)
    return line


def test_tiered_average_bills_the_tier_arithmetic_to_the_cent() -> None:
    tiers = Price(D("0.10"), D("0.04"), tiers=(Tier(D(1000), D("0.10")), Tier(None, D("0.08"))))
    line = one_line(BillingConfiguration("c", "acme", ("storage",)), "1500", tiers)
    assert line.amount == D("140.00")  # 1000 x 0.10 + 500 x 0.08
    assert line.unit_price == D("0.093333") and round_amount(line.quantity * line.unit_price) == D("140.00")
    assert line.unit_cost == D("0.04"), "a tier without its own cost takes the price's"
    assert line.cost_amount == D("60.00")
    [average] = [s.detail for s in line.explanation.steps if s.name == "unit price"]
    assert average.startswith("data mode average: 1500 x 0.093333"), average
    assert "with 6 decimals, more than the price list's 2" in average and "bills exactly 140.00" in average


def test_tiers_and_blocks_bill_what_the_explanation_says() -> None:
    price = Price(D("0.10"), D("0.04"), tiers=(Tier(D(1000), D("0.12"), D("0.05")), Tier(None, D("0.08"))))
    config = BillingConfiguration("c", "acme", ("storage",), block_size=D(10))
    line = one_line(config, "2077", price)
    # 208 blocks = 2080 GB: 1000 x 0.12 + 1080 x 0.08 = 206.40; cost 1000 x 0.05 + 1080 x 0.04 = 93.20
    assert (line.quantity, line.amount, line.cost_amount) == (D(208), D("206.40"), D("93.20"))
    assert round_amount(line.quantity * line.unit_price) == line.amount
    assert round_amount(line.quantity * line.unit_cost) == line.cost_amount
    assert any("= 206.40" in step.detail for step in line.explanation.steps if step.name == "tier")
    assert line.description == "Cloud storage: 208 x 10 GB blocks"


def test_a_blocked_line_says_its_blocks_on_the_invoice_and_a_template_can_too() -> None:
    line = one_line(BillingConfiguration("c", "acme", ("storage",), block_size=D(10)), "2077", Price(D("0.12")))
    assert (line.quantity, line.unit_price, line.description) == (
        D(208),
        D("1.20"),
        "Cloud storage: 208 x 10 GB blocks",
    )
    template = DescriptionTemplate("{product} {month}: {quantity} blocks of {block_size} {unit}")
    config = BillingConfiguration("c", "acme", ("storage",), block_size=D("10.0"), description=template)
    assert one_line(config, "2077", Price(D("0.12"))).description == "Cloud storage October 2026: 208 blocks of 10 GB"


def test_included_quantity_comes_before_ranges() -> None:
    ranges = (Range(D(1000), "GB-1", D("0.10"), D("0.04")), Range(None, "GB-2", D("0.08"), D("0.03")))
    config = BillingConfiguration("c", "acme", ("storage",), ranges=ranges, included=D(200))
    built = build_lines(config, PRODUCTS, {"storage": (D(1500), Explanation())}, {}, {}, OCTOBER)
    assert [(line.cw_product, line.quantity, line.amount) for line in built] == [
        ("GB-1", D(1000), D("100.00")),
        ("GB-2", D(300), D("24.00")),  # 1500 - 200 included = 1300: 1000 to the first range, 300 to the second
    ]
    assert any(
        step.name == "included" and step.detail == "1500 - 200 included = 1300" for step in built[1].explanation.steps
    )


def test_a_range_without_a_price_takes_the_price_list_and_goes_to_zero_when_unreached() -> None:
    ranges = (Range(D(1000), "GB-1"), Range(None, "GB-2", D("0.08")))
    config = BillingConfiguration("c", "acme", ("storage",), ranges=ranges)
    prices = {"storage": Price(D("0.11"), D("0.05"))}
    built = build_lines(config, PRODUCTS, {"storage": (D(700), Explanation())}, prices, {}, OCTOBER)
    assert [(line.cw_product, line.quantity, line.unit_price, line.unit_cost) for line in built] == [
        ("GB-1", D(700), D("0.11"), D("0.05")),
        # listed at 0 (an existing addition goes to 0, it is not cancelled); its own price, the list's cost
        ("GB-2", D(0), D("0.08"), D("0.05")),
    ]
    tiered = {"storage": Price(tiers=(Tier(D(10), D(1)), Tier(None, D(2))))}
    with pytest.raises(
        ConfigurationInvalid, match="range 1 takes its price from the price list of storage, which has tiers"
    ):
        build_lines(config, PRODUCTS, {"storage": (D(700), Explanation())}, tiered, {}, OCTOBER)


def test_no_charge_keeps_the_cost_and_do_not_bill_is_sent_priced() -> None:
    price = Price(D("0.12"), D("0.05"))
    free = one_line(BillingConfiguration("c", "acme", ("storage",), bill_mode=BillMode.NO_CHARGE), "100", price)
    assert (free.unit_price, free.unit_cost, free.amount, free.cost_amount) == (0, D("0.05"), 0, D("5.00"))
    hidden = one_line(BillingConfiguration("c", "acme", ("storage",), bill_mode=BillMode.DO_NOT_BILL), "100", price)
    assert (hidden.bill_customer, hidden.unit_price, hidden.amount, hidden.billed) == (
        BillMode.DO_NOT_BILL,
        D("0.12"),
        D("12.00"),
        0,
    )


def test_one_rounding_for_extended_amounts() -> None:
    assert billed(D("2.5"), D("0.01"), "Billable") == D("0.03")  # half up, as ConnectWise's money rounding
    line = one_line(BillingConfiguration("c", "acme", ("storage",)), "2.5", Price(D("0.01"), places=2))
    assert (line.unit_price, line.amount) == (D("0.01"), D("0.03"))


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        (
            BillingConfiguration("bad", "acme", ("storage",), cw_product="X", ranges=(Range(None, "A"),)),
            "cw_product: each range names its own ConnectWise product",
        ),
        (
            BillingConfiguration(
                "bad", "acme", ("storage",), data_mode=DataMode.QUANTITY_ONLY, ranges=(Range(None, "A", D(1)),)
            ),
            "ranges: range(s) 1 have a price, but quantity only sends no price",
        ),
        (
            BillingConfiguration(
                "bad", "acme", ("storage",), strategy=Strategy.PER_PERIOD, zero_policy=ZeroPolicy.CANCEL
            ),
            "zero_policy: a per-period addition already ends with its period",
        ),
        (
            BillingConfiguration(
                "bad", "acme", ("storage",), ranges=(Range(D(10), "A"), Range(D(5), "B"), Range(None, "C"))
            ),
            "ranges: up_to must be positive and strictly increasing",
        ),
        (BillingConfiguration("bad", "acme", ("storage", "storage")), "products: a product is named twice"),
    ],
)
def test_combinations_that_cannot_be_honoured_are_refused_naming_the_field(
    config: BillingConfiguration, fragment: str
) -> None:
    with pytest.raises(ConfigurationInvalid) as refused:
        validate_configuration(config, PRODUCTS)
    assert fragment in str(refused.value)


def test_unit_price_for_uses_the_price_lists_decimals_when_they_bill_exactly() -> None:
    assert unit_price_for(D("148.15"), D("1234.57"), 2) == D("0.12")  # 148.1484 bills 148.15
    assert unit_price_for(D("140.00"), D(1500), 2) == D("0.093333")  # 0.09333 would land on 139.995
    assert unit_price_for(D("183.00"), D(7), 2) == D("26.143")


# -- the invariant, for random usage and settings ------------------------------------------------

prices = st.decimals(min_value=0, max_value=50, places=3)
usage = st.decimals(min_value=0, max_value=10**6, places=4)


@st.composite
def priced_configurations(draw: st.DrawFn) -> tuple[BillingConfiguration, Price, Decimal]:
    places = draw(st.integers(min_value=2, max_value=4))
    flat = draw(st.decimals(min_value=0, max_value=50, places=places))
    cost = draw(st.decimals(min_value=0, max_value=50, places=places))
    tiers: tuple[Tier, ...] = ()
    if draw(st.booleans()):
        bounds = sorted(set(draw(st.lists(st.integers(min_value=1, max_value=10**5), min_size=1, max_size=3))))
        tiers = tuple(
            Tier(
                D(bound) if bound is not None else None,
                draw(st.decimals(min_value=0, max_value=5, places=places)),
                draw(st.one_of(st.none(), st.decimals(min_value=0, max_value=5, places=places))),
            )
            for bound in [*bounds, None]
        )
    price = Price(flat, cost, tiers, draw(st.sampled_from(list(TierMode))), places)
    config = BillingConfiguration(
        "c",
        "acme",
        ("storage",),
        data_mode=draw(st.sampled_from([DataMode.AVERAGE, DataMode.TOTAL])),
        bill_mode=draw(st.sampled_from(list(BillMode))),
        block_size=draw(st.sampled_from([None, D(1), D(10), D(100), D("0.5")])),
        included=draw(st.sampled_from([D(0), D(50), D("200.5"), D(10**4)])),
    )
    return config, price, draw(usage)


def expected_amounts(config: BillingConfiguration, price: Price, quantity: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    """(units sent, amount, cost) by the rules, computed here from scratch."""
    units = max(D(0), quantity.quantize(D("0.01"), rounding=ROUND_HALF_UP) - config.included)
    sent = units
    if config.block_size is not None:
        sent = (units / config.block_size).to_integral_value(rounding=ROUND_CEILING)
        units = sent * config.block_size
    if not price.tiers:
        per = config.block_size or D(1)
        return sent, round_amount(sent * price.unit_price * per), round_amount(sent * price.unit_cost * per)
    amount = cost = D(0)
    lower = D(0)
    for tier in price.tiers:
        tier_cost = price.unit_cost if tier.unit_cost is None else tier.unit_cost
        if price.tier_mode is TierMode.VOLUME:
            if tier.up_to is None or units <= tier.up_to:
                return sent, round_amount(units * tier.unit_price), round_amount(units * tier_cost)
            continue
        top = units if tier.up_to is None else min(units, tier.up_to)
        amount += max(D(0), top - lower) * tier.unit_price
        cost += max(D(0), top - lower) * tier_cost
        lower = tier.up_to or lower
    return sent, round_amount(amount), round_amount(cost)


@given(priced_configurations())
@settings(max_examples=examples(400))
def test_quantity_times_unit_price_is_the_amount_the_rules_imply(
    case: tuple[BillingConfiguration, Price, Decimal],
) -> None:
    config, price, quantity = case
    line = one_line(config, str(quantity), price)
    sent, amount, cost = expected_amounts(config, price, quantity)
    assert line.cost_amount == cost and line.unit_cost is not None
    assert round_amount(line.quantity * line.unit_cost) == cost
    assert line.unit_price is not None
    if config.bill_mode is BillMode.NO_CHARGE:
        assert (line.unit_price, line.amount) == (0, 0)
        return
    assert line.amount == amount
    assert round_amount(line.quantity * line.unit_price) == amount
    if config.data_mode is DataMode.TOTAL:
        assert (line.quantity, line.unit_price) == (1, amount)
    else:
        assert line.quantity == sent
        # the explanation's last price step names the amount the line bills
        assert any(f"= {amount}" in step.detail for step in line.explanation.steps if step.name in ("price", "tier"))
