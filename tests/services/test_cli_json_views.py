"""Every command's ``--json`` is a service view: each command declares the view it prints, and
its output, for a whole month of set-up, billing and reports against cwsim, validates against
that view's JSON schema (the schema the REST API will publish for the same data)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import typer
from pydantic import TypeAdapter
from tests.support.cli_world import Cli, company_scenario, make_cli
from tests.support.contract import ContractLog
from tests.support.server import serve

from meterbridge.cli import app
from meterbridge.cli.commands import load_all
from meterbridge.cli.render import emitted
from vendorsim.app import create_app as create_vendor
from vendorsim.sim import VendorSim, generate


def commands(group: typer.Typer, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Every command of the CLI, by its words, with its callback (every command module loaded first:
    the CLI imports a module only when one of its commands runs)."""
    load_all()
    found: dict[tuple[str, ...], Any] = {}
    for command in group.registered_commands:
        assert command.callback is not None
        name = command.name or command.callback.__name__.replace("_", "-")
        found[(*prefix, name)] = command.callback
    for sub in group.registered_groups:
        assert sub.typer_instance is not None and sub.name is not None
        found.update(commands(sub.typer_instance, (*prefix, sub.name)))
    return found


@pytest.fixture
def cli(database_url: str, contract_log: ContractLog, tmp_path: Path) -> Iterator[Cli]:
    yield from make_cli(database_url, contract_log, tmp_path, company_scenario(3))


def schema_of(callback: Any) -> dict[str, Any]:
    return TypeAdapter(emitted(callback)).json_schema(mode="serialization")


def test_every_command_declares_the_view_it_prints() -> None:
    missing = [" ".join(words) for words, callback in commands(app).items() if not hasattr(callback, "emits")]
    assert missing == []


@pytest.fixture
def vendor_url() -> Iterator[str]:
    sim = VendorSim()
    sim.replace(generate(accounts=2, month="2026-10"))
    with serve(create_vendor(sim)) as url:
        yield f"{url}/v1/usage"


