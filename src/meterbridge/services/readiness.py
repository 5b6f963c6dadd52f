"""Is meterbridge ready to bill: the database answers, and ConnectWise can be reached for every
tenant with a connection (its codebase discovery answers, within a few seconds)."""

from __future__ import annotations

import asyncio

from meterbridge.connectwise.errors import ConnectWiseError
from meterbridge.services.context import Context
from meterbridge.services.errors import ServiceError
from meterbridge.services.scope import open_tenant
from meterbridge.store.repos import connections, tenants


def database(ctx: Context) -> str:
    try:
        with ctx.db.session() as session:
            tenants.by_key(session, "")
    except Exception as error:
        return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    return "ok"


async def _reach(ctx: Context, tenant: str) -> str:
    try:
        settings = open_tenant(ctx, tenant).connection(max_attempts=1, timeout_seconds=5, connect_timeout_seconds=3)
        async with ctx.client(settings) as cw:
            await cw.codebase(refresh=True)
    except (ConnectWiseError, ServiceError) as error:
        return str(error)
    return "reachable"


async def connectwise(ctx: Context) -> dict[str, str]:
    """Tenant -> "reachable", or why not."""
    with ctx.db.session() as session:
        keys = [row.key for row in tenants.all_of(session) if connections.of_tenant(session, row.id) is not None]
    results = await asyncio.gather(*(_reach(ctx, key) for key in keys))
    return dict(zip(keys, results, strict=True))
