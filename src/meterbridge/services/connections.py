"""The tenant's ConnectWise connection: set it (the private key sealed), read it back, test it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from meterbridge.connectwise.errors import ConnectWiseError
from meterbridge.connectwise.settings import ConnectionSettings
from meterbridge.services.context import Context
from meterbridge.services.errors import InvalidInput, NotConfigured
from meterbridge.services.tenants import audit, settings_of, tenant_row
from meterbridge.services.validation import describe
from meterbridge.store.models import Connection


def set_connection(
    ctx: Context,
    tenant: str,
    *,
    site: str,
    company_id: str,
    public_key: str,
    private_key: str,
    client_id: str,
    api_version: str = "2026.4",
    codebase: str | None = None,
    actor: str = "cli",
) -> ConnectionSettings:
    """Validate and store the connection; the private key is sealed and never shown again."""
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
        raise InvalidInput(describe(error)) from None
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        connection = session.scalar(select(Connection).where(Connection.tenant_id == row.id))
        if connection is None:
            connection = Connection(tenant_id=row.id)
            session.add(connection)
        connection.site = settings.site
        connection.company_id = settings.company_id
        connection.public_key = settings.public_key
        connection.private_key_sealed = ctx.box.seal(private_key)
        connection.client_id = settings.client_id
        connection.api_version = settings.api_version
        connection.codebase = settings.codebase
        connection.tested_at = None
        audit(session, ctx, row.id, actor, "connection.set", {"site": settings.site, "company_id": company_id})
    return settings


def connection_settings(ctx: Context, session: Session, tenant_id: int, **limits: Any) -> ConnectionSettings:
    connection = session.scalar(select(Connection).where(Connection.tenant_id == tenant_id))
    if connection is None:
        raise NotConfigured("no ConnectWise connection: run `meterbridge connection set` first")
    return ConnectionSettings(
        site=connection.site,
        company_id=connection.company_id,
        public_key=connection.public_key,
        private_key=SecretStr(ctx.box.open(connection.private_key_sealed)),
        client_id=connection.client_id,
        api_version=connection.api_version,
        codebase=connection.codebase,
        **limits,
    )


def load_settings(ctx: Context, tenant: str, **limits: Any) -> ConnectionSettings:
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        return connection_settings(ctx, session, row.id, **{**settings_of(row).client_limits(), **limits})


@dataclass(frozen=True)
class ConnectionTest:
    ok: bool
    codebase: str | None
    version: str | None
    message: str


async def test_connection(ctx: Context, tenant: str) -> ConnectionTest:
    """Discover the codebase and read system/info: proves site, keys, clientId and version work."""
    settings = load_settings(ctx, tenant, max_attempts=2)
    try:
        async with ctx.client(settings) as cw:
            codebase = await cw.codebase(refresh=True)
            info = await cw.system_info()
    except ConnectWiseError as error:
        return ConnectionTest(False, None, None, str(error))
    version = str(info.get("version", "")) or None
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        connection = session.scalar(select(Connection).where(Connection.tenant_id == row.id))
        assert connection is not None
        connection.tested_at = ctx.clock()
        audit(session, ctx, row.id, "cli", "connection.test", {"codebase": codebase})
    return ConnectionTest(True, codebase, version, f"connected to {settings.site} (codebase {codebase})")
