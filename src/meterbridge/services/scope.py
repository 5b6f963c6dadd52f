"""A tenant in scope: what every use case of one tenant starts from, and its periods.

``open_tenant(ctx, "acme")`` reads the tenant once (its id, time zone and settings) and, when a
use case talks to ConnectWise, its connection (``scope.connection()``). Periods are read here
too: ``parse_period`` for any month, ``billing_period`` for a month that can be billed now (not
in the future; the current month is a provisional bill).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import SecretStr
from sqlalchemy.orm import Session

from meterbridge.connectwise.settings import ConnectionSettings
from meterbridge.domain.errors import PeriodError
from meterbridge.domain.periods import Period
from meterbridge.services.context import Context
from meterbridge.services.errors import InvalidInput, NotConfigured
from meterbridge.services.tenant_settings import TenantSettings
from meterbridge.store.models import Tenant
from meterbridge.store.repos import connections, tenants


@dataclass(frozen=True)
class TenantScope:
    ctx: Context
    id: int
    key: str
    name: str
    zone: ZoneInfo
    settings: TenantSettings

    def connection(self, **limits: Any) -> ConnectionSettings:
        """The ConnectWise connection, with the tenant's rate limits (``limits`` override them)."""
        with self.ctx.db.session() as session:
            return connection_settings(self.ctx, session, self.id, **{**self.settings.client_limits(), **limits})

    def billing_period(self, text: str) -> tuple[Period, bool]:
        """The period named, and whether it is still open (a provisional bill); a month that has
        not started yet is refused."""
        period = parse_period(text)
        now = self.ctx.clock()
        current = Period.containing(now, self.zone)
        if period > current:
            raise InvalidInput(
                f"period: {period} has not started yet (it is {now.astimezone(self.zone):%Y-%m-%d %H:%M} in "
                f"{self.zone.key}); the latest period is {current}, billed provisionally until it ends",
                field="period",
            )
        return period, period == current


def tenant_row(session: Session, key: str) -> Tenant:
    row = tenants.by_key(session, key)
    if row is None:
        raise NotConfigured(
            f"no tenant {key!r}", hint="create it first", action="init", params={"tenant": key}, field="tenant"
        )
    return row


def scope_of(ctx: Context, row: Tenant) -> TenantScope:
    settings = TenantSettings.model_validate(row.settings or {})
    return TenantScope(ctx, row.id, row.key, row.name, ZoneInfo(row.time_zone), settings)


def open_tenant(ctx: Context, tenant: str) -> TenantScope:
    with ctx.db.session() as session:
        return scope_of(ctx, tenant_row(session, tenant))


def connection_settings(ctx: Context, session: Session, tenant_id: int, **limits: Any) -> ConnectionSettings:
    row = connections.of_tenant(session, tenant_id)
    if row is None:
        raise NotConfigured("no ConnectWise connection", hint="set the connection first", action="connection.set")
    return ConnectionSettings(
        site=row.site,
        company_id=row.company_id,
        public_key=row.public_key,
        private_key=SecretStr(ctx.box.open(row.private_key_sealed)),
        client_id=row.client_id,
        api_version=row.api_version,
        codebase=row.codebase,
        **limits,
    )


def parse_period(text: str) -> Period:
    """A billing month (2026-10); years 2000 to 2999, the ones meterbridge bills."""
    try:
        period = Period.parse(text)
    except PeriodError as error:
        raise InvalidInput(f"period: {error}", field="period") from None
    if not 2000 <= period.year <= 2999:
        raise InvalidInput(f"period: {period} is not a month meterbridge bills (years 2000 to 2999)", field="period")
    return period
