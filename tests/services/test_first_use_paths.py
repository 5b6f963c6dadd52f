"""What a new user tried first, through the CLI against cwsim on SQLite and PostgreSQL: bad input
is refused with the field and what to do (never a traceback, nothing stored), an option taken
away is taken away in ConnectWise too, and an open month without usage yet wipes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.cli_world import Cli, amount, company_scenario, make_cli
from tests.support.contract import ContractLog


@pytest.fixture
def cli(database_url: str, contract_log: ContractLog, tmp_path: Path) -> Iterator[Cli]:
    yield from make_cli(database_url, contract_log, tmp_path, company_scenario(2))


def test_samples_that_cannot_be_measurements_are_refused_and_nothing_is_stored(cli: Cli) -> None:
    cli.set_up("C1")
    at = ("--at", "2026-10-20T00:00:00Z")
    for args, said in (
        (["storage", "5", "parsecs"], "unit: unknown unit 'parsecs'"),
        (["storage", "-5", "GB"], "quantity: -5 cannot be negative"),
        (["server", "2.5", "count"], "quantity: 2.5 count is not a whole number"),
    ):
        refused = cli("usage", "add", *at, "--", "C1", *args, code=2)
        assert said in refused and "Traceback" not in refused
    future = cli("usage", "add", "C1", "storage", "5", "GB", "--at", "2030-01-01T00:00:00Z", code=2)
    assert "measured_at: 2030-01-01T00:00:00+00:00 is in the future" in future
    assert "stored" in cli("usage", "add", "C1", "storage", "5", "gb", *at), "a unit's case does not matter"
    assert [s["unit"] for s in cli.json("usage", "list")] == ["GB"]
    assert "product 'nosuch' does not exist" in cli("usage", "list", "--product", "nosuch", code=2)


def test_a_product_change_that_its_samples_or_configurations_cannot_bear_is_refused(cli: Cli) -> None:
    cli.set_up("C1")
    cli("configurations", "set", "C1", "C1-servers", "--products", "server")
    cli("usage", "add", "C1", "server", "3", "count", "--at", "2026-10-20T00:00:00Z")
    refused = cli("products", "set", "server", "--unit", "GB", code=2)
    assert "unit: samples of server are stored in count, which GB cannot measure" in refused
    assert cli.json("products", "list")[1]["unit"] == "count", "nothing changed"
    assert cli.json("preview", "--period", "2026-10")["counts"]["create"] == 1, "billing goes on"


def test_a_description_taken_away_gives_the_invoice_back_the_products_own(cli: Cli) -> None:
    cli.set_up("C1")
    cli("configurations", "set", "C1", "C1-storage", "--products", "storage", "--block-size", "10")
    cli("usage", "add", "C1", "storage", "1495", "GB", "--at", "2026-10-20T00:00:00Z")
    cli("push", "--period", "2026-10", "--force")
    assert cli.additions()[0]["invoiceDescription"] == "storage: 150 x 10 GB blocks"
    cli("configurations", "set", "C1", "C1-storage", "--clear", "block_size")
    preview = cli.json("preview", "--period", "2026-10")
    [change] = [c for c in preview["changes"] if c["customer"] == "C1"]
    fields = {f["field"]: f["new"] for f in change["fields"]}
    assert fields["invoiceDescription"] == "Backup-Storage-Gb", "the catalog item's own text"
    cli("push", "--period", "2026-10", "--checksum", preview["checksum"])
    [addition] = cli.additions()
    assert (amount(addition["quantity"]), addition["invoiceDescription"]) == (1495, "Backup-Storage-Gb")
    assert cli.json("preview", "--period", "2026-10")["counts"]["noop"] == 1, "and it stays so"


def test_an_open_month_without_usage_yet_leaves_every_line_as_it_is(cli: Cli) -> None:
    cli.set_up("C1", "C2")
    for customer in ("C1", "C2"):
        cli("configurations", "set", customer, f"{customer}-storage", "--products", "storage")
        cli("usage", "add", customer, "storage", "100", "GB", "--at", "2026-10-20T00:00:00Z")
    cli("push", "--period", "2026-10", "--force")
    cli("usage", "add", "C1", "storage", "120", "GB", "--at", "2026-11-02T00:00:00Z")  # C2: nothing yet
    november = cli.json("preview", "--period", "2026-11")
    by_customer = {c["customer"]: c for c in november["changes"]}
    assert by_customer["C1"]["kind"] == "update"
    assert by_customer["C2"]["kind"] == "noop" and "has no usage samples for C2 yet" in by_customer["C2"]["reason"]
    cli("push", "--period", "2026-11", "--checksum", november["checksum"])
    assert sorted(amount(a["quantity"]) for a in cli.additions()) == [100, 120], "C2 keeps October's, not 0"


def test_periods_names_and_checksums_that_cannot_be_right_are_refused(cli: Cli) -> None:
    cli.set_up("C1")
    cli("customers", "add", "C1", "--managed-id", "1001")
    for command in (["backup-stats"], ["leaks"], ["doctor"], ["preview"]):
        refused = cli(*command, "--period", "2027-05", code=2)
        assert "period: 2027-05 has not started yet" in refused, command
    assert "customer(s) nosuch do not exist" in cli("preview", "--period", "2026-10", "--customer", "nosuch", code=2)
    assert "is not a plan's checksum" in cli("push", "--period", "2026-10", "--checksum", "abc", code=2)
    both = cli("push", "--period", "2026-10", "--checksum", "0" * 64, "--force", code=2)
    assert "either the reviewed plan (its checksum) or what is planned now (force), not both" in both


def test_an_error_with_json_is_json(cli: Cli) -> None:
    cli.set_up("C1")
    output = cli("--json", "prices", "set", "storage", "--price", "0.125", code=2)
    body = json.loads(output[output.index("{") :])
    assert body["error"]["kind"] == "invalid_input" and body["error"]["field"] == "unit_price"
    assert body["error"]["action"] == "prices.places" and body["error"]["params"] == {"places": "3"}


def test_a_database_meterbridge_cannot_use_is_a_message_not_a_traceback(cli: Cli) -> None:
    cli.env["MBRIDGE_DATABASE_URL"] = "mysql://someone@127.0.0.1:1/db"
    refused = cli("customers", "list", code=1)
    assert "database mysql://someone@127.0.0.1:1/db" in refused and "SQLite (sqlite:///PATH) or PostgreSQL" in refused
    assert "Traceback" not in refused
