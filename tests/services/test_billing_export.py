"""The billing export and the history in money, through the CLI against cwsim, on SQLite and
PostgreSQL: each month's lines as ConnectWise invoices them (cwsim's own invoices are the oracle),
their totals equal to the run's, the file read back as CSV and as an XLSX workbook (openpyxl, one
sheet per month); bad input named by its field; and ``runs show`` / ``runs list`` as people read them."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from tests.support.cli_world import Cli, company_scenario, make_cli
from tests.support.contract import ContractLog

from cwsim.faults import FaultRule
from meterbridge.services.billing_export import COLUMNS

D = Decimal
REPR = ("{'", "Decimal(", "None", "datetime.")


@pytest.fixture
def cli(database_url: str, contract_log: ContractLog, tmp_path: Path) -> Iterator[Cli]:
    yield from make_cli(database_url, contract_log, tmp_path, company_scenario(4))


def usage(cli: Cli, *rows: str, name: str = "usage.csv") -> str:
    return cli.file(name, "customer,product,measured_at,quantity,unit\n" + "\n".join(rows) + "\n")


def two_months(cli: Cli) -> tuple[dict[str, Any], dict[str, Any], dict[int, Decimal]]:
    """October and November pushed, October invoiced by cwsim in between: the two pushes, and what
    October's invoices charge by addition."""
    cli.set_up("C1", "C2", "C3", "C4")
    cli("settings", "set", "max_changed_fraction=off")  # November changes C1's line: one in three
    cli("configurations", "set", "C1", "C1-storage", "--products", "storage")
    cli("configurations", "set", "C2", "C2-storage", "--products", "storage", "--block-size", "10")
    cli("configurations", "set", "C3", "C3-servers", "--products", "server", "--bill-mode", "DoNotBill")
    cli("configurations", "set", "C4", "C4-m365", "--products", "m365", "--bill-mode", "NoCharge", "--strategy",
        "per_period")  # fmt: skip
    cli(
        "usage", "import",
        usage(cli, "C1,storage,2026-10-20T00:00:00Z,1500,GB", "C2,storage,2026-10-20T00:00:00Z,2077,GB",
              "C3,server,2026-10-20T00:00:00Z,3,count", "C4,m365,2026-10-20T00:00:00Z,7,count"),
    )  # fmt: skip
    october = cli.json("push", "--period", "2026-10", "--force")
    charged = invoiced(cli, "2026-10")
    cli.advance(days=30)  # December 3rd: November is over
    cli(
        "usage", "import",
        usage(cli, "C1,storage,2026-11-20T00:00:00Z,1600,GB", "C2,storage,2026-11-20T00:00:00Z,2077,GB",
              "C3,server,2026-11-20T00:00:00Z,3,count", "C4,m365,2026-11-20T00:00:00Z,7,count", name="november.csv"),
    )  # fmt: skip
    november = cli.json("push", "--period", "2026-11", "--force")
    return october, november, charged


def invoiced(cli: Cli, month: str) -> dict[int, Decimal]:
    """cwsim invoices ``month``: what its invoices charge, by addition."""
    return {line["additionId"]: D(str(line["amount"])) for invoice in cli.invoice(month) for line in invoice["lines"]}


