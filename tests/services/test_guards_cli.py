"""Guards through the CLI against cwsim, on SQLite and PostgreSQL: the ordinary actions that used to
bill twice or wipe a month are refused, or caught in the preview with a reason, before any write.
Each test reads what ConnectWise bills afterwards: no month of a line billed twice, none zeroed."""

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
    make_cli,
    printed,
)
from tests.support.contract import ContractLog

from cwsim.faults import FaultRule

D = Decimal


@pytest.fixture
def cli(database_url: str, contract_log: ContractLog, tmp_path: Path) -> Iterator[Cli]:
    yield from make_cli(database_url, contract_log, tmp_path, company_scenario(3))


def csv(cli: Cli, *rows: str, name: str = "usage.csv") -> str:
    return cli.file(name, "customer,product,measured_at,quantity,unit\n" + "\n".join(rows) + "\n")


def of(preview: dict, customer: str) -> list[dict]:  # type: ignore[type-arg]
    return [c for c in preview["changes"] if c["customer"] == customer]


def test_overlapping_configurations_are_refused_or_shown_as_double_billing(cli: Cli) -> None:
    cli.set_up("C1")
    cli("configurations", "set", "C1", "C1-servers", "--products", "server")
    bundle = ("configurations", "set", "C1", "C1-bundle", "--products", "server,m365", "--data-mode", "total")
    refused = cli(*bundle, "--cw-product", "BACKUP-SERVER", code=2)
    assert "server already billed by configuration C1-servers of customer C1" in refused
    assert "set allow_overlap to bill it twice on purpose" in refused
    cli("usage", "import", csv(cli, "C1,server,2026-10-20T00:00:00Z,3,count", "C1,m365,2026-10-20T00:00:00Z,5,count"))
    assert "double billing" not in cli("preview", "--period", "2026-10")
    cli(*bundle, "--cw-product", "BACKUP-SERVER", "--allow-overlap")
    shown = cli("preview", "--period", "2026-10")
    assert "double billing (allow_overlap): server is also billed by configuration C1-servers" in shown
    leaks = cli.json("leaks", "--period", "2026-10")
    assert {"kind": "double-billing", "customer": "C1", "subject": "server"} | {} in [
        {k: v for k, v in leak.items() if k not in ("detail", "amount")} for leak in leaks["leaks"]
    ]


def test_switching_strategy_takes_effect_from_the_next_period_and_never_bills_a_month_twice(cli: Cli) -> None:
    cli.set_up("C1")
    cli("configurations", "set", "C1", "C1-storage", "--products", "storage")
    cli("usage", "import", csv(cli, "C1,storage,2026-10-20T00:00:00Z,100,GB"))
    cli("push", "--period", "2026-10", "--force")
    switched = cli("configurations", "set", "C1", "C1-storage", "--strategy", "per_period")
    assert 'products=["storage"], strategy="per_period"' in switched, "the other options are kept"

    cli("usage", "add", "C1", "storage", "120", "GB", "--at", "2026-10-25T00:00:00Z")  # a correction of October
    october = cli.json("preview", "--period", "2026-10")
    [stays] = of(october, "C1")
    assert (stays["kind"], stays["key"]) == ("update", "C1/C1-storage/BACKUP-STORAGE-GB/running")
    assert "the switch to one addition per period takes effect from 2026-11" in stays["warnings"][0]
    cli("push", "--period", "2026-10", "--checksum", october["checksum"])

    cli.advance(days=30)  # 3 December: November is over
    cli("usage", "add", "C1", "storage", "130", "GB", "--at", "2026-11-20T00:00:00Z")
    november = cli.json("preview", "--period", "2026-11")
    assert sorted((c["kind"], c["key"].rsplit("/", 1)[1]) for c in of(november, "C1")) == [
        ("cancel", "running"),
        ("create", "2026-11"),
    ]
    cli("push", "--period", "2026-11", "--checksum", november["checksum"])
    rows = [
        (a["effectiveDate"][:10], (a.get("cancelledDate") or "")[:10], amount(a["quantity"])) for a in cli.additions()
    ]
    assert rows == [("2026-10-01", "2026-10-31", 120), ("2026-11-01", "2026-11-30", 130)]

    cli("configurations", "set", "C1", "C1-storage", "--strategy", "running")
    again = cli.json("preview", "--period", "2026-11")
    assert [c["kind"] for c in of(again, "C1")] == ["noop"], "November stays on its own addition"
    cli.advance(days=31)  # 3 January 2027
    cli("usage", "add", "C1", "storage", "140", "GB", "--at", "2026-12-20T00:00:00Z")
    cli("push", "--period", "2026-12", "--force")
    assert [(a["effectiveDate"][:10], a.get("cancelledDate")) for a in cli.additions()][2] == ("2026-12-01", None)
    assert_billed_at_most_once(cli)


