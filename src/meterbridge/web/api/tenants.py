"""The tenants a caller can reach, their settings and their ConnectWise connection."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from meterbridge.services import connections, tenants
from meterbridge.services.tenant_settings import TenantSettings
from meterbridge.services.views import ConnectionTestView, ConnectionView, TenantView
from meterbridge.web.api.bodies import ConnectionIn, require_storable
from meterbridge.web.deps import Admin, Billing, Caller, Viewer, context

top = APIRouter(prefix="/api/v1/tenants", tags=["tenants"])
router = APIRouter(tags=["tenants"])


@top.get("", response_model=list[TenantView])
def list_tenants(caller: Caller, request: Request) -> list[TenantView]:
    """The tenants the caller has a role in, with that role."""
    ctx = context(request)
    return [tenants.tenant_view(ctx, key, role) for key, role in sorted(caller.roles.items())]


@top.get("/{tenant}", response_model=TenantView)
def get_tenant(call: Viewer) -> TenantView:
    return tenants.tenant_view(call.ctx, call.tenant, call.role)


@router.get("/settings", response_model=TenantSettings)
def get_settings(call: Viewer) -> TenantSettings:
    return tenants.show_settings(call.ctx, call.tenant)


@router.patch("/settings", response_model=TenantSettings)
def change_settings(call: Admin, changes: dict[str, Any]) -> TenantSettings:
    """Change the settings given (null switches a threshold off); the others are kept."""
    require_storable(changes, "settings")
    return tenants.update_settings(call.ctx, call.tenant, changes, actor=call.actor)


@router.get("/connection", response_model=ConnectionView)
def get_connection(call: Viewer) -> ConnectionView:
    """The stored connection; the private key is never part of it."""
    return connections.show_connection(call.ctx, call.tenant)


@router.put("/connection", response_model=ConnectionView)
def set_connection(call: Admin, body: ConnectionIn) -> ConnectionView:
    return connections.set_connection(
        call.ctx,
        call.tenant,
        site=body.site,
        company_id=body.company_id,
        public_key=body.public_key,
        private_key=body.private_key.get_secret_value() if body.private_key else None,
        client_id=body.client_id,
        api_version=body.api_version,
        codebase=body.codebase,
        actor=call.actor,
    )


@router.post("/connection/test", response_model=ConnectionTestView)
async def test_connection(call: Billing) -> ConnectionTestView:
    return await connections.test_connection(call.ctx, call.tenant, actor=call.actor)
