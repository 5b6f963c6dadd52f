"""Exact billing through the CLI against cwsim, on SQLite and PostgreSQL: what the preview explains
is what ConnectWise bills, to the cent, for prices, costs, tiers, blocks, ranges and bill modes."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from tests.support.cli_world import (
    Cli,
    amount,
    assert_billed_at_most_once,
    company_scenario,
    is_correction,
    make_cli,
)
from tests.support.contract import ContractLog

D = Decimal


@pytest.fixture
def cli(database_url: str, contract_log: ContractLog, tmp_path: Path) -> Iterator[Cli]:
    scenario = company_scenario(
        6,
        {
            2: {"nextInvoiceDate": "2026-11-01T00:00:00Z", "prorateFlag": False},  # October invoiced
            3: {"nextInvoiceDate": "2026-11-01T00:00:00Z", "prorateFlag": True},  # invoiced, but prorated
            4: {"nextInvoiceDate": "2026-11-01T00:00:00Z", "prorateFlag": False},
            5: {"nextInvoiceDate": "2026-11-01T00:00:00Z", "prorateFlag": False},
            6: {"billStartDate": "2026-10-15T00:00:00Z"},
        },
    )
    yield from make_cli(database_url, contract_log, tmp_path, scenario)


def usage(cli: Cli, *rows: str, name: str = "usage.csv") -> str:
    return cli.file(name, "customer,product,measured_at,quantity,unit\n" + "\n".join(rows) + "\n")


def changes(preview: dict, customer: str) -> list[dict]:  # type: ignore[type-arg]
    return [c for c in preview["changes"] if c["customer"] == customer]


def test_tiers_blocks_costs_and_bill_modes_bill_exactly_what_the_preview_explains(cli: Cli) -> None:
    cli.set_up("C1", "C2", "C3", "C4")
    kept = cli("prices", "set", "server", "--price", "50")
    assert "$50.00 (cost $18.00)" in kept, "a price set without --cost keeps the stored cost"
    tiered = cli("prices", "set", "storage", "--tiers", "1000:0.10,:0.08")  # no --price needed; cost 0.04 kept
    assert "$0.10 (cost $0.04), graduated tiers 1000:0.10,:0.08" in tiered
    cli("configurations", "set", "C1", "C1-storage", "--products", "storage")
    cli("configurations", "set", "C2", "C2-storage", "--products", "storage", "--block-size", "10")
    cli("configurations", "set", "C3", "C3-servers", "--products", "server", "--bill-mode", "DoNotBill")
    cli("configurations", "set", "C4", "C4-servers", "--products", "server", "--bill-mode", "NoCharge")
    cli(
        "usage", "import",
        usage(cli, "C1,storage,2026-10-20T00:00:00Z,1500,GB", "C2,storage,2026-10-20T00:00:00Z,2077,GB",
              "C3,server,2026-10-20T00:00:00Z,3,count", "C4,server,2026-10-20T00:00:00Z,2,count"),
    )  # fmt: skip

    preview = cli.json("preview", "--period", "2026-10")
    [c1] = changes(preview, "C1")
    assert (c1["values"]["quantity"], c1["values"]["unitPrice"], c1["new_amount"]) == ("1500.00", "0.093333", "140.00")
    explained = [step["detail"] for step in c1["explanation"]]
    assert "graduated: 1000 x 0.10 + 500 x 0.08 = 140.00" in explained
    assert any("with 6 decimals" in d and "bills exactly 140.00" in d for d in explained)
    # C2's October is invoiced already (its agreement's next invoice date is November 1): its addition
    # starts in November, and October's amount is billed in November as a correction
    correction, c2 = changes(preview, "C2")
    assert c2["values"]["invoiceDescription"] == "storage: 208 x 10 GB blocks"
    assert c2["values"]["effectiveDate"] == "2026-11-01" and c2["new_amount"] == "0.00"
    assert correction["key"] == "C2/C2-storage/BACKUP-STORAGE-GB/2026-10+2026-11"
    assert (correction["values"]["unitPrice"], correction["new_amount"]) == ("186.40", "186.40")
    human = cli("preview", "--period", "2026-10", "--details")
    assert "1500.00 x $0.093333" in human and "$140.00" in human

    cli("push", "--period", "2026-10", "--checksum", preview["checksum"])
    by_agreement = {a["agreementId"]: a for a in cli.additions() if "Correction" not in a.get("invoiceDescription", "")}
    one, two, three, four = (by_agreement[i] for i in (1, 2, 3, 4))
    [corrected] = [a for a in cli.additions() if a.get("invoiceDescription", "").startswith("Correction for 2026-10")]
    assert (corrected["agreementId"], amount(corrected["extPrice"])) == (2, D("186.40"))
    assert (amount(one["extPrice"]), amount(one["extCost"])) == (D("140.00"), D("60.00"))
    # 208 blocks of 10 GB = 2,080 GB: 1000 x 0.10 + 1080 x 0.08 = 186.40; cost 2080 x 0.04 = 83.20
    assert (amount(two["quantity"]), amount(two["extPrice"]), amount(two["extCost"])) == (208, D("186.40"), D("83.20"))
    assert two["invoiceDescription"] == "storage: 208 x 10 GB blocks"
    explained_two = {step["detail"] for step in c2["explanation"]}
    assert "graduated: 1000 x 0.10 + 1080 x 0.08 = 186.40" in explained_two
    assert (three["billCustomer"], amount(three["unitPrice"]), amount(three["unitCost"])) == ("DoNotBill", 50, 18)
    assert (four["billCustomer"], amount(four["unitPrice"]), amount(four["extCost"])) == ("NoCharge", 0, D("36.00"))
    assert_billed_at_most_once(cli)


def test_included_comes_before_ranges_and_range_prices_come_from_the_price_list(cli: Cli) -> None:
    cli.set_up("C1", "C2")
    refused = cli("prices", "set", "storage", "--price", "0.125", code=2)
    assert "unit_price: 0.125 has 3 decimals but this price keeps 2: set --places 3" in refused
    cli("prices", "set", "storage", "--price", "0.125", "--places", "3")
    cli(
        "configurations", "set", "C1", "C1-storage", "--products", "storage", "--included", "200",
        "--range", "1000:BACKUP-STORAGE-GB", "--range", ":BACKUP-STORAGE-GB-T2:0.08",
    )  # fmt: skip
    wrong = cli(
        "configurations", "set", "C2", "C2-q", "--products", "storage", "--data-mode", "quantity",
        "--range", ":BACKUP-STORAGE-GB:0.1", code=2,
    )  # fmt: skip
    assert "ranges: range(s) 1 have a price, but quantity only sends no price" in wrong
    both = cli(
        "configurations", "set", "C2", "C2-x", "--products", "storage", "--cw-product", "BACKUP-STORAGE-GB",
        "--range", ":BACKUP-STORAGE-GB-T2", code=2,
    )  # fmt: skip
    assert "cw_product: each range names its own ConnectWise product" in both
    cli("usage", "import", usage(cli, "C1,storage,2026-10-20T00:00:00Z,1500,GB"))

    preview = cli.json("preview", "--period", "2026-10")
    steps = {s["detail"] for c in changes(preview, "C1") for s in c["explanation"]}
    assert "1500 - 200 included = 1300" in steps
    cli("push", "--period", "2026-10", "--checksum", preview["checksum"])
    rows = sorted(
        (a["product"]["identifier"], amount(a["quantity"]), amount(a["unitPrice"]), amount(a["extPrice"]))
        for a in cli.additions()
    )
    assert rows == [
        ("BACKUP-STORAGE-GB", 1000, D("0.125"), D("125.00")),  # the price list's price, 3 decimals
        ("BACKUP-STORAGE-GB-T2", 300, D("0.08"), D("24.00")),  # 1,300 billable: 300 above the first range
    ]
    assert {amount(a["unitCost"]) for a in cli.additions()} == {D("0.04")}, "costs from the price list"


def test_backup_stats_send_nothing_for_a_customer_whose_push_is_disabled(cli: Cli) -> None:
    cli.set_up("C1", "C2")
    cli("customers", "add", "C1", "--managed-id", "1001")
    cli("customers", "add", "C2", "--managed-id", "1002")
    disabled = cli("customers", "add", "C2", "--no-push")
    assert "push disabled, Managed ID 1002" in disabled, "changing one option keeps the others"
    cli(
        "usage", "import", usage(cli, "C1,storage,2026-10-20T00:00:00Z,100,GB", "C2,storage,2026-10-20T00:00:00Z,90,GB")
    )
    published = cli.json("backup-stats", "--period", "2026-10")
    assert published["created"] == ["C1"]
    assert published["skipped"] == {"C2": "push is disabled for this customer: nothing is sent"}
    devices = [c["deviceIdentifier"] for c in cli.sim.state.collections["configurations"].by_id.values()]
    assert devices == ["1001"]


def test_one_rounding_for_extended_amounts(cli: Cli) -> None:
    cli.set_up("C1")
    cli(
        "products",
        "set",
        "restores",
        "--kind",
        "traffic",
        "--unit",
        "GB",
        "--basis",
        "sum",
        "--cw-product",
        "BACKUP-STORAGE-GB",
    )
    cli("prices", "set", "restores", "--price", "0.01")
    cli("configurations", "set", "C1", "C1-restores", "--products", "restores")
    cli("usage", "import", usage(cli, "C1,restores,2026-10-20T00:00:00Z,2.5,GB"))
    preview = cli.json("preview", "--period", "2026-10")
    assert changes(preview, "C1")[0]["new_amount"] == "0.03"  # 2.5 x 0.01 = 0.025, half up
    cli("push", "--period", "2026-10", "--checksum", preview["checksum"])
    [addition] = cli.additions()
    assert amount(addition["extPrice"]) == D("0.03"), "ConnectWise bills what the preview said"


def test_already_invoiced_periods_and_billing_start_dates_follow_the_policies(cli: Cli) -> None:
    cli.set_up("C1", "C2", "C3", "C4", "C5", "C6")
    cli("configurations", "set", "C2", "C2-storage", "--products", "storage")  # running: moved to the invoice date
    cli("configurations", "set", "C3", "C3-storage", "--products", "storage")  # prorated: as usual
    cli("configurations", "set", "C4", "C4-m365", "--products", "m365", "--strategy", "per_period")
    cli("configurations", "set", "C5", "C5-storage", "--products", "storage", "--invoiced-policy", "block")
    cli("configurations", "set", "C6", "C6-storage", "--products", "storage", "--bill-start-policy", "block")
    cli(
        "usage", "import",
        usage(cli, *(f"C{i},storage,2026-10-20T00:00:00Z,{100 + i},GB" for i in (2, 3, 5, 6)),
              "C4,m365,2026-10-20T00:00:00Z,7,count"),
    )  # fmt: skip
    preview = cli.json("preview", "--period", "2026-10")
    # October is invoiced on agreements 2 to 5 (the default invoiced_policy adjust): a running line's
    # addition starts on the next invoice date, and October's own amount is a correction in November
    correction, moved = changes(preview, "C2")
    assert moved["values"]["effectiveDate"] == "2026-11-01"
    assert "moved from 2026-10-01 to the next invoice date 2026-11-01" in moved["warnings"][0]
    assert (correction["values"]["unitPrice"], correction["values"]["effectiveDate"]) == ("10.20", "2026-11-01")
    prorated = changes(preview, "C3")  # prorated: ConnectWise takes October 1 but never invoices October again
    assert [c["values"]["effectiveDate"] for c in prorated] == ["2026-11-01", "2026-11-01"]
    [per_period] = changes(preview, "C4")  # a per-period line of an invoiced month: all of it a correction
    assert per_period["key"] == "C4/C4-m365/BACKUP-M365-USER/2026-10+2026-11"
    assert per_period["values"]["invoiceDescription"].startswith("Correction for 2026-10: +24.50")  # 7 x 3.50
    assert (
        "bill it as a correction from the next invoice date (invoiced_policy adjust)"
        in changes(preview, "C5")[0]["reason"]
    )
    assert "allow clamping (bill_start_policy clamp)" in changes(preview, "C6")[0]["reason"]
    human = cli("preview", "--period", "2026-10")
    assert "next invoice date 2026-11-01" in human

    pushed = cli.json("push", "--period", "2026-10", "--checksum", preview["checksum"], code=4)  # 2 blocked
    assert pushed["totals"]["writes"] == {"planned": 5, "landed": 5, "failed": 0}
    starts = {(a["agreementId"], is_correction(a)): a["effectiveDate"][:10] for a in cli.additions()}
    assert starts == {
        (2, False): "2026-11-01", (2, True): "2026-11-01", (3, False): "2026-11-01", (3, True): "2026-11-01",
        (4, True): "2026-11-01",
    }, "ConnectWise accepted them all; nothing for the blocked ones"  # fmt: skip
    # cwsim invoices November: each October is billed once, as the preview said, by its correction
    made = cli.invoice("2026-11")
    october = {i["applyToId"]: [line["amount"] for line in i["lines"] if line["description"].startswith("Correction")]
               for i in made}  # fmt: skip
    assert october[2] == [10.2] and october[3] == [10.3] and october[4] == [24.5]