def test_a_correction_of_a_month_lands_on_the_addition_that_billed_it_after_strategy_switches(cli: Cli) -> None:
    """Found by the sequence test: a running line ended by a switch and started again later kept
    only its newest addition as its own, so correcting an earlier month billed that month twice."""
    cli.set_up("C1")
    cli("configurations", "set", "C1", "C1-storage", "--products", "storage")
    cli("usage", "add", "C1", "storage", "100", "GB", "--at", "2026-10-20T00:00:00Z")
    cli("push", "--period", "2026-10", "--force")  # running from October
    cli.advance(days=30)  # 3 December
    cli("configurations", "set", "C1", "C1-storage", "--strategy", "per_period")
    cli("usage", "add", "C1", "storage", "110", "GB", "--at", "2026-11-20T00:00:00Z")
    november = cli.json("preview", "--period", "2026-11")
    cli("push", "--period", "2026-11", "--checksum", november["checksum"])  # the running addition ends 31 October
    cli.advance(days=31)  # 3 January 2027
    cli("configurations", "set", "C1", "C1-storage", "--strategy", "running")
    cli("usage", "add", "C1", "storage", "120", "GB", "--at", "2026-12-20T00:00:00Z")
    cli("push", "--period", "2026-12", "--force")  # running again, from December: a new line, nothing held
    [october_id] = [a["id"] for a in cli.additions() if a["effectiveDate"].startswith("2026-10")]

    cli("usage", "add", "C1", "storage", "90", "GB", "--at", "2026-10-20T00:00:00Z")  # October corrected down
    preview = cli.json("preview", "--period", "2026-10")
    [change] = of(preview, "C1")
    assert (change["kind"], change["addition_id"]) == ("update", october_id)
    assert [f["field"] for f in change["fields"]] == ["quantity"], "it stays ended: November and December have theirs"
    assert "is corrected on it, and it stays ended" in change["warnings"][0]
    cli("push", "--period", "2026-10", "--checksum", preview["checksum"])
    rows = [
        (a["effectiveDate"][:10], (a.get("cancelledDate") or "")[:10], amount(a["quantity"])) for a in cli.additions()
    ]
    assert rows == [("2026-10-01", "2026-10-31", 90), ("2026-11-01", "2026-11-30", 110), ("2026-12-01", "", 120)]
    assert_billed_at_most_once(cli)


def test_an_older_period_never_zeroes_a_running_line_and_open_periods_are_provisional(cli: Cli) -> None:
    cli.set_up("C1", "C2")
    cli("configurations", "set", "C1", "C1-storage", "--products", "storage")
    cli("configurations", "set", "C2", "C2-m365", "--products", "m365", "--strategy", "per_period")
    cli(
        "usage", "import",
        csv(cli, "C1,storage,2026-10-20T00:00:00Z,100,GB", "C2,m365,2026-10-20T00:00:00Z,7,count",
            "C2,m365,2026-09-20T00:00:00Z,6,count"),
    )  # fmt: skip
    cli("push", "--period", "2026-10", "--force")
    september = cli.json("preview", "--period", "2026-09")
    [refused] = of(september, "C1")
    assert refused["kind"] == "blocked" and "already bills 2026-10, a later period" in refused["reason"]
    assert [c["kind"] for c in of(september, "C2")] == ["create"], "a dated line is corrected for its own month"
    cli("push", "--period", "2026-09", "--checksum", september["checksum"], code=4)
    [running] = cli.live(1, "BACKUP-STORAGE-GB")
    assert amount(running["quantity"]) == 100, "October's quantity stays: not zeroed by September"
    assert sorted(a["effectiveDate"][:7] for a in cli.live(2, "BACKUP-M365-USER")) == ["2026-09", "2026-10"]

    future = cli("preview", "--period", "2026-12", code=2)
    assert "2026-12 has not started yet" in future and "the latest period is 2026-11" in future
    cli("usage", "add", "C1", "storage", "90", "GB", "--at", "2026-11-02T00:00:00Z")
    provisional = cli("preview", "--period", "2026-11")
    assert "2026-11 is not over: this is a provisional bill of the usage so far" in provisional
    assert cli.json("preview", "--period", "2026-11")["provisional"] is True
    assert_billed_at_most_once(cli)


