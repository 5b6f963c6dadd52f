"""The REST API: /api/v1, one router per resource, over the same services and views as the CLI."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.routing import APIRoute

from meterbridge.web.api import (
    accounts,
    billing,
    catalog,
    companies,
    configurations,
    exports,
    health,
    reports,
    schedules,
    session,
    sources,
    tenants,
    usage,
)
from meterbridge.web.deps import required_role
from meterbridge.web.errors import ErrorBody


def _mark_roles(routes: APIRouter) -> APIRouter:
    """Each operation says in the OpenAPI document (``x-role``) the tenant role it needs."""
    for route in routes.routes:
        if isinstance(route, APIRoute):
            role = required_role(route.dependant)
            route.openapi_extra = {**(route.openapi_extra or {}), "x-role": role.value if role else "none"}
    return routes


ERRORS = {status: {"model": ErrorBody} for status in (401, 403, 404, 409, 422)}

router = APIRouter()
router.include_router(_mark_roles(health.router))
router.include_router(_mark_roles(session.router))
router.include_router(_mark_roles(tenants.top), responses={401: {"model": ErrorBody}})
tenant = APIRouter(prefix="/api/v1/tenants/{tenant}", responses=ERRORS)  # type: ignore[arg-type]
for module in (
    tenants,
    companies,
    catalog,
    configurations,
    usage,
    sources,
    billing,
    reports,
    exports,
    schedules,
    accounts,
):
    tenant.include_router(_mark_roles(module.router))
router.include_router(tenant)
