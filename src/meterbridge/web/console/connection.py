"""The ConnectWise connection: what is stored (never the private key), a form to set it (admin)
and "Test connection"."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from meterbridge.services import connections
from meterbridge.services.errors import NotConfigured, ServiceError
from meterbridge.services.views import ConnectionView, Role
from meterbridge.web.console.auth import Page, Posted, TenantPage
from meterbridge.web.console.render import PREFIX, field_errors, page, redirect

router = APIRouter(prefix=PREFIX)
FIELDS = ("site", "company_id", "public_key", "client_id", "api_version", "codebase")


def _stored(call: TenantPage) -> ConnectionView | None:
    try:
        return connections.show_connection(call.ctx, call.tenant)
    except NotConfigured:
        return None


def _page(request: Request, call: TenantPage, status: int = 200, **extra: Any) -> Response:
    stored = _stored(call)
    values = extra.pop("values", None) or (stored.model_dump() if stored else {"api_version": "2026.4"})
    context: dict[str, Any] = {"errors": {}, "error": None, "test": None, "notice": request.query_params.get("done")}
    context.update(extra)
    return page(request, "connection.html", status, section="connection", stored=stored, values=values,
                **context, **call.template_context())  # fmt: skip


@router.get("/t/{tenant}/connection", response_class=HTMLResponse)
def show(request: Request, call: Page) -> Response:
    return _page(request, call)


@router.post("/t/{tenant}/connection", response_class=HTMLResponse)
def save(request: Request, call: Page, form: Posted) -> Response:
    call.require(Role.ADMIN)
    values = {name: form.text(name) for name in FIELDS}
    try:
        connections.set_connection(
            call.ctx,
            call.tenant,
            site=values["site"],
            company_id=values["company_id"],
            public_key=values["public_key"],
            private_key=form.optional("private_key"),
            client_id=values["client_id"],
            api_version=values["api_version"] or "2026.4",
            codebase=values["codebase"] or None,
            actor=call.actor,
        )
    except ServiceError as error:
        return _page(request, call, 422, values=values, error=error, errors=field_errors(error))
    return redirect(f"{call.base}/connection", "Connection saved. Test it next.")


@router.post("/t/{tenant}/connection/test", response_class=HTMLResponse)
async def test(request: Request, call: Page, _form: Posted) -> Response:
    call.require(Role.BILLING)
    try:
        result = await connections.test_connection(call.ctx, call.tenant, actor=call.actor)
    except ServiceError as error:
        return _page(request, call, 409, error=error)
    return _page(request, call, 200 if result.ok else 502, test=result)