def test_a_missing_catalog_item_blocks_the_company_until_the_doctor_creates_it(cli: Cli) -> None:
    cli.set_up("C1")
    cli(
        "configurations", "set", "C1", "C1-storage", "--products", "storage",
        "--range", "1000:BACKUP-STORAGE-GB", "--range", ":BACKUP-ARCHIVE-GB:0.05",
    )  # fmt: skip
    cli("usage", "import", csv(cli, "C1,storage,2026-10-20T00:00:00Z,1500,GB"))
    preview = cli.json("preview", "--period", "2026-10")
    reasons = {c["cw_product"]: c["reason"] for c in of(preview, "C1")}
    assert "ConnectWise has no catalog item BACKUP-ARCHIVE-GB" in reasons["BACKUP-ARCHIVE-GB"]
    assert reasons["BACKUP-STORAGE-GB"].startswith("held back with the rest of the company")
    cli("push", "--period", "2026-10", "--force", code=4)
    assert cli.additions() == [], "nothing of the company lands while one of its lines cannot"

    assert "or let the doctor create it" in reasons["BACKUP-ARCHIVE-GB"]
    [archive] = [c for c in of(preview, "C1") if c["cw_product"] == "BACKUP-ARCHIVE-GB"]
    assert (archive["action"], archive["params"]) == ("doctor.create", {"period": "2026-10"})
    doctor = printed(cli("preview", "--period", "2026-10"), "to unblock: run `")
    cli(*[word.rstrip("`") for word in doctor])
    cli("push", "--period", "2026-10", "--force")
    assert sorted((a["product"]["identifier"], amount(a["quantity"])) for a in cli.additions()) == [
        ("BACKUP-ARCHIVE-GB", 500),
        ("BACKUP-STORAGE-GB", 1000),
    ]


def test_a_partial_company_names_the_lines_that_landed_and_the_next_push_completes_it(cli: Cli) -> None:
    cli.set_up("C1")
    cli(
        "configurations", "set", "C1", "C1-storage", "--products", "storage",
        "--range", "1000:BACKUP-STORAGE-GB", "--range", ":BACKUP-STORAGE-GB-T2:0.08",
    )  # fmt: skip
    cli("usage", "import", csv(cli, "C1,storage,2026-10-20T00:00:00Z,1500,GB"))
    cli.sim.faults.configure(
        1, [FaultRule(methods=["POST"], path="*/additions", error_ratio=1.0, error_status=400, limit=1)]
    )
    pushed = cli.json("push", "--period", "2026-10", "--force", code=4)
    company = pushed["companies"]["C1"]
    assert company["status"] == "partial" and len(company["landed"]) == len(company["failed"]) == 1
    assert pushed["totals"]["writes"] == {"planned": 2, "landed": 1, "failed": 1}
    human = cli("runs", "show", str(pushed["run"]))
    assert "partial" in human
    cli.sim.faults.configure(1, [])
    again = cli.json("push", "--period", "2026-10", "--force")
    assert again["companies"]["C1"]["landed"] == company["failed"]
    assert sorted(a["product"]["identifier"] for a in cli.additions()) == ["BACKUP-STORAGE-GB", "BACKUP-STORAGE-GB-T2"]


