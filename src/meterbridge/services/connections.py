"""The tenant's ConnectWise connection: set it (the private key sealed), read it back, test it."""

from __future__ import annotations

from pydantic import SecretStr, ValidationError

from meterbridge.connectwise.errors import ConnectWiseError
from meterbridge.connectwise.settings import ConnectionSettings
from meterbridge.services.actors import Actor
from meterbridge.services.audit import audit
from meterbridge.services.context import Context
from meterbridge.services.errors import InvalidInput, NotConfigured
from meterbridge.services.scope import open_tenant, tenant_row
from meterbridge.services.validation import invalid
from meterbridge.services.views import ConnectionTestView, ConnectionView
from meterbridge.store.models import Connection
from meterbridge.store.repos import connections


def _view(row: Connection) -> ConnectionView:
    return ConnectionView(
        site=row.site,
        company_id=row.company_id,
        public_key=row.public_key,
        client_id=row.client_id,
        api_version=row.api_version,
        codebase=row.codebase,
        tested_at=row.tested_at,
    )


def set_connection(
    ctx: Context,
    tenant: str,
    *,
    site: str,
    company_id: str,
    public_key: str,
    private_key: str | None,
    client_id: str,
    actor: Actor,
    api_version: str = "2026.4",
    codebase: str | None = None,
) -> ConnectionView:
    """Validate and store the connection; the private key is sealed and never shown again
    (None keeps the stored one: a form that never shows the key can change the rest)."""
    replaced = private_key is not None
    if private_key is None:
        with ctx.db.session() as session:
            stored = connections.of_tenant(session, tenant_row(session, tenant).id)
            if stored is None:
                raise InvalidInput("private_key: a new connection needs the private key", field="private_key")
            private_key = ctx.box.open(stored.private_key_sealed)
    try:
        settings = ConnectionSettings(
            site=site,
            company_id=company_id,
            public_key=public_key,
            private_key=SecretStr(private_key),
            client_id=client_id,
            api_version=api_version,
            codebase=codebase,
        )
    except ValidationError as error:
        raise invalid(error) from None
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        existing = connections.of_tenant(session, row.id)
        before = _view(existing).model_dump(mode="json", exclude={"tested_at"}) if existing else None
        connection = connections.get_or_add(session, row.id)
        connection.site = settings.site
        connection.company_id = settings.company_id
        connection.public_key = settings.public_key
        connection.private_key_sealed = ctx.box.seal(private_key)
        connection.client_id = settings.client_id
        connection.api_version = settings.api_version
        connection.codebase = settings.codebase
        connection.tested_at = None
        view = _view(connection)
        after = {
            **view.model_dump(mode="json", exclude={"tested_at"}),
            "private key": "replaced (sealed, not shown)" if replaced else "kept",
        }
        audit(session, ctx, row.id, actor, "connection.set", after, before=before)
        return view


def show_connection(ctx: Context, tenant: str) -> ConnectionView:
    with ctx.db.session() as session:
        row = connections.of_tenant(session, tenant_row(session, tenant).id)
        if row is None:
            raise NotConfigured("no ConnectWise connection", hint="set the connection first", action="connection.set")
        return _view(row)


async def test_connection(ctx: Context, tenant: str, *, actor: Actor) -> ConnectionTestView:
    """Discover the codebase and read system/info: proves site, keys, clientId and version work."""
    scope = open_tenant(ctx, tenant)
    settings = scope.connection(max_attempts=2)
    try:
        async with ctx.client(settings) as cw:
            codebase = await cw.codebase(refresh=True)
            info = await cw.system_info()
    except ConnectWiseError as error:
        return ConnectionTestView(ok=False, codebase=None, version=None, message=str(error))
    version = str(info.get("version", "")) or None
    with ctx.db.session() as session:
        connection = connections.of_tenant(session, scope.id)
        assert connection is not None
        connection.tested_at = ctx.clock()
        audit(session, ctx, scope.id, actor, "connection.test", {"codebase": codebase})
    return ConnectionTestView(
        ok=True, codebase=codebase, version=version, message=f"connected to {settings.site} (codebase {codebase})"
    )
