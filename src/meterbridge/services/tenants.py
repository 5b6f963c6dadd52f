"""Tenants and their settings (policies, safety thresholds, lease length), validated as a whole."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from meterbridge.domain.policies import BillStartPolicy, DriftPolicy, InvoicedPolicy
from meterbridge.domain.safety import Thresholds
from meterbridge.services.context import Context
from meterbridge.services.errors import InvalidInput, NotConfigured
from meterbridge.services.validation import describe
from meterbridge.store.models import AuditEntry, Lease, Tenant

DEFAULT_TENANT = "default"


class TenantSettings(BaseModel):
    """Per-tenant policies. Thresholds are fractions (0.2 = 20 %); None switches a check off."""

    model_config = ConfigDict(extra="forbid")

    bill_start_policy: BillStartPolicy = BillStartPolicy.CLAMP
    invoiced_policy: InvoicedPolicy = Field(
        default=InvoicedPolicy.MOVE,
        description="a new addition dated in a period ConnectWise already invoiced: move it to the next invoice date, "
        "or block it",
    )
    drift_policy: DriftPolicy = DriftPolicy.HOLD
    max_changed_fraction: Decimal | None = Field(default=Decimal("0.20"), ge=0)
    max_quantity_drop: Decimal | None = Field(default=Decimal("0.30"), ge=0)
    max_total_change: Decimal | None = Field(default=Decimal("0.25"), ge=0)
    lease_seconds: float = Field(default=60.0, gt=0, description="how long a push's lease lasts without renewal")
    resume_skew_seconds: float = Field(
        default=300.0, ge=0, description="clock difference allowed when matching an unfinished create on resume"
    )
    rate_limit_per_minute: int = Field(default=900, ge=1, description="ConnectWise calls a minute, at most")
    max_concurrency: int = Field(default=8, ge=1, le=64, description="ConnectWise calls in flight, at most")
    agreement_type: str = Field(default="Backup Services", description="type of agreements the doctor creates")
    currency: str = Field(default="$", min_length=1, max_length=5, description="the symbol amounts are shown with")

    def client_limits(self) -> dict[str, Any]:
        return {"rate_limit_per_minute": self.rate_limit_per_minute, "max_concurrency": self.max_concurrency}

    def thresholds(self) -> Thresholds:
        return Thresholds(
            self.max_changed_fraction, self.max_quantity_drop, self.max_total_change, self.drift_policy, self.currency
        )


def tenant_row(session: Session, key: str) -> Tenant:
    tenant = session.scalar(select(Tenant).where(Tenant.key == key))
    if tenant is None:
        raise NotConfigured(f"no tenant {key!r}: run `meterbridge init` first")
    return tenant


def settings_of(tenant: Tenant) -> TenantSettings:
    return TenantSettings.model_validate(tenant.settings or {})


def init_tenant(ctx: Context, key: str = DEFAULT_TENANT, *, name: str | None = None, time_zone: str = "UTC") -> bool:
    """Create the tenant (and its lease row) if it does not exist; True when it was created."""
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"time_zone: {time_zone!r} is not a known time zone (e.g. Europe/London)") from None
    with ctx.db.session() as session:
        if session.scalar(select(Tenant).where(Tenant.key == key)) is not None:
            return False
        tenant = Tenant(key=key, name=name or key, time_zone=time_zone, created_at=ctx.clock(), settings={})
        session.add(tenant)
        session.flush()
        session.add(Lease(tenant_id=tenant.id, holder=None, token=0, expires_at=None))
        audit(session, ctx, tenant.id, "cli", "tenant.create", {"key": key, "time_zone": time_zone})
        return True


def show_settings(ctx: Context, key: str) -> TenantSettings:
    with ctx.db.session() as session:
        return settings_of(tenant_row(session, key))


def update_settings(ctx: Context, key: str, changes: dict[str, Any], *, actor: str = "cli") -> TenantSettings:
    with ctx.db.session() as session:
        tenant = tenant_row(session, key)
        merged = {**(tenant.settings or {}), **changes}
        try:
            settings = TenantSettings.model_validate(merged)
        except ValidationError as error:
            raise InvalidInput(describe(error)) from None
        tenant.settings = settings.model_dump(mode="json")
        audit(session, ctx, tenant.id, actor, "tenant.settings", changes)
        return settings


def audit(
    session: Session, ctx: Context, tenant_id: int | None, actor: str, action: str, detail: dict[str, Any]
) -> None:
    session.add(AuditEntry(tenant_id=tenant_id, at=ctx.clock(), actor=actor, action=action, detail=detail))