def test_usage_imported_twice_counts_once_corrections_replace_and_late_samples_are_flagged(cli: Cli) -> None:
    cli.set_up("C1")
    cli("configurations", "set", "C1", "C1-traffic", "--products", "traffic")
    file = csv(cli, "C1,traffic,2026-10-05T00:00:00Z,75,GB", "C1,traffic,2026-10-15T00:00:00Z,75,GB")
    assert "2 new" in cli("usage", "import", file)
    assert "0 new, 0 replaced (corrections), 2 unchanged" in cli("usage", "import", file)
    first = cli("preview", "--period", "2026-10", "--details")
    assert "150" in first and "arrived after" not in first, "a month-end import before the push is not late"
    cli("push", "--period", "2026-10", "--force")
    [addition] = cli.additions()
    assert amount(addition["quantity"]) == 150

    cli.advance(hours=2)
    cli("usage", "add", "C1", "traffic", "50", "GB", "--at", "2026-10-25T00:00:00Z")
    late = cli("preview", "--period", "2026-10")
    assert "1 sample(s) arrived after this period was first pushed" in late
    lower = csv(cli, "C1,traffic,2026-10-05T00:00:00Z,25,GB", name="correction.csv")
    assert "1 replaced" in cli("usage", "import", lower)
    withdrawn = cli("usage", "delete", "C1", "--at", "2026-10-25T00:00:00Z", "--period", "2026-10")
    assert "1 sample(s) of C1 withdrawn" in withdrawn
    preview = cli.json("preview", "--period", printed(withdrawn, "see the effect with: ")[-1])
    [update] = of(preview, "C1")
    assert update["fields"][0] == {"field": "quantity", "old": "150", "new": "100.00"}  # 25 + 75; 50 withdrawn
    listed = cli.json("usage", "list", "--customer", "C1", "--withdrawn")
    assert [(s["quantity"], s["withdrawn_at"] is not None) for s in listed] == [
        ("50", True),
        ("75", False),
        ("25", False),
    ]
    # a 33.3 % fall holds C1 (max_quantity_drop 30 %): approving the plan's checksum does not write a held company
    held = cli("push", "--period", "2026-10", "--checksum", preview["checksum"], code=3)
    assert "C1 (Company 1): traffic 150 GB -> 100 GB, a 33.3 % drop over max_quantity_drop 30 %" in held
    assert amount(cli.additions()[0]["quantity"]) == 150
    cli("push", "--period", "2026-10", "--checksum", preview["checksum"], "--approve-held")
    assert amount(cli.additions()[0]["quantity"]) == 100


def test_an_approval_applies_to_what_is_left_of_its_plan_and_to_nothing_new(
    database_url: str, contract_log: ContractLog, tmp_path: Path
) -> None:
    for cli in make_cli(database_url, contract_log, tmp_path, company_scenario(3)):
        cli.set_up("C1", "C2", "C3")
        for customer in ("C1", "C2", "C3"):
            cli("configurations", "set", customer, f"{customer}-storage", "--products", "storage")
        cli("usage", "import", csv(cli, *(f"C{i},storage,2026-10-20T00:00:00Z,{100 * i},GB" for i in (1, 2, 3))))
        preview = cli.json("preview", "--period", "2026-10")
        # a push that stopped after its first write (test_crash_safety kills one for real)
        cli.sim.faults.configure(
            1, [FaultRule(methods=["POST"], path="*/additions", error_ratio=1.0, error_status=400)]
        )
        cli.sim.faults.rules[0].limit = 2
        partial = cli.json("push", "--period", "2026-10", "--checksum", preview["checksum"], code=4)
        assert partial["totals"]["writes"]["landed"] == 1
        cli.sim.faults.configure(1, [])
        rest = cli("push", "--period", "2026-10", "--checksum", preview["checksum"])
        assert f"approval: the rest of the approved plan {preview['checksum'][:12]}" in rest
        assert len(cli.additions()) == 3
        changed = csv(cli, "C1,storage,2026-10-21T00:00:00Z,999,GB", name="more.csv")
        cli("usage", "import", changed)
        refused = cli("push", "--period", "2026-10", "--checksum", preview["checksum"], code=6)
        assert "changed since it was reviewed" in refused, "a new write was never approved"


def test_a_plan_without_changes_is_never_held_and_totals_compare_like_with_like(cli: Cli) -> None:
    cli.set_up("C1")
    cli("configurations", "set", "C1", "C1-servers", "--products", "server", "--data-mode", "quantity")
    cli("usage", "import", csv(cli, "C1,server,2026-10-20T00:00:00Z,3,count"))
    cli("push", "--period", "2026-10", "--force")
    cli("settings", "set", "max_total_change=0.2", "max_quantity_drop=0.2")
    again = cli.json("push", "--period", "2026-10", "--force")
    assert (again["status"], again["verdict"], again["counts"]["noop"]) == ("done", "apply", 1)
    cli("usage", "add", "C1", "server", "4", "count", "--at", "2026-10-25T00:00:00Z")
    held = cli("push", "--period", "2026-10", "--force", code=3)
    # ConnectWise's catalog price (45) on both sides: 3 x 45 -> 4 x 45
    assert "the total of existing lines changes by 33.3 %, from $135.00 to $180.00" in held
    approve = printed(held, "Review it, then: ")
    cli(*approve)
    assert amount(cli.additions()[0]["quantity"]) == 4


