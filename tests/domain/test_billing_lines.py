"""Billing configurations to desired lines: the reference documents' cases as worked examples."""

from __future__ import annotations

from decimal import Decimal

import pytest

from meterbridge.domain.billing import (
    BillingConfiguration,
    BillMode,
    DataMode,
    Product,
    ProductKind,
    Strategy,
    build_lines,
    validate_configuration,
)
from meterbridge.domain.description import DescriptionTemplate
from meterbridge.domain.errors import ConfigurationInvalid
from meterbridge.domain.explanation import Explanation
from meterbridge.domain.periods import Period
from meterbridge.domain.pricing import Price, Range
from meterbridge.domain.units import Unit

D = Decimal
OCTOBER = Period(2026, 10)
PRODUCTS = {
    "storage": Product("storage", "Cloud storage", ProductKind.STORAGE, Unit.GB, cw_product="BACKUP-GB"),
    "server": Product("server", "Server license", ProductKind.LICENSE, Unit.COUNT, cw_product="BACKUP-SERVER"),
    "workstation": Product(
        "workstation", "Workstation license", ProductKind.LICENSE, Unit.COUNT, cw_product="BACKUP-WS"
    ),
}
PRICES = {
    "storage": Price(D("0.12"), D("0.05")),
    "server": Price(D("45"), D("18")),
    "workstation": Price(D("12"), D("4.5")),
}
USAGE = {
    "storage": (D("1234.567"), Explanation()),
    "server": (D(3), Explanation()),
    "workstation": (D(10), Explanation()),
}


def lines(config: BillingConfiguration, overrides: dict[tuple[str, str], Price] | None = None) -> list[tuple]:
    built = build_lines(config, PRODUCTS, USAGE, PRICES, overrides or {}, OCTOBER)
    return [
        (line.cw_product, line.quantity, line.unit_price, line.unit_cost, line.bill_customer.value, line.amount)
        for line in built
    ]


@pytest.mark.parametrize(
    ("name", "config", "expected"),
    [
        # configuration -> (CW product, quantity, unit price, unit cost, billCustomer, amount)
        (
            "storage, average",
            BillingConfiguration("c1", "acme", ("storage",)),
            [("BACKUP-GB", D("1234.57"), D("0.12"), D("0.05"), "Billable", D("148.15"))],
        ),
        (
            "licenses, average of two products (weighted)",
            BillingConfiguration("c2", "acme", ("server", "workstation"), cw_product="BACKUP-LIC"),
            # 3 x 45 + 10 x 12 = 255.00: 19.62 would bill 255.06, so the unit price keeps 4 decimals
            # (13 x 19.6154 = 255.0002); the cost the same: 99.00 / 13 -> 7.6154
            [("BACKUP-LIC", D(13), D("19.6154"), D("7.6154"), "Billable", D("255.00"))],
        ),
        (
            "licenses, total: quantity 1",
            BillingConfiguration(
                "c3", "acme", ("server", "workstation"), cw_product="BACKUP-LIC", data_mode=DataMode.TOTAL
            ),
            [("BACKUP-LIC", D(1), D("255.00"), D("99.00"), "Billable", D("255.00"))],
        ),
        (
            "storage and licenses together: total only",
            BillingConfiguration(
                "c4", "acme", ("storage", "server"), cw_product="BACKUP-ALL", data_mode=DataMode.TOTAL
            ),
            [("BACKUP-ALL", D(1), D("283.15"), D("115.73"), "Billable", D("283.15"))],
        ),
        (
            "quantity only: ConnectWise's product price applies",
            BillingConfiguration("c5", "acme", ("server",), data_mode=DataMode.QUANTITY_ONLY),
            [("BACKUP-SERVER", D(3), None, None, "Billable", D(0))],
        ),
        (
            "no charge: on the invoice at 0",
            BillingConfiguration("c6", "acme", ("server",), bill_mode=BillMode.NO_CHARGE),
            [("BACKUP-SERVER", D(3), D(0), D("18.00"), "NoCharge", D("0.00"))],
        ),
        (
            "do not bill: sent with billCustomer DoNotBill, priced, never invoiced",
            BillingConfiguration("c7", "acme", ("server",), bill_mode=BillMode.DO_NOT_BILL),
            [("BACKUP-SERVER", D(3), D(45), D(18), "DoNotBill", D("135.00"))],
        ),
        (
            "push disabled for the company: nothing is sent",
            BillingConfiguration("c8", "acme", ("server",), enabled=False),
            [],
        ),
        (
            "block size 100 GB, rounded up",
            BillingConfiguration("c9", "acme", ("storage",), block_size=D(100)),
            [("BACKUP-GB", D(13), D("12.00"), D("5.00"), "Billable", D("156.00"))],
        ),
        (
            "included 1000 GB",
            BillingConfiguration("c10", "acme", ("storage",), included=D(1000)),
            [("BACKUP-GB", D("234.57"), D("0.12"), D("0.05"), "Billable", D("28.15"))],
        ),
        (
            "GB ranges to their own products",
            BillingConfiguration(
                "c11",
                "acme",
                ("storage",),
                ranges=(
                    Range(D(1000), "BACKUP-GB", D("0.12"), D("0.05")),
                    Range(None, "BACKUP-GB-T2", D("0.09"), D("0.03")),
                ),
            ),
            [
                ("BACKUP-GB", D(1000), D("0.12"), D("0.05"), "Billable", D("120.00")),
                ("BACKUP-GB-T2", D("234.57"), D("0.09"), D("0.03"), "Billable", D("21.11")),
            ],
        ),
    ],
)
def test_reference_cases(name: str, config: BillingConfiguration, expected: list[tuple]) -> None:
    assert lines(config) == expected, name


