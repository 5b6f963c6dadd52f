"""meterbridge's command line (Typer + Rich) over the service layer: one module per command
group, one renderer (``render.py``) for tables, ``--json`` of the service views, money, next
steps and exit codes."""

from meterbridge.cli import billing, catalog, companies, configurations, connection, demo, reports, runs, setup, usage
from meterbridge.cli.app import app
from meterbridge.cli.render import EXIT_HELD, EXIT_PARTIAL, Injected

__all__ = [
    "EXIT_HELD",
    "EXIT_PARTIAL",
    "Injected",
    "app",
    "billing",
    "catalog",
    "companies",
    "configurations",
    "connection",
    "demo",
    "entry",
    "reports",
    "runs",
    "setup",
    "usage",
]


def entry() -> None:
    app()
