"""The root of the command line: global options, and the state every command gets.

Kept light: the settings, the renderer and the services behind them are imported when a
command runs, not when ``--help`` lists the commands (``commands.LazyGroup``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from meterbridge.cli.commands import LazyGroup

if TYPE_CHECKING:
    from rich.console import Console

    from meterbridge.settings import Settings

app = typer.Typer(
    name="meterbridge",
    help="meterbridge: backup usage -> explained, never-twice billing in ConnectWise Manage.",
    no_args_is_help=True,
    add_completion=False,
    cls=LazyGroup,
)


@app.callback()
def main(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of tables.")] = False,
    tenant: Annotated[str | None, typer.Option(help="Tenant key (default: MBRIDGE_TENANT or 'default').")] = None,
    home: Annotated[Path | None, typer.Option(help="Data directory (default: MBRIDGE_HOME or ./.meterbridge).")] = None,
) -> None:
    from rich.console import Console

    from meterbridge.cli.render import Injected, State

    global_args: list[str] = []
    if tenant:
        global_args += ["--tenant", tenant]
    if home:
        global_args += ["--home", str(home)]
    injected = ctx.obj if isinstance(ctx.obj, Injected) else None
    ctx.obj = State(
        lambda: _settings(tenant, home),
        as_json,
        _console(Console, stderr=as_json),
        global_args=tuple(global_args),
        clock=injected.clock if injected else None,
    )


#: the width of what is written to a file or a pipe: tables and lines as long as they are, unwrapped
PIPED_WIDTH = 10_000


def _console(make: type[Console], *, stderr: bool) -> Console:
    """A terminal's console wraps at its width (or COLUMNS when set); output to a file or a pipe is
    not wrapped at 80 columns, which would cut table cells in two ("2026-1 / 1")."""
    import os
    import sys

    stream = sys.stderr if stderr else sys.stdout
    if os.environ.get("COLUMNS") or stream.isatty():
        return make(stderr=stderr)
    return make(stderr=stderr, width=PIPED_WIDTH, soft_wrap=True)


def _settings(tenant: str | None, home: Path | None) -> Settings:
    """The environment's settings, with --tenant and --home over them; read when a command first
    needs them, so that a command's --help reads none."""
    from pydantic import ValidationError

    from meterbridge.settings import Settings

    try:
        settings = Settings()
    except ValidationError as error:
        typer.echo(f"error: settings: {error}", err=True)
        raise typer.Exit(2) from None
    if tenant:
        settings.tenant = tenant
    if home:
        settings.home = home
    return settings
