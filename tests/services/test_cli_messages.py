"""What the command line prints is true and readable: counts whole (an import that made 2,000
customers says 2,000), tables whole when written to a file or a pipe (not cut at 80 columns), and
no Python representation (``{'``, ``Decimal(``, ``None``, ``datetime.``) in any output of a month's
commands, plain or in the sentences around ``--json``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from tests.support.cli_world import Cli, company_scenario, make_cli, meterbridge_command
from tests.support.contract import ContractLog

from meterbridge.cli import Injected

REPR = re.compile(r"\{'|\['|Decimal\(|\bNone\b|datetime\.|<[a-zA-Z_.]+ object at 0x")


@pytest.fixture
def cli(database_url: str, contract_log: ContractLog, tmp_path: Path) -> Iterator[Cli]:
    yield from make_cli(database_url, contract_log, tmp_path, company_scenario(4))


def _usage(customers: int, *, names: bool = False) -> str:
    header = (
        "customer,customer_name,product,measured_at,quantity,unit"
        if names
        else "customer,product,measured_at,quantity,unit"
    )
    rows = []
    for n in range(1, customers + 1):
        name = f",Customer {n}" if names else ""
        rows.append(f"N{n}{name},storage,2026-10-05T00:00:00Z,{n},GB")
    return header + "\n" + "\n".join(rows) + "\n"


def test_an_import_that_creates_2000_customers_says_2000(cli: Cli) -> None:
    cli.set_up("C1")
    said = cli("usage", "import", cli.file("many.csv", _usage(2000, names=True)))
    assert "2,000 new customer(s): N1, N10, N100, N1000, N1001 and 1,995 more" in said, said
    (shown,) = cli.json("usage", "imports")
    assert shown["new_customer_count"] == 2000 and len(shown["new_customers"]) == 1000, shown["new_customer_count"]


def test_a_table_written_to_a_pipe_is_not_cut_at_80_columns(cli: Cli) -> None:
    cli.set_up("C1", "C2")
    cli("usage", "import", cli.file("october.csv", _usage(2).replace("N", "C")))
    cli("preview", "--period", "2026-10")
    env = {key: value for key, value in {**os.environ, **cli.env}.items() if key != "COLUMNS"}
    piped = subprocess.run(
        [sys.executable, "-m", "meterbridge", "runs", "list"], env=env, capture_output=True, text=True, check=True
    )
    rows = [line for line in piped.stdout.splitlines() if "preview" in line]
    assert len(rows) == 1, piped.stdout  # the run on one line, not wrapped over two
    assert "2026-10" in rows[0] and "…" not in rows[0], piped.stdout


def test_no_python_representation_in_what_a_month_of_commands_prints(cli: Cli) -> None:
    cli.set_up("C1", "C2", "C3", "C4")
    cli("usage", "import", cli.file("october.csv", _usage(3).replace("N", "C")))
    outputs: dict[str, str] = {}

    def run(*args: str) -> None:
        result = cli.runner.invoke(meterbridge_command(), list(args), env=cli.env, obj=Injected(cli.clock))
        assert "Traceback" not in result.output, result.output
        outputs[" ".join(args)] = result.output

    cli("settings", "set", "max_total_change=off")
    run("settings", "show")
    run("preview", "--period", "2026-10")
    run("push", "--period", "2026-10", "--force")
    run("push", "--period", "2026-10", "--force")  # nothing to write now
    run("doctor")
    run("leaks", "--period", "2026-10")
    runs = cli.json("runs", "list")
    run("runs", "show", str(runs[0]["id"]))
    root = meterbridge_command()
    ctx = click.Context(root)
    for group in root.list_commands(ctx):  # type: ignore[attr-defined]
        command = root.get_command(ctx, group)  # type: ignore[attr-defined]
        for verb in ("list", "show", "imports"):
            if hasattr(command, "list_commands") and verb in command.list_commands(ctx):
                run(group, verb)
    assert len(outputs) >= 20, sorted(outputs)
    shown = {command: REPR.findall(text) for command, text in outputs.items()}
    assert not {command: found for command, found in shown.items() if found}, {
        command: outputs[command] for command, found in shown.items() if found
    }
