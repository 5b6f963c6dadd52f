"""A new user's world for CLI tests: cwsim on a real loopback socket, meterbridge's CLI run
in-process on a fresh database, both on one clock the test moves, and helpers that read what
ConnectWise bills afterwards."""

from __future__ import annotations

import functools
import json
import shlex
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
import typer.main
from click.testing import CliRunner

from cwsim.app import create_app
from cwsim.invoicing import Month, invoice_month
from cwsim.scenario import load_scenario
from cwsim.sim import Simulator
from cwsim.state import SimSettings
from meterbridge.cli import Injected, app
from tests.support.clocks import FakeClock
from tests.support.contract import ContractLog, ContractMiddleware
from tests.support.server import serve

CATALOG = {
    "BACKUP-STORAGE-GB": ("0.12", "0.04"),
    "BACKUP-STORAGE-GB-T2": ("0.09", "0.03"),
    "BACKUP-SERVER": ("45", "18"),
    "BACKUP-M365-USER": ("3.5", "1.2"),
}
MONTHS = [date(2026, m, 1) for m in range(7, 13)]


def company_scenario(companies: int, agreement_extra: dict[int, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Company i (1-based, identifier Ci) with one "Backup Services" agreement i billing since 2025."""
    extra = agreement_extra or {}
    return {
        "companies": [{"id": i, "identifier": f"C{i}", "name": f"Company {i}"} for i in range(1, companies + 1)],
        "contacts": [
            {"id": i, "firstName": "Ann", "lastName": f"Lee {i}", "company": {"id": i}} for i in range(1, companies + 1)
        ],
        "agreementTypes": [{"name": "Backup Services"}],
        "agreements": [
            {
                "id": i,
                "name": f"Backup - {i}",
                "type": {"name": "Backup Services"},
                "company": {"id": i},
                "contact": {"id": i},
                "startDate": "2025-01-01T00:00:00Z",
                "billStartDate": "2025-01-01T00:00:00Z",
                **extra.get(i, {}),
            }
            for i in range(1, companies + 1)
        ],
        "catalog": [
            {
                "identifier": key,
                "description": key.title(),
                "customerDescription": key.title(),
                "subcategory": {"name": "Backup"},
                "type": {"name": "Service"},
                "productClass": "Service",
                "price": float(price),
                "cost": float(cost),
            }
            for key, (price, cost) in CATALOG.items()
        ],
        "configurationTypes": [{"name": "Backup Stats"}],
    }


@functools.cache
def meterbridge_command() -> click.Command:
    """meterbridge's command line as click runs it, converted from its Typer app once a test
    process (Typer's own CliRunner converts the whole app, every command's signature, on every
    invoke). Click commands keep no state between invocations; a command group's lazily loaded
    commands stay loaded, as they would in one long process."""
    return typer.main.get_command(app)


@dataclass
class Cli:
    """``cli("preview", "--period", "2026-10")`` runs meterbridge as a user would and returns its output."""

    sim: Simulator
    clock: Callable[[], datetime]
    url: str
    env: dict[str, str]
    tmp: Path
    runner: CliRunner = field(default_factory=CliRunner)

    def __call__(self, *args: str, code: int = 0) -> str:
        result = self.runner.invoke(meterbridge_command(), list(args), env=self.env, obj=Injected(self.clock))
        assert result.exit_code == code, f"meterbridge {' '.join(args)} exited {result.exit_code}:\n{result.output}"
        assert "Traceback" not in result.output
        return result.output

    def json(self, *args: str, code: int = 0) -> Any:
        return json.loads(self("--json", *args, code=code))

    def file(self, name: str, text: str) -> str:
        path = self.tmp / name
        path.write_text(text)
        return str(path)

    def additions(self) -> list[dict[str, Any]]:
        return sorted(self.sim.state.collections["additions"].by_id.values(), key=lambda a: a["id"])

    def live(self, agreement: int, product: str) -> list[dict[str, Any]]:
        return [a for a in self.additions() if a["agreementId"] == agreement and a["product"]["identifier"] == product]

    def invoice(self, month: str) -> list[dict[str, Any]]:
        """cwsim invoices every agreement up to ``month`` (as its admin call does); the invoices made, with lines."""
        made: list[dict[str, Any]] = invoice_month(self.sim.state, Month.parse(month))
        return made

    def advance(self, **delta: float) -> None:
        assert isinstance(self.clock, FakeClock), "this world runs on the system clock"
        self.clock.advance(**delta)

    def set_up(self, *customers: str, tenant: str | None = None) -> None:
        """init, connection, company import, products and prices, the default rule, customers linked."""
        prefix = ("--tenant", tenant) if tenant else ()

        def run(*args: str) -> str:
            return self(*prefix, *args)

        run("init", "--time-zone", "UTC")
        run(
            "connection", "set", "--site", self.url, "--company-id", "sim", "--public-key", "simpub",
            "--private-key", "simpriv", "--client-id", "tests",
        )  # fmt: skip
        run("companies", "import")
        for key, kind, unit, basis, cw in (
            ("storage", "storage", "GB", "max", "BACKUP-STORAGE-GB"),
            ("server", "license", "count", "last", "BACKUP-SERVER"),
            ("m365", "license", "count", "max", "BACKUP-M365-USER"),
            ("traffic", "traffic", "GB", "sum", "BACKUP-STORAGE-GB"),
        ):
            run("products", "set", key, "--kind", kind, "--unit", unit, "--basis", basis, "--cw-product", cw)
        run("prices", "set", "storage", "--price", "0.10", "--cost", "0.04")
        run("prices", "set", "server", "--price", "45", "--cost", "18")
        run("prices", "set", "m365", "--price", "3.5", "--cost", "1.2")
        run("prices", "set", "traffic", "--price", "0.02")
        run("rules", "set", "default-agreement", 'type/name = "Backup Services"')
        for customer in customers:
            run("customers", "add", customer, f"Company {customer[1:]}")
        run("companies", "link")


def make_cli(
    database_url: str, contract_log: ContractLog, tmp: Path, scenario: dict[str, Any], *, real_time: bool = False
) -> Iterator[Cli]:
    """``real_time``: both sides on the system clock, for meterbridge run in another process too."""
    clock: Callable[[], datetime] = (
        (lambda: datetime.now(UTC)) if real_time else FakeClock(datetime(2026, 11, 3, 9, tzinfo=UTC))
    )  # the fake clock: October is over, November is open
    sim = Simulator.create(SimSettings(rate_limit_per_minute=1_000_000), clock=clock, seed=5)
    load_scenario(sim, scenario)
    with serve(ContractMiddleware(create_app(sim), contract_log)) as url:
        env = {"MBRIDGE_HOME": str(tmp / "home"), "MBRIDGE_DATABASE_URL": database_url, "COLUMNS": "400"}
        yield Cli(sim, clock, url, env, tmp)


def is_correction(addition: dict[str, Any]) -> bool:
    """A correction meterbridge billed for an invoiced month: a difference, not a month's bill."""
    return str(addition.get("invoiceDescription", "")).startswith("Correction for ")


def bills_per_month(cli: Cli) -> Counter[tuple[int, str, date]]:
    """(agreement, ConnectWise product, month) -> how many additions bill it: active on some day of
    the month (corrections aside: they bill the difference of an invoiced month)."""
    counts: Counter[tuple[int, str, date]] = Counter()
    for addition in (a for a in cli.additions() if not is_correction(a)):
        start = date.fromisoformat(addition["effectiveDate"][:10])
        end = date.fromisoformat(addition["cancelledDate"][:10]) if addition.get("cancelledDate") else None
        for month in MONTHS:
            last = date(month.year + month.month // 12, month.month % 12 + 1, 1)
            if start < last and (end is None or end >= month):
                counts[(addition["agreementId"], addition["product"]["identifier"], month)] += 1
    return counts


def assert_billed_at_most_once(cli: Cli) -> None:
    twice = {key: n for key, n in bills_per_month(cli).items() if n > 1}
    assert not twice, f"billed more than once: {twice}"


def amount(value: Any) -> Decimal:
    return Decimal(str(value))


def printed(output: str, lead: str) -> list[str]:
    """The command a line of output tells the user to run, as argv for the CLI."""
    [line] = [line for line in output.splitlines() if lead in line]
    words = shlex.split(line.split(lead, 1)[1])
    assert words[0] == "meterbridge"
    return words[1:]