def test_the_export_has_each_months_lines_as_connectwise_invoices_them_and_the_runs_totals(
    cli: Cli, tmp_path: Path
) -> None:
    october, november, october_charged = two_months(cli)
    workbook = tmp_path / "billing.xlsx"
    summary = cli.json(
        "billing", "export", "--period", "2026-10", "--to", "2026-11", "--format", "xlsx", "--output", str(workbook)
    )
    assert [(m["period"], m["run"]) for m in summary["months"]] == [
        ("2026-10", october["run"]),
        ("2026-11", november["run"]),
    ]
    assert [m["billed"] for m in summary["months"]] == [
        october["totals"]["billed_after"],
        november["totals"]["billed_after"],
    ]
    assert (summary["file"], summary["missing"]) == (str(workbook), [])

    book = load_workbook(workbook)
    assert book.sheetnames == ["2026-10", "2026-11"], "one sheet per month"
    sheets = {}
    for name in book.sheetnames:
        rows = [[cell.value for cell in row] for row in book[name].iter_rows()]
        assert tuple(rows[0]) == COLUMNS
        records = [dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]]
        *lines, total = records
        assert total["row"] == "total" and all(line["row"] == "line" for line in lines)
        billed = sum((money(line["amount"]) for line in lines), D(0))
        assert billed == money(total["amount"]) == D(summary["months"][len(sheets)]["billed"])
        assert money(total["cost"]) == sum((money(line["cost"]) for line in lines), D(0))
        assert money(total["margin"]) == billed - money(total["cost"])
        sheets[name] = {line["customer"]: line for line in lines}
        assert book[name]["L2"].number_format.startswith('"$"#,##0.00'), "money is shown as money"

    oct_ = sheets["2026-10"]
    # 1,500 GB at 0.10 (cost 0.04); 208 blocks of 10 GB at 1.00 (cost 0.40); 3 servers DoNotBill (cost
    # 18 each, never invoiced); 7 users NoCharge (on the invoice at nothing, cost 1.20 each)
    found = [(c, D(str(line["quantity"])), money(line["amount"]), money(line["cost"])) for c, line in oct_.items()]
    assert sorted(found) == [
        ("C1", D(1500), D("150.00"), D("60.00")),
        ("C2", D(208), D("208.00"), D("83.20")),
        ("C3", D(3), D("0.00"), D("54.00")),
        ("C4", D(7), D("0.00"), D("8.40")),
    ]  # fmt: skip
    assert money(oct_["C1"]["margin"]) == D("90.00") and money(oct_["C3"]["margin"]) == D("-54.00")
    assert (oct_["C3"]["bill_customer"], oct_["C4"]["bill_customer"]) == ("DoNotBill", "NoCharge")
    assert money(october["totals"]["billed_after"]) == D("358.00")
    owned = {a["id"]: a for a in cli.additions()}
    assert {line["addition"] for line in oct_.values()} <= set(owned), "each line names its ConnectWise addition"

    # what cwsim invoices, addition by addition, is what the export says (an addition not on the invoice: 0)
    for month, sheet, charged in (
        ("2026-10", oct_, october_charged),
        ("2026-11", sheets["2026-11"], invoiced(cli, "2026-11")),
    ):
        for line in sheet.values():
            assert money(line["amount"]) == charged.get(line["addition"], D(0)), (month, line)
    nov = sheets["2026-11"]
    assert (D(str(nov["C1"]["quantity"])), money(nov["C1"]["amount"])) == (D(1600), D("160.00"))
    assert nov["C1"]["addition"] == oct_["C1"]["addition"], "a running line stays on its addition"

    # the same months as CSV: parsed back, the same lines and totals
    out = tmp_path / "billing.csv"
    cli("billing", "export", "--period", "2026-10", "--to", "2026-11", "--output", str(out))
    parsed = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert tuple(parsed[0]) == COLUMNS
    for month, sheet in sheets.items():
        rows = [r for r in parsed if r["period"] == month]
        *lines, total = rows
        assert total["row"] == "total"
        assert (
            D(total["amount"])
            == sum((D(r["amount"]) for r in lines), D(0))
            == money(sum((money(line["amount"]) for line in sheet.values()), D(0)))
        )
        assert {r["customer"]: D(r["amount"]) for r in lines} == {c: money(v["amount"]) for c, v in sheet.items()}


def money(value: Any) -> Decimal:
    """A money cell (a float in the workbook, text in the CSV) as cents."""
    return D(str(value if value is not None else 0)).quantize(D("0.01"))


def test_bad_export_input_names_its_field(cli: Cli, tmp_path: Path) -> None:
    two_months(cli)
    out = str(tmp_path / "x.csv")
    for args, field in (
        (("--period", "2026-13"), "period"),
        (("--period", "2026-10", "--to", "October"), "to"),
        (("--period", "2026-11", "--to", "2026-10"), "to"),
        (("--period", "2026-08", "--to", "2026-09"), "period"),  # no push in the range
        (("--period", "2026-10", "--format", "pdf"), "format"),
    ):
        output = cli("--json", "billing", "export", *args, "--output", out, code=2)
        error = json.loads(output[output.index("{") :])["error"]
        assert error["field"] == field, (args, error)
        assert error["message"].startswith(f"{field}: "), error
    partly = cli.json("billing", "export", "--period", "2026-09", "--to", "2026-11", "--output", out)
    assert partly["missing"] == ["2026-09"] and [m["period"] for m in partly["months"]] == ["2026-10", "2026-11"]
    told = cli("billing", "export", "--period", "2026-09", "--to", "2026-11", "--output", out)
    assert "no finished push of 2026-09" in told and "$" in told


