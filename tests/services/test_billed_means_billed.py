"""Billed means billed (issue 27): the four paths a new user found, replayed through the CLI
against cwsim on SQLite and PostgreSQL, with cwsim invoicing the months as ConnectWise would.
Every month is invoiced once and exactly as the rules say, and every amount the preview shows is
what ConnectWise invoices."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.support.cli_world import Cli, company_scenario, make_cli
from tests.support.contract import ContractLog

from cwsim.resources import BY_KEY

D = Decimal


@pytest.fixture
def cli(database_url: str, contract_log: ContractLog, tmp_path: Path) -> Iterator[Cli]:
    yield from make_cli(database_url, contract_log, tmp_path, company_scenario(5))


def usage(cli: Cli, *rows: str) -> None:
    cli("usage", "import", cli.file("usage.csv", "customer,product,measured_at,quantity,unit\n" + "\n".join(rows)))


def of(preview: dict[str, Any], customer: str) -> list[dict[str, Any]]:
    return [c for c in preview["changes"] if c["customer"] == customer]


def after(preview: dict[str, Any], customer: str) -> Decimal:
    """What the preview says ConnectWise will invoice for the customer's lines in the period."""
    return sum((D(c["new_amount"]) for c in of(preview, customer)), D(0))


def invoiced(invoices: list[dict[str, Any]], agreement: int, period: str = "2026-10") -> Decimal:
    """What the agreement's invoice for ``period`` came to."""
    lines = [line for i in invoices if (i["applyToId"], i["period"]) == (agreement, period) for line in i["lines"]]
    return sum((D(str(line["amount"])) for line in lines), D(0))


def hand_made(cli: Cli, agreement: int, quantity: int) -> int:
    """An addition made by hand in ConnectWise: BACKUP-STORAGE-GB from October 1."""
    body = {
        "product": {"identifier": "BACKUP-STORAGE-GB"},
        "quantity": quantity,
        "billCustomer": "Billable",
        "effectiveDate": "2026-10-01T00:00:00Z",
    }
    made: dict[str, Any] = cli.sim.records.create(BY_KEY["additions"], body, agreement, actor="ann")
    return int(made["id"])