def test_customer_price_override_wins() -> None:
    config = BillingConfiguration("c", "acme", ("server",))
    assert lines(config, {("acme", "server"): Price(D(40), D(18))})[0][2] == D(40)
    assert lines(config, {("other", "server"): Price(D(40), D(18))})[0][2] == D(45)


def test_unset_price_is_zero_and_explained() -> None:
    products = {**PRODUCTS, "m365": Product("m365", "M365 user", ProductKind.LICENSE, Unit.COUNT, cw_product="M365")}
    [line] = build_lines(
        BillingConfiguration("c", "acme", ("m365",)), products, {"m365": (D(25), Explanation())}, PRICES, {}, OCTOBER
    )
    assert line.unit_price == 0
    assert any("no price set" in step.detail for step in line.explanation.warnings)


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        (
            BillingConfiguration("bad", "acme", ("storage", "server"), cw_product="X"),
            "data_mode: storage and licenses in one configuration can only be billed as total",
        ),
        (
            BillingConfiguration(
                "bad", "acme", ("storage", "server"), cw_product="X", data_mode=DataMode.QUANTITY_ONLY
            ),
            "data_mode: storage and licenses",
        ),
        (BillingConfiguration("bad", "acme", ()), "products: choose at least one"),
        (BillingConfiguration("bad", "acme", ("tape",)), "products: unknown product(s) tape"),
        (BillingConfiguration("bad", "acme", ("server", "workstation")), "cw_product: choose the ConnectWise product"),
        (BillingConfiguration("bad", "acme", ("storage",), block_size=D(0)), "block_size: must be positive"),
        (
            BillingConfiguration(
                "bad",
                "acme",
                ("storage", "server"),
                cw_product="X",
                data_mode=DataMode.TOTAL,
                ranges=(Range(None, "A"),),
            ),
            "ranges",
        ),
    ],
)
def test_configuration_errors_name_the_field(config: BillingConfiguration, fragment: str) -> None:
    with pytest.raises(ConfigurationInvalid) as refused:
        validate_configuration(config, PRODUCTS)
    assert fragment in str(refused.value)
    assert str(refused.value).startswith("configuration bad: ")


def test_line_keys_are_stable_identities() -> None:
    running = build_lines(BillingConfiguration("c", "acme", ("server",)), PRODUCTS, USAGE, PRICES, {}, OCTOBER)[0]
    assert str(running.key) == "acme/c/BACKUP-SERVER/running"
    per_period = build_lines(
        BillingConfiguration("c", "acme", ("server",), strategy=Strategy.PER_PERIOD),
        PRODUCTS,
        USAGE,
        PRICES,
        {},
        OCTOBER,
    )[0]
    assert str(per_period.key) == "acme/c/BACKUP-SERVER/2026-10"


def test_descriptions_from_template_or_connectwise() -> None:
    plain = build_lines(BillingConfiguration("c", "acme", ("storage",)), PRODUCTS, USAGE, PRICES, {}, OCTOBER)[0]
    assert plain.description is None  # ConnectWise's product description is used
    template = DescriptionTemplate("{product} for {month} ({period}): {quantity} {unit}, {customer}")
    line = build_lines(
        BillingConfiguration("c", "acme", ("storage",), description=template), PRODUCTS, USAGE, PRICES, {}, OCTOBER
    )[0]
    assert line.description == "Cloud storage for October 2026 (2026-10): 1234.57 GB, acme"
    with pytest.raises(ConfigurationInvalid, match=r"unknown placeholder\(s\) \{colour\}"):
        DescriptionTemplate("{colour}")
    with pytest.raises(ConfigurationInvalid, match="description"):
        DescriptionTemplate("{unclosed")


def test_explanation_walks_every_step() -> None:
    config = BillingConfiguration("c", "acme", ("storage",), included=D(200), block_size=D(100))
    [line] = build_lines(config, PRODUCTS, USAGE, PRICES, {}, OCTOBER)
    names = [step.name for step in line.explanation.steps]
    assert names == [
        "usage", "rounding", "included", "blocks", "blocks", "price", "unit price", "unit cost", "description"
    ]  # fmt: skip
    assert line.explanation.lines()[1:4] == [
        "- rounding: 1234.567 GB billed as 1234.57 (2 decimals, half up)",
        "- included: 1234.57 - 200 included = 1034.57",
        "- blocks: 1034.57 GB in blocks of 100 GB: 11 block(s) of 100 GB",
    ]
    assert line.explanation.lines()[4] == "- blocks: a block of 100 costs 100 x 0.12 = 12 (cost 100 x 0.05 = 5)"
    assert line.explanation.lines()[5] == "- price: 11 x 12.00 = 132.00 (cost 11 x 5.00 = 55.00)"
    assert line.explanation.lines()[-1] == "- description: invoice description: Cloud storage: 11 x 100 GB blocks"
