"""Users (console sign-in, a role per tenant) and API tokens (shown once)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from meterbridge.cli.app import app
from meterbridge.cli.lazy import lazy
from meterbridge.cli.render import guarded, make_table, state

if TYPE_CHECKING:
    from meterbridge.services import accounts
else:  # loaded when the command runs, not for its --help
    accounts = lazy("meterbridge.services.accounts")

users_app = typer.Typer(help="Users who sign in to the console, and their role in the tenant.", no_args_is_help=True)
app.add_typer(users_app, name="users")


@users_app.command("add")
@guarded("MemberView")
def users_add(
    ctx: typer.Context,
    username: str,
    role: Annotated[str, typer.Option(help="admin (connection, users), billing (configure, preview, push), viewer")],
    password: Annotated[
        str | None, typer.Option(help="Asked for when left out (12 characters at least); stored as an argon2 hash.")
    ] = None,
    keep_password: Annotated[
        bool, typer.Option("--keep-password", help="An existing user: change only the role.")
    ] = False,
) -> None:
    """Give a user a role in the tenant (a new user gets the password; an existing one's is replaced)."""
    st = state(ctx)
    secret = None if keep_password else password or typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    view = accounts.add_member(st.context(), st.tenant, username, role, password=secret, actor=st.actor, operator=True)
    st.out(view, lambda: st.console.print(f"{view.username} is {view.role.value} in tenant {st.tenant}"))


@users_app.command("list")
@guarded("list[MemberView]")
def users_list(ctx: typer.Context) -> None:
    """The tenant's members and their roles."""
    st = state(ctx)
    views = accounts.list_members(st.context(), st.tenant)

    def human() -> None:
        table = make_table("user", "role", "disabled")
        for v in views:
            table.add_row(v.username, v.role.value, "yes" if v.disabled else "no")
        st.console.print(table)

    st.out(views, human)


@users_app.command("remove")
@guarded("MemberView")
def users_remove(ctx: typer.Context, username: str) -> None:
    """Take a user's role in the tenant away (the user keeps their other tenants)."""
    st = state(ctx)
    view = accounts.remove_member(st.context(), st.tenant, username, actor=st.actor)
    st.out(view, lambda: st.console.print(f"{view.username} is no longer a member of tenant {st.tenant}"))


tokens_app = typer.Typer(help="API tokens: scoped to the tenant and a role, shown once.", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")


@tokens_app.command("create")
@guarded("TokenCreated")
def tokens_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="What uses it, e.g. billing-script.")],
    role: Annotated[str, typer.Option(help="admin, billing or viewer")],
) -> None:
    """Create a token; its value is printed once and never again."""
    st = state(ctx)
    view = accounts.create_token(st.context(), st.tenant, name, role, actor=st.actor)

    def human() -> None:
        st.console.print(f"token {view.id} ({view.name}, {view.role.value} in {view.tenant}); store it now:")
        st.console.print(view.token, soft_wrap=True, highlight=False)

    st.out(view, human)


@tokens_app.command("list")
@guarded("list[TokenView]")
def tokens_list(ctx: typer.Context) -> None:
    """The tenant's tokens: role, who made them, last used, revoked (never their values)."""
    st = state(ctx)
    views = accounts.list_tokens(st.context(), st.tenant)

    def human() -> None:
        table = make_table("id", "name", "role", "created", "by", "last used", "revoked")
        for v in views:
            table.add_row(
                str(v.id),
                v.name,
                v.role.value,
                f"{v.created_at:%Y-%m-%d %H:%M}",
                v.created_by,
                f"{v.last_used_at:%Y-%m-%d %H:%M}" if v.last_used_at else "-",
                f"{v.revoked_at:%Y-%m-%d %H:%M}" if v.revoked_at else "-",
            )
        st.console.print(table)

    st.out(views, human)


@tokens_app.command("revoke")
@guarded("TokenView")
def tokens_revoke(ctx: typer.Context, token_id: int) -> None:
    """Revoke a token: it stops working at once."""
    st = state(ctx)
    view = accounts.revoke_token(st.context(), st.tenant, token_id, actor=st.actor)
    st.out(view, lambda: st.console.print(f"token {view.id} ({view.name}) revoked"))