def test_runs_show_and_list_say_what_a_push_did_in_money_times_checksum_and_calls(cli: Cli) -> None:
    october, _, _ = two_months(cli)
    shown = cli("runs", "show", str(october["run"]))
    assert f"checksum: {october['checksum']}" in shown
    assert re.search(r"started 2026-11-03 09:00:00 UTC, finished 2026-11-03 09:00:00 UTC \(0\.0 s\)", shown)
    assert "writes: 4 planned, 4 landed, 0 failed" in shown
    assert "billed for 2026-10: $0.00 before -> $358.00 after (+$358.00)" in shown
    additions = {a["id"] for a in cli.additions()}
    assert any(str(addition) in shown for addition in additions), "each change names the addition it wrote"
    assert "$150.00" in shown and "$208.00" in shown
    assert re.search(r"\d+ ConnectWise calls", shown)
    for endpoint in october_calls(cli, october["run"]):
        assert endpoint in shown, f"calls per endpoint: {endpoint}"
    listed = cli("runs", "list")
    for text in (shown, listed):
        assert not any(bad in text for bad in REPR), text


def test_a_push_limited_to_some_customers_says_so_and_the_export_keeps_the_whole_months_push(
    cli: Cli, tmp_path: Path
) -> None:
    _, november, _ = two_months(cli)
    limited = cli.json("push", "--period", "2026-11", "--customer", "C1", "--force")
    assert limited["run"] > november["run"] and limited["status"] == "done"
    assert "for customers C1 only" in cli("runs", "show", str(limited["run"]))
    assert cli.json("runs", "show", str(limited["run"]))["summary"]["scope"] == ["C1"]
    exported = cli.json("billing", "export", "--period", "2026-11", "--output", str(tmp_path / "november.csv"))
    assert [(m["run"], m["scope"]) for m in exported["months"]] == [(november["run"], [])]


def october_calls(cli: Cli, run: int) -> list[str]:
    endpoints: dict[str, Any] = cli.json("runs", "show", str(run))["calls"]["endpoints"]
    assert endpoints, "the push made ConnectWise calls"
    return list(endpoints)


def test_a_write_that_failed_is_exported_as_what_it_still_bills(cli: Cli, tmp_path: Path) -> None:
    cli.set_up("C1", "C2")
    cli("configurations", "set", "C1", "C1-storage", "--products", "storage")
    cli("configurations", "set", "C2", "C2-storage", "--products", "storage")
    cli(
        "usage",
        "import",
        usage(cli, "C1,storage,2026-10-20T00:00:00Z,100,GB", "C2,storage,2026-10-20T00:00:00Z,300,GB"),
    )
    cli.sim.faults.configure(
        1, [FaultRule(methods=["POST"], path="*/agreements/1/additions", error_ratio=1.0, error_status=400)]
    )  # C1's create (its agreement is the first) is refused, whichever of the two goes first
    pushed = cli.json("push", "--period", "2026-10", "--force", code=4)
    cli.sim.faults.configure(1, [])
    assert pushed["totals"]["billed_after"] == "30.00"  # C2's 300 GB; C1 bills nothing yet
    out = tmp_path / "october.csv"
    cli("billing", "export", "--period", "2026-10", "--output", str(out))
    *lines, total = csv.DictReader(io.StringIO(out.read_text(encoding="utf-8")))
    by_customer = {line["customer"]: line for line in lines}
    assert (by_customer["C1"]["amount"], by_customer["C1"]["status"], by_customer["C1"]["addition"]) == (
        "0.00",
        "failed",
        "",
    )
    assert by_customer["C1"]["note"], "the failed write says why"
    assert (by_customer["C2"]["amount"], by_customer["C2"]["status"]) == ("30.00", "done")
    assert total["amount"] == pushed["totals"]["billed_after"]
    shown = cli("runs", "show", str(pushed["run"]))
    [c1] = [line for line in shown.splitlines() if "│ C1 " in line]
    assert "failed" in c1 and "$0.00" in c1 and "$10.00" not in c1, "a create that failed bills nothing"