def test_every_commands_json_validates_against_its_views_schema(cli: Cli, vendor_url: str) -> None:
    usage = cli.file(
        "usage.csv", "customer,product,measured_at,quantity,unit\nC1,storage,2026-10-20T00:00:00Z,150,GB\n"
    )
    connection = [
        "--site", cli.url, "--company-id", "sim", "--public-key", "simpub", "--private-key", "simpriv",
        "--client-id", "tests",
    ]  # fmt: skip
    script: list[tuple[list[str], int]] = [
        (["init"], 0),
        (["db", "upgrade"], 0),
        (["settings", "set", "max_changed_fraction=off"], 0),
        (["settings", "show"], 0),
        (["connection", "set", *connection], 0),
        (["connection", "show"], 0),
        (["connection", "test"], 0),
        (["companies", "import"], 0),
        (["demo", "seed", "--period", "2026-10"], 0),
        (["customers", "add", "C1", "Company 1", "--managed-id", "1001"], 0),
        (["customers", "list"], 0),
        (["companies", "link"], 0),
        (["companies", "unlink", "C2"], 0),
        (["companies", "link", "C2", "C2"], 0),
        (["companies", "list"], 0),
        (["companies", "suggest", "C3"], 0),
        (["products", "set", "traffic", "--kind", "traffic", "--unit", "GB", "--basis", "sum"], 0),
        (["products", "list"], 0),
        (["prices", "set", "traffic", "--price", "0.02"], 0),
        (["prices", "set", "storage", "--customer", "C1", "--price", "0.11"], 0),
        (["prices", "list"], 0),
        (["prices", "delete", "storage", "--customer", "C1"], 0),
        (["rules", "set", "backup", 'type/name = "Backup Services"'], 0),
        (["rules", "list"], 0),
        (
            [
                "configurations",
                "set",
                "C1",
                "C1-traffic",
                "--products",
                "traffic",
                "--cw-product",
                "BACKUP-STORAGE-GB-T2",
            ],
            0,
        ),
        (["configurations", "list"], 0),
        (["configurations", "pin", "C1-traffic", "1"], 0),
        (["configurations", "delete", "C1-traffic"], 0),
        (["usage", "import", usage], 0),
        (["usage", "imports"], 0),
        (["usage", "errors", "1"], 0),
        (["usage", "add", "C1", "storage", "160", "GB", "--at", "2026-10-21T00:00:00Z"], 0),
        (["usage", "list", "--customer", "C1"], 0),
        (["usage", "delete", "C1", "--at", "2026-10-21T00:00:00Z"], 0),
        (["demo", "history", "--period", "2026-10", "--months", "2"], 0),
        (["preview", "--period", "2026-10"], 0),
        (["push", "--period", "2026-10", "--force"], 0),
        (["runs", "list"], 0),
        (["runs", "show", "1"], 0),
        (["doctor", "--period", "2026-10"], 4),
        (["leaks", "--period", "2026-10"], 0),
        (["billing", "export", "--period", "2026-10", "--output", cli.file("billing.csv", "")], 0),
        (["backup-stats", "--period", "2026-10"], 0),
        (["users", "add", "ann@example.com", "--role", "billing", "--password", "a long enough password"], 0),
        (["users", "list"], 0),
        (["users", "remove", "ann@example.com"], 0),
        (["tokens", "create", "billing-script", "--role", "billing"], 0),
        (["tokens", "list"], 0),
        (["tokens", "revoke", "1"], 0),
        (["schedules", "set", "auto", "--kind", "auto_billing", "--since", "2026-11-01"], 0),
        (["schedules", "list"], 0),
        (["schedules", "show", "auto"], 0),
        (["schedules", "run-due"], 0),
        (["schedules", "remove", "auto"], 0),
        (["notifications", "list"], 0),
        (["notifications", "send"], 0),
        (["webhooks", "add", "books", "https://hooks.example.com/meterbridge"], 0),
        (["webhooks", "list"], 0),
        (["webhooks", "disable", "books"], 0),
        (["webhooks", "enable", "books"], 0),
        (["webhooks", "remove", "books"], 0),
        (["sources", "set", "vendor", "--url", vendor_url, "--auth-header", "Authorization", "--auth-value",
          "Bearer vendor-token", "--map", "customer=account.id", "--map", "customer_name=account.name", "--map",
          "product=metric", "--map", "measured_at=measured_at", "--map", "quantity=value", "--map", "unit=unit",
          "--translate", "product:licenses=server", "--every", "daily", "--at", "06:30"], 0),
        (["sources", "list"], 0),
        (["sources", "show", "vendor"], 0),
        (["sources", "pull", "vendor"], 0),
        (["sources", "disable", "vendor"], 0),
        (["sources", "enable", "vendor"], 0),
        (["sources", "remove", "vendor"], 0),
    ]  # fmt: skip
    every = commands(app)
    seen: set[tuple[str, ...]] = set()
    for args, code in script:
        words = tuple(w for w in args if not w.startswith("-"))
        command = next(words[:n] for n in (2, 1) if words[:n] in every)
        output = cli("--json", *args, code=code)
        try:
            jsonschema.validate(json.loads(output), schema_of(every[command]))
        except jsonschema.ValidationError as error:
            pytest.fail(f"meterbridge --json {' '.join(args)}: {error.message} at {list(error.absolute_path)}")
        seen.add(command)
    served = {words for words, callback in every.items() if emitted(callback) is None}
    # the long-running processes print no JSON (tests/web and tests/jobs run them)
    assert served == {("serve",), ("worker",)}, "only the server and the worker print no JSON"
    assert set(every) - seen - served == set(), "every command is tried"
    with pytest.raises(jsonschema.ValidationError):  # the check can fail: a run list is not a preview
        jsonschema.validate(json.loads(cli("--json", "runs", "list")), schema_of(every[("preview",)]))
