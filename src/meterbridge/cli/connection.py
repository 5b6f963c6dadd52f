"""The ConnectWise connection: set (the private key sealed, never printed), show, test."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from meterbridge.cli.app import app
from meterbridge.cli.lazy import lazy
from meterbridge.cli.render import guarded, run, state

if TYPE_CHECKING:
    from meterbridge.services import connections
else:  # loaded when the command runs, not for its --help
    connections = lazy("meterbridge.services.connections")

connection_app = typer.Typer(help="The ConnectWise connection.", no_args_is_help=True)
app.add_typer(connection_app, name="connection")


@connection_app.command("set")
@guarded("ConnectionView")
def connection_set(
    ctx: typer.Context,
    site: Annotated[str, typer.Option(help="ConnectWise site host, e.g. na.myconnectwise.net (http:// for cwsim).")],
    company_id: Annotated[str, typer.Option(help="The login company id.")],
    public_key: Annotated[str, typer.Option(help="API member public key.")],
    client_id: Annotated[str, typer.Option(help="Your integration's clientId.")],
    private_key: Annotated[
        str | None, typer.Option(help="API member private key (asked for when left out; stored encrypted).")
    ] = None,
    api_version: Annotated[str, typer.Option(help="Pinned API version.")] = "2026.4",
    codebase: Annotated[str | None, typer.Option(help="e.g. v2026_4/ (discovered when left out).")] = None,
) -> None:
    """Store the connection; the private key is encrypted at rest and never printed."""
    st = state(ctx)
    secret = private_key or typer.prompt("Private key", hide_input=True)
    saved = connections.set_connection(
        st.context(),
        st.tenant,
        site=site,
        company_id=company_id,
        public_key=public_key,
        private_key=secret,
        client_id=client_id,
        api_version=api_version,
        codebase=codebase,
        actor=st.actor,
    )
    st.out(
        saved,
        lambda: st.console.print(
            f"connection saved for {saved.site} (company {saved.company_id}); try `{st.command('connection', 'test')}`"
        ),
    )


@connection_app.command("show")
@guarded("ConnectionView")
def connection_show(ctx: typer.Context) -> None:
    """The stored connection (never the private key)."""
    st = state(ctx)
    view = connections.show_connection(st.context(), st.tenant)

    def human() -> None:
        for name, value in view.model_dump(mode="json").items():
            st.console.print(f"{name} = {value if value is not None else '-'}")

    st.out(view, human)


@connection_app.command("test")
@guarded("ConnectionTestView")
def connection_test(ctx: typer.Context) -> None:
    """Discover the codebase and read system/info with the stored keys."""
    st = state(ctx)
    result = run(connections.test_connection(st.context(), st.tenant, actor=st.actor))
    st.out(result, lambda: st.console.print(("[green]ok[/] " if result.ok else "[red]failed[/] ") + result.message))
    if not result.ok:
        raise typer.Exit(1)
