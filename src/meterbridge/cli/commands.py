"""The command line's table of contents, and the group that loads a command's module when it runs.

``meterbridge --help`` lists every command from ``COMMANDS`` without importing the services,
SQLAlchemy or Alembic behind them; the module defining a command is imported only when that
command (or its ``--help``) is used. A test checks that the table says what the modules define.
"""

from __future__ import annotations

import importlib
from typing import Any, NamedTuple

from typer.core import TyperCommand, TyperGroup


class Entry(NamedTuple):
    module: str  # the module that defines the command or group
    help: str  # its help, as the module gives it


#: Every top-level command and group, in the order ``--help`` lists them.
COMMANDS: dict[str, Entry] = {
    "preview": Entry(
        "meterbridge.cli.billing",
        "Plan a period against what ConnectWise holds now; nothing is written to ConnectWise.",
    ),
    "push": Entry(
        "meterbridge.cli.billing",
        "Write the period's billing to ConnectWise: journalled, leased, safe to run twice and to kill.",
    ),
    "billing": Entry("meterbridge.cli.billing", "What the pushes billed: the billing export."),
    "doctor": Entry(
        "meterbridge.cli.reports", "Check the ConnectWise side of the set-up (and fix what can be fixed with --create)."
    ),
    "leaks": Entry(
        "meterbridge.cli.reports", "Revenue leaks: usage with no billing line, billing lines with no usage."
    ),
    "backup-stats": Entry(
        "meterbridge.cli.reports",
        "Basic setup: publish Backup Stats configurations (billable GB, year, month) by Managed ID.",
    ),
    "worker": Entry(
        "meterbridge.cli.schedules",
        "Run schedules as Procrastinate jobs on PostgreSQL: start as many as you like, on any machine\n"
        "(one push per tenant at a time, whatever the worker); `meterbridge serve` then needs\n"
        "MBRIDGE_SCHEDULER=false.",
    ),
    "serve": Entry(
        "meterbridge.cli.serve",
        "Serve the console on http://HOST:PORT/console and the REST API on /api/v1 (OpenAPI at /docs).",
    ),
    "init": Entry("meterbridge.cli.setup", "Create the database (migrated), the key file (0600) and the tenant."),
    "users": Entry("meterbridge.cli.accounts", "Users who sign in to the console, and their role in the tenant."),
    "tokens": Entry("meterbridge.cli.accounts", "API tokens: scoped to the tenant and a role, shown once."),
    "notifications": Entry(
        "meterbridge.cli.notifications",
        "Emails to the managers and webhook deliveries about runs: what was sent, and sending what waits.",
    ),
    "webhooks": Entry("meterbridge.cli.notifications", "Webhooks: signed POSTs of every run's outcome to other tools."),
    "products": Entry("meterbridge.cli.catalog", "Products, their ConnectWise mapping and prices."),
    "prices": Entry("meterbridge.cli.catalog", "Prices per product and per-customer overrides."),
    "companies": Entry("meterbridge.cli.companies", "ConnectWise companies and customer links."),
    "customers": Entry("meterbridge.cli.companies", "Customers (the owners of usage)."),
    "configurations": Entry("meterbridge.cli.configurations", "Billing configurations per customer."),
    "rules": Entry("meterbridge.cli.configurations", "Agreement and addition rules (ConnectWise conditions language)."),
    "connection": Entry("meterbridge.cli.connection", "The ConnectWise connection."),
    "demo": Entry("meterbridge.cli.demo", "Demo data for trying meterbridge against cwsim."),
    "runs": Entry("meterbridge.cli.runs", "History of previews and pushes."),
    "schedules": Entry(
        "meterbridge.cli.schedules",
        "Schedules: auto-billing in the first days of the month, a push on a day of the month, an hourly refresh of "
        "the preview. `meterbridge serve` runs them (or `meterbridge worker` processes).",
    ),
    "db": Entry("meterbridge.cli.setup", "The database schema."),
    "settings": Entry("meterbridge.cli.setup", "Tenant settings: policies and safety thresholds."),
    "usage": Entry("meterbridge.cli.usage", "Usage samples."),
    "sources": Entry(
        "meterbridge.cli.sources",
        "Usage sources pulled over HTTP (a vendor's usage API): paging, field mapping, hourly or daily pulls.",
    ),
}


def load_all() -> None:
    """Import every command's module (what walks the whole command tree needs, e.g. its tests)."""
    for entry in COMMANDS.values():
        importlib.import_module(entry.module)


class LazyGroup(TyperGroup):
    """The root group: lists the table, imports a command's module the first time it is wanted."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return super().get_command(ctx, cmd_name)
        if self._listing and cmd_name not in self.commands:
            return TyperCommand(cmd_name, help=entry.help)  # its name and help are all a listing shows
        if cmd_name not in self.commands:
            importlib.import_module(entry.module)
            self.commands[cmd_name] = _built(cmd_name)
        return self.commands[cmd_name]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def _built(name: str) -> Any:
    """The command Typer builds for ``name``, now that its module registered it."""
    import typer.main

    from meterbridge.cli.app import app

    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    return root.commands[name]
