"""init, the database schema, tenant settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from meterbridge.cli.app import app
from meterbridge.cli.lazy import lazy
from meterbridge.cli.render import fail, guarded, state

if TYPE_CHECKING:
    from meterbridge import runtime
    from meterbridge.services import tenants, views
    from meterbridge.services.tenant_settings import TenantSettings
else:  # loaded when the command runs, not for its --help
    runtime = lazy("meterbridge.runtime")
    tenants = lazy("meterbridge.services.tenants")
    views = lazy("meterbridge.services.views")


@app.command()
@guarded("TenantInit")
def init(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Option(help="Display name of the tenant.")] = None,
    time_zone: Annotated[str, typer.Option(help="The tenant's time zone; periods are months in it.")] = "UTC",
) -> None:
    """Create the database (migrated), the key file (0600) and the tenant."""
    st = state(ctx)
    created = tenants.init_tenant(st.context(), st.tenant, name=name, time_zone=time_zone, actor=st.actor)
    database = runtime.database_label(st.settings)
    view = views.TenantInit(tenant=st.tenant, created=created, database=database)
    st.out(
        view,
        lambda: st.console.print(
            f"tenant [bold]{st.tenant}[/] {'created' if created else 'already exists'}; database {database}"
        ),
    )


db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
@guarded("Revision")
def db_upgrade(ctx: typer.Context) -> None:
    """Bring the schema to the newest migration."""
    st = state(ctx)
    context = st.context(upgrade=False)
    context.db.upgrade()
    view = views.Revision(revision=context.db.current_revision())
    st.out(view, lambda: st.console.print(f"database at revision {view.revision}"))


settings_app = typer.Typer(help="Tenant settings: policies and safety thresholds.", no_args_is_help=True)
app.add_typer(settings_app, name="settings")


def _print_settings(st: Any, settings: TenantSettings) -> None:
    for name, value in settings.model_dump(mode="json").items():
        st.console.print(f"{name} = {_setting_shown(value)}", markup=False, highlight=False)


def _setting_shown(value: Any) -> str:
    """A setting as `settings set` takes it back: off for a threshold switched off, lists joined."""
    if value is None:
        return "off"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) if value else "(none)"
    return str(value)


@settings_app.command("show")
@guarded("TenantSettings")
def settings_show(ctx: typer.Context) -> None:
    """The tenant's policies, safety thresholds and limits."""
    st = state(ctx)
    current = tenants.show_settings(st.context(), st.tenant)
    st.out(current, lambda: _print_settings(st, current))


@settings_app.command("set")
@guarded("TenantSettings")
def settings_set(
    ctx: typer.Context, assignments: Annotated[list[str], typer.Argument(help="name=value, e.g. max_quantity_drop=0.5")]
) -> None:
    """Change settings (`off` or `none` switches a threshold off); the others are kept."""
    st = state(ctx)
    changes: dict[str, Any] = {}
    for assignment in assignments:
        name, sep, value = assignment.partition("=")
        if not sep:
            fail(f"{assignment!r}: write name=value", 2)
        changes[name.strip()] = None if value.strip().lower() in ("none", "off", "") else value.strip()
    updated = tenants.update_settings(st.context(), st.tenant, changes, actor=st.actor)
    st.out(updated, lambda: st.console.print("settings saved"))
