"""meterbridge's command line (Typer + Rich) over the service layer: one module per command
group, one renderer (``render.py``) for tables, ``--json`` of the service views, money, next
steps and exit codes."""

from meterbridge.cli import (
    accounts,
    billing,
    catalog,
    companies,
    configurations,
    connection,
    demo,
    notifications,
    reports,
    runs,
    schedules,
    serve,
    setup,
    sources,
    usage,
)
from meterbridge.cli.app import app
from meterbridge.cli.render import EXIT_HELD, EXIT_PARTIAL, Injected

__all__ = [
    "EXIT_HELD",
    "EXIT_PARTIAL",
    "Injected",
    "accounts",
    "app",
    "billing",
    "catalog",
    "companies",
    "configurations",
    "connection",
    "demo",
    "entry",
    "notifications",
    "reports",
    "runs",
    "schedules",
    "serve",
    "setup",
    "sources",
    "usage",
]


def entry() -> None:
    app()
