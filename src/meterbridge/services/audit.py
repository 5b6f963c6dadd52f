"""The audit log: every change, who made it (the actor), when, what it was before and after."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from meterbridge.services.actors import Actor
from meterbridge.services.context import Context
from meterbridge.services.scope import tenant_row
from meterbridge.services.views import AuditView
from meterbridge.store.repos import tenants


def audit(
    session: Session,
    ctx: Context,
    tenant_id: int | None,
    actor: Actor,
    action: str,
    after: dict[str, Any],
    *,
    before: dict[str, Any] | None = None,
) -> None:
    """In the caller's transaction, so an entry exists exactly when its change does. ``before``:
    what a change replaced (None for something new). No secret is ever part of either. A change
    that changed nothing (``before`` equals ``after``) is not an entry."""
    if before is not None and before == after:
        return
    detail = {"after": after, "before": before}
    tenants.audit(session, tenant_id, at=ctx.clock(), actor=str(actor), action=action, detail=detail)


def list_audit(ctx: Context, tenant: str, *, limit: int = 100, before: int | None = None) -> list[AuditView]:
    """The newest entries first; ``before`` pages back from an entry id."""
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        return [
            AuditView(
                id=e.id,
                at=e.at,
                actor=e.actor,
                action=e.action,
                before=(e.detail or {}).get("before"),
                after=(e.detail or {}).get("after", e.detail or {}),
            )
            for e in tenants.audit_entries(session, row.id, limit=limit, before=before)
        ]