def test_every_printed_next_step_works_as_printed(cli: Cli) -> None:
    cli.set_up("C1", "C2", tenant="acme")
    for customer in ("C1", "C2"):
        cli("--tenant", "acme", "configurations", "set", customer, f"{customer}-storage", "--products", "storage")
    cli(
        "--tenant",
        "acme",
        "usage",
        "import",
        csv(cli, "C1,storage,2026-10-20T00:00:00Z,100,GB", "C2,storage,2026-10-20T00:00:00Z,80,GB"),
    )
    scoped = cli("--tenant", "acme", "preview", "--period", "2026-10", "--customer", "C1")
    apply = printed(scoped, "apply it: ")
    assert apply[:2] == ["--tenant", "acme"] and apply[apply.index("--customer") :][:2] == ["--customer", "C1"]
    cli(*apply)
    assert [a["agreementId"] for a in cli.additions()] == [1], "only C1, as previewed"


def test_commands_change_only_what_they_are_told(cli: Cli) -> None:
    cli.set_up("C1", "C2")
    cli("configurations", "set", "C1", "C1-storage", "--products", "storage", "--block-size", "10")
    ranged = cli.json(
        "configurations",
        "set",
        "C1",
        "C1-storage",
        "--range",
        "1000:BACKUP-STORAGE-GB",
        "--range",
        ":BACKUP-STORAGE-GB-T2",
    )
    assert ranged["options"]["block_size"] == "10", "adding ranges keeps the block size"
    cleared = cli.json("configurations", "set", "C1", "C1-storage", "--clear", "block_size")
    assert "block_size" not in cleared["options"] and len(cleared["options"]["ranges"]) == 2
    disabled = cli.json("configurations", "set", "C1", "C1-storage", "--disabled")
    assert cli.json("configurations", "set", "C1", "C1-storage", "--included", "5")["enabled"] is False
    assert disabled["enabled"] is False
    replaced = cli.json("configurations", "set", "C1", "C1-storage", "--products", "storage", "--replace")
    assert replaced["options"] == {"products": ["storage"]}
    assert "unknown option(s) colour" in cli("configurations", "set", "C1", "C1-storage", "--clear", "colour", code=2)

    assert "agreement 9999 does not exist in ConnectWise" in cli("configurations", "pin", "C1-storage", "9999", code=2)
    other = cli("configurations", "pin", "C1-storage", "2", code=2)
    assert "belongs to company 2, not to company 1" in other
    assert "agreement 1 (Backup - 1) pinned to C1-storage" in cli("configurations", "pin", "C1-storage", "1")
    cli("connection", "set", "--site", "http://127.0.0.1:9", "--company-id", "sim", "--public-key", "simpub",
        "--private-key", "simpriv", "--client-id", "tests")  # fmt: skip
    unchecked = cli("configurations", "pin", "C1-storage", "1")
    assert "UNCHECKED: ConnectWise could not be asked" in unchecked
    cli("connection", "set", "--site", cli.url, "--company-id", "sim", "--public-key", "simpub",
        "--private-key", "simpriv", "--client-id", "tests")  # fmt: skip

    cli("prices", "set", "storage", "--customer", "C2", "--price", "0.07")
    assert [
        (p["customer"], p["unit_price"], p["unit_cost"]) for p in cli.json("prices", "list", "--product", "storage")
    ] == [
        (None, "0.10", "0.04"),
        ("C2", "0.07", "0.04"),  # a new override starts from the price list: the cost is kept
    ]
    cli("prices", "delete", "storage", "--customer", "C2")
    assert len(cli.json("prices", "list", "--product", "storage")) == 1
    listed = cli.json("customers", "list")
    assert [(c["external_id"], c["cw_identifier"], c["configurations"]) for c in listed] == [
        ("C1", "C1", 1),
        ("C2", "C2", 0),
    ]

    seeded = cli("demo", "seed", "--period", "2026-10", code=2)
    assert "already has 4 product(s) and 1 configuration(s)" in seeded and "--overwrite" in seeded
    assert cli.json("prices", "list", "--product", "storage")[0]["unit_price"] == "0.10", "nothing was reset"