def test_replaced_configurations_zero_months_invoiced_months_and_hand_made_additions_bill_once(cli: Cli) -> None:
    cli.set_up("C1", "C2", "C3", "C4", "C5")
    cli("configurations", "set", "C1", "C1-servers", "--products", "server")
    cli("configurations", "set", "C1", "C1-storage", "--products", "storage")
    cli("configurations", "set", "C2", "C2-storage", "--products", "storage", "--zero-policy", "cancel")
    cli("configurations", "set", "C3", "C3-storage", "--products", "storage", "--strategy", "per_period")
    cli("configurations", "set", "C4", "C4-storage", "--products", "storage")
    cli("configurations", "set", "C5", "C5-storage", "--products", "storage")
    usage(
        cli,
        "C2,storage,2026-09-15T00:00:00Z,100,GB",  # September only: October has no usage
        "C1,server,2026-10-20T00:00:00Z,5,count",
        "C1,storage,2026-10-20T00:00:00Z,392,GB",
        "C3,storage,2026-10-20T00:00:00Z,90,GB",
        "C4,storage,2026-10-20T00:00:00Z,120,GB",
        "C5,storage,2026-10-20T00:00:00Z,120,GB",
    )
    cli("push", "--period", "2026-09", "--force")
    theirs_c4, theirs_c5 = hand_made(cli, 4, 50), hand_made(cli, 5, 50)

    # 4. a create beside an addition nobody owns holds the company, named, until adopted or acknowledged
    preview = cli.json("preview", "--period", "2026-10")
    [held] = of(preview, "C4")
    assert held["kind"] == "blocked" and f"addition {theirs_c4}" in held["reason"]
    assert f"configurations set C4 C4-storage --adopt {theirs_c4}" in held["reason"]
    assert "--beside" in held["reason"]
    cli("configurations", "set", "C4", "C4-storage", "--adopt", str(theirs_c4))
    cli("configurations", "set", "C5", "C5-storage", "--beside", str(theirs_c5))
    preview = cli.json("preview", "--period", "2026-10")
    [adopted] = of(preview, "C4")
    assert (adopted["kind"], adopted["addition_id"]) == ("update", theirs_c4)
    assert (adopted["old_amount"], adopted["new_amount"]) == ("6.00", "12.00")  # 50 x 0.12 (catalog) -> 120 x 0.10
    [beside] = of(preview, "C5")
    assert beside["kind"] == "create"

    # 2. zero policy cancel: September's addition is cancelled on September 30, October is not billed
    [zero] = of(preview, "C2")
    assert zero["kind"] == "cancel" and zero["fields"][0]["new"] == "2026-09-30"
    assert (zero["old_amount"], zero["new_amount"]) == ("10.00", "0.00")
    # its line falls to nothing (max_quantity_drop holds C2): approved with the plan, by its checksum
    cli("push", "--period", "2026-10", "--checksum", preview["checksum"], "--approve-held")

    # 1. configurations replaced: the bundle takes the servers addition over and the storage one
    #    (its first month is October) goes to 0; nothing is billed twice
    cli("configurations", "delete", "C1-servers")
    cli("configurations", "delete", "C1-storage")
    cli(
        "configurations", "set", "C1", "C1-bundle", "--products", "storage,server", "--cw-product", "BACKUP-SERVER",
        "--data-mode", "total",
    )  # fmt: skip
    replaced = cli.json("preview", "--period", "2026-10")
    kinds = {c["cw_product"]: (c["kind"], c["reason"]) for c in of(replaced, "C1")}
    assert kinds["BACKUP-SERVER"][0] == "update"
    assert kinds["BACKUP-STORAGE-GB"][0] == "update" and "quantity goes to 0" in kinds["BACKUP-STORAGE-GB"][1]
    assert after(replaced, "C1") == D("264.20")  # 5 x 45 + 392 x 0.10, once
    human = cli("preview", "--period", "2026-10", "--customer", "C1")
    assert "$264.20" in human
    # the servers' addition, taken over, goes from 5 to 1 (the bundle's total): C1 is held until approved
    cli("push", "--period", "2026-10", "--checksum", replaced["checksum"], "--approve-held")

    again = cli.json("preview", "--period", "2026-10")
    assert {c["kind"] for c in again["changes"]} == {"noop"}, "nothing left to write"
    october = cli.invoice("2026-10")
    assert invoiced(october, 1) == after(again, "C1") == D("264.20")
    assert invoiced(october, 2) == after(again, "C2") == 0
    assert invoiced(october, 3) == after(again, "C3") == D("9.00")
    assert invoiced(october, 4) == after(again, "C4") == D("12.00")
    assert invoiced(october, 5) == D("18.00"), "ours, and theirs beside it, acknowledged"  # 12.00 + 50 x 0.12
    assert after(again, "C5") == D("12.00")

    # 3. late usage for an invoiced October: a correction in November, never an edit of October
    usage(cli, "C3,storage,2026-10-25T00:00:00Z,130,GB")
    late = cli.json("preview", "--period", "2026-10")
    kept, correction = of(late, "C3")  # in line-key order: 2026-10, then its correction 2026-10+2026-11
    assert kept["kind"] == "noop" and "stays as ConnectWise invoiced it" in kept["reason"]
    assert correction["kind"] == "create" and correction["key"].endswith("/2026-10+2026-11")
    assert correction["values"]["invoiceDescription"].startswith("Correction for 2026-10: +4.00")
    assert correction["new_amount"] == "4.00"
    cli("push", "--period", "2026-10", "--checksum", late["checksum"])
    assert {c["kind"] for c in of(cli.json("preview", "--period", "2026-10"), "C3")} == {"noop"}, "once"
    november = cli.invoice("2026-11")
    corrections = [line for i in november if i["applyToId"] == 3 for line in i["lines"]]
    assert [(line["description"][:27], line["amount"]) for line in corrections] == [
        ("Correction for 2026-10: +4.", 4.0)
    ]
    assert invoiced(october, 3) + D("4.00") == D("13.00"), "October billed 130 GB in all, once"
