"""meterbridge's command line (Typer + Rich) over the service layer: one module per command
group, one renderer (``render.py``) for tables, ``--json`` of the service views, money, next
steps and exit codes. ``commands.py`` lists every command; a command's module is imported when
it runs, so ``meterbridge --help`` starts in a fraction of a second."""

from __future__ import annotations

import importlib
from typing import Any

from meterbridge.cli.app import app

__all__ = ["EXIT_HELD", "EXIT_PARTIAL", "Injected", "app", "entry"]


def __getattr__(name: str) -> Any:
    """``EXIT_HELD``, ``EXIT_PARTIAL`` and ``Injected`` from the renderer, imported when first asked for."""
    if name in ("EXIT_HELD", "EXIT_PARTIAL", "Injected"):
        return getattr(importlib.import_module("meterbridge.cli.render"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def entry() -> None:
    app()
