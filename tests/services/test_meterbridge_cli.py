"""The CLI as a new user drives it: human output, --json, documented exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.support.cli_world import meterbridge_command
from tests.support.contract import ContractLog, ContractMiddleware
from tests.support.reference_month import scenario
from tests.support.server import serve

from cwsim.app import create_app
from cwsim.scenario import load_scenario
from cwsim.sim import Simulator
from cwsim.state import SimSettings


@pytest.fixture
def cwsim_url(contract_log: ContractLog) -> Iterator[str]:
    sim = Simulator.create(SimSettings(rate_limit_per_minute=1_000_000), seed=3)
    load_scenario(sim, scenario(20))
    with serve(ContractMiddleware(create_app(sim), contract_log)) as url:
        yield url


def test_a_new_user_sets_up_previews_and_pushes_from_the_command_line(
    cwsim_url: str, database_url: str, tmp_path: Path
) -> None:
    runner = CliRunner()
    env = {"MBRIDGE_HOME": str(tmp_path / "home"), "MBRIDGE_DATABASE_URL": database_url, "COLUMNS": "250"}

    def mb(*args: str, code: int = 0) -> str:
        result = runner.invoke(meterbridge_command(), list(args), env=env)
        assert result.exit_code == code, f"{args}: {result.output}"
        return result.output

    assert "tenant default created" in mb("init", "--time-zone", "Europe/London")
    assert "created" not in mb("init").split("tenant default")[1].split(";")[0]
    assert (tmp_path / "home" / "secret.key").stat().st_mode & 0o777 == 0o600
    mb(
        "connection",
        "set",
        "--site",
        cwsim_url,
        "--company-id",
        "sim",
        "--public-key",
        "simpub",
        "--private-key",
        "simpriv",
        "--client-id",
        "tests",
    )
    assert "ok connected" in mb("connection", "test")
    assert json.loads(mb("--json", "companies", "import")) == {"imported": 20}
    mb(
        "products",
        "set",
        "storage",
        "--kind",
        "storage",
        "--unit",
        "GB",
        "--basis",
        "max",
        "--cw-product",
        "BACKUP-STORAGE-GB",
    )
    mb("prices", "set", "storage", "--price", "0.10", "--cost", "0.04")
    err = mb("prices", "set", "storage", "--price", "ten", code=2)
    assert "unit_price: 'ten' is not a number" in err
    mb("rules", "set", "default-agreement", 'type/name = "Backup Services"')
    csv = tmp_path / "usage.csv"
    csv.write_text(
        "customer,product,measured_at,quantity,unit,customer_name\n"
        "C000,storage,2026-10-10T00:00:00Z,120.5,GB,Company 000\n"
        "C001,storage,2026-10-10T00:00:00Z,80,GB,Company 001\n"
        "C009,storage,2026-10-10T00:00:00Z,80,GB,Company 009\n"
    )
    assert "3 samples read" in mb("usage", "import", str(csv))
    linked = json.loads(mb("--json", "companies", "link"))
    assert sorted(e["cw_identifier"] for e in linked["linked"]) == ["C000", "C001", "C009"]
    for customer in ("C000", "C001", "C009"):
        mb("configurations", "set", customer, f"{customer}-storage", "--products", "storage")
    mb("configurations", "set", "C000", "bad", "--products", "storage", "--data-mode", "sideways", code=2)

    assert "a push applies a reviewed plan" in mb("push", "--period", "2026-10", code=2)
    preview = json.loads(mb("--json", "preview", "--period", "2026-10"))
    assert preview["counts"]["create"] == 2 and preview["counts"]["blocked"] == 1  # C009: two agreements
    assert [c["values"]["quantity"] for c in preview["changes"] if c["kind"] == "create"] == ["120.50", "80.00"]
    human = mb("preview", "--period", "2026-10", "--details")
    assert "2 agreements match the rule" in human and "max" in human
    shortened = mb("preview", "--period", "2026-10", "--rows", "1")  # a big plan's table stops; the rest says how
    assert "showing 1 of 3 changes: all of them with `meterbridge preview --period 2026-10 --rows 0`" in shortened
    assert "showing" not in human
    rows = [line for line in shortened.splitlines() if line.startswith(("│ create", "│ blocked"))]
    assert len(rows) == 1 and "billed: $0.00 now -> " in shortened
    every_line = shortened.split("every line as JSON with `")[1].split("`")[0].split()
    assert every_line[:4] == ["meterbridge", "--json", "runs", "show"]
    assert len(json.loads(mb(*every_line[1:]))["items"]) == 3  # the printed command works as printed
    assert "showing" not in mb("preview", "--period", "2026-10", "--rows", "0")

    assert "changed since it was reviewed" in mb("push", "--period", "2026-10", "--checksum", "0" * 64, code=6)
    pushed = json.loads(mb("--json", "push", "--period", "2026-10", "--checksum", preview["checksum"], code=4))
    assert pushed["status"] == "partial" and pushed["companies"]["C009"]["status"] == "blocked"
    again = json.loads(mb("--json", "push", "--period", "2026-10", "--force", code=4))
    assert again["counts"]["create"] == 0 and again["counts"]["noop"] == 2

    mb("settings", "set", "max_quantity_drop=0.1")
    csv.write_text("customer,product,measured_at,quantity,unit\nC000,storage,2026-10-30T00:00:00Z,1,GB\n")
    mb(
        "products",
        "set",
        "storage",
        "--kind",
        "storage",
        "--unit",
        "GB",
        "--basis",
        "last",
        "--cw-product",
        "BACKUP-STORAGE-GB",
    )
    mb("usage", "import", str(csv))
    held = mb("push", "--period", "2026-10", "--force", code=3)
    assert "held for approval" in held and "storage 120.5 GB -> 1 GB, a 99.2 % drop over max_quantity_drop 10 %" in held

    history = json.loads(mb("--json", "runs", "list"))
    assert [r["status"] for r in history][:3] == ["held", "partial", "partial"]
    shown = json.loads(mb("--json", "runs", "show", str(history[2]["id"])))
    assert {item["status"] for item in shown["items"] if item["kind"] == "create"} == {"done"}
    run = str(history[2]["id"])
    cut = mb("runs", "show", run, "--rows", "1")  # a big run's table stops too, and says how to see the rest
    assert f"showing 1 of 3 changes: all of them with `meterbridge runs show {run} --rows 0`" in cut
    assert len([line for line in cut.splitlines() if line.startswith(("│ create", "│ blocked"))]) == 1
    whole = cut.split("all of them with `")[1].split("`")[0].split()
    every = mb(*whole[1:])  # the printed command works as printed: every change, no cut
    assert "showing" not in every
    assert len([line for line in every.splitlines() if line.startswith(("│ create", "│ blocked"))]) == 3
    assert "does not exist" in mb("runs", "show", "999", code=2)
    assert "private" not in json.dumps(history) and "simpriv" not in mb("--json", "settings", "show")

    mb(
        "connection",
        "set",
        "--site",
        cwsim_url,
        "--company-id",
        "sim",
        "--public-key",
        "simpub",
        "--private-key",
        "wrong",
        "--client-id",
        "tests",
    )
    assert "failed" in mb("connection", "test", code=1)
    refused = mb("companies", "import", code=1)
    assert refused.startswith("error: ConnectWise:") and "Traceback" not in refused and "wrong" not in refused
