"""Tenants and their settings (policies, safety thresholds, lease length), validated as a whole."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from meterbridge.domain.periods import Period
from meterbridge.services.actors import Actor
from meterbridge.services.audit import audit
from meterbridge.services.context import Context
from meterbridge.services.errors import InvalidInput
from meterbridge.services.scope import open_tenant, tenant_row
from meterbridge.services.tenant_settings import TenantSettings
from meterbridge.services.validation import invalid
from meterbridge.services.views import Role, TenantView
from meterbridge.services.views.console import PeriodChoices
from meterbridge.store.repos import tenants

DEFAULT_TENANT = "default"


def init_tenant(
    ctx: Context, key: str = DEFAULT_TENANT, *, actor: Actor, name: str | None = None, time_zone: str = "UTC"
) -> bool:
    """Create the tenant (and its lease row) if it does not exist; True when it was created."""
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"time_zone: {time_zone!r} is not a known time zone (e.g. Europe/London)", field="time_zone"
        ) from None
    if not key.strip() or len(key) > 64:
        raise InvalidInput("tenant: a tenant key has 1 to 64 characters", field="tenant")
    with ctx.db.session() as session:
        if tenants.by_key(session, key) is not None:
            return False
        row = tenants.add(session, key=key, name=name or key, time_zone=time_zone, at=ctx.clock())
        audit(session, ctx, row.id, actor, "tenant.create", {"key": key, "time_zone": time_zone})
        return True


def tenant_view(ctx: Context, key: str, role: Role) -> TenantView:
    scope = open_tenant(ctx, key)
    return TenantView(key=scope.key, name=scope.name, time_zone=scope.zone.key, role=role)


def show_settings(ctx: Context, key: str) -> TenantSettings:
    return open_tenant(ctx, key).settings


def update_settings(ctx: Context, key: str, changes: dict[str, Any], *, actor: Actor) -> TenantSettings:
    unknown = sorted(set(changes) - set(TenantSettings.model_fields))
    if unknown:
        raise InvalidInput(
            f"{unknown[0]}: not a setting; the settings are {', '.join(TenantSettings.model_fields)}", field=unknown[0]
        )
    with ctx.db.session() as session:
        row = tenant_row(session, key)
        merged = {**(row.settings or {}), **changes}
        try:
            settings = TenantSettings.model_validate(merged)
        except ValidationError as error:
            raise invalid(error) from None
        before = TenantSettings.model_validate(row.settings or {}).model_dump(mode="json")
        row.settings = settings.model_dump(mode="json")
        after = row.settings
        changed = {k: after[k] for k in after if after[k] != before.get(k)}
        audit(session, ctx, row.id, actor, "tenant.settings", changed, before={k: before.get(k) for k in changed})
        return settings


def billing_periods(ctx: Context, key: str, *, months: int = 13) -> PeriodChoices:
    """The months a period picker offers: this month (provisional) and the ones before it."""
    scope = open_tenant(ctx, key)
    current = Period.containing(ctx.clock(), scope.zone)
    choices = [current]
    while len(choices) < months:
        choices.append(choices[-1].previous())
    return PeriodChoices(current=str(current), default=str(current.previous()), choices=[str(p) for p in choices])
