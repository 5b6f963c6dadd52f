"""Schedules: what each does, when it runs next, how its last run went; a form to add or change
one (admin), enable, disable, remove; and the messages sent about runs lately."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from meterbridge.services import notify, schedules
from meterbridge.services.errors import ServiceError
from meterbridge.services.views import Role
from meterbridge.web.console.auth import Page, Posted, TenantPage
from meterbridge.web.console.render import PREFIX, field_errors, page, redirect

router = APIRouter(prefix=PREFIX)
FIELDS = ("kind", "at", "days", "day", "missing_day", "minute", "target", "since")


def _page(request: Request, call: TenantPage, status: int = 200, **extra: Any) -> Response:
    context: dict[str, Any] = {
        "errors": {}, "error": None, "values": {"kind": "auto_billing", "at": "02:00", "days": "3"},
        "notice": request.query_params.get("done"),
    }  # fmt: skip
    context.update(extra)
    return page(
        request, "schedules.html", status, section="schedules",
        schedules=schedules.list_schedules(call.ctx, call.tenant),
        sent=notify.list_notifications(call.ctx, call.tenant, limit=20),
        **context, **call.template_context(),
    )  # fmt: skip


@router.get("/t/{tenant}/schedules", response_class=HTMLResponse)
def show(request: Request, call: Page) -> Response:
    return _page(request, call)


@router.post("/t/{tenant}/schedules", response_class=HTMLResponse)
def save(request: Request, call: Page, form: Posted) -> Response:
    """Add a schedule or change one: only the fields its kind uses are sent (the form shows them all)."""
    call.require(Role.ADMIN)
    name = form.text("name")
    values = {field: form.text(field) for field in FIELDS}
    options = {f: v for f, v in values.items() if v and f in schedules.options_of(values["kind"])}
    try:
        view = schedules.save_schedule(call.ctx, call.tenant, name, options, actor=call.actor)
    except ServiceError as error:
        return _page(request, call, 422, values={**values, "name": name}, error=error, errors=field_errors(error))
    return redirect(f"{call.base}/schedules", f"Schedule {view.name} saved: it {view.description}.")


@router.post("/t/{tenant}/schedules/{name}/enabled", response_class=HTMLResponse)
def toggle(request: Request, call: Page, name: str, form: Posted) -> Response:
    call.require(Role.ADMIN)
    enabled = form.text("enabled") == "true"
    try:
        schedules.save_schedule(call.ctx, call.tenant, name, {"enabled": enabled}, actor=call.actor)
    except ServiceError as error:
        return _page(request, call, 422, error=error)
    return redirect(f"{call.base}/schedules", f"Schedule {name} {'enabled' if enabled else 'disabled'}.")


@router.post("/t/{tenant}/schedules/{name}/remove", response_class=HTMLResponse)
def remove(request: Request, call: Page, name: str, _form: Posted) -> Response:
    call.require(Role.ADMIN)
    try:
        schedules.remove_schedule(call.ctx, call.tenant, name, actor=call.actor)
    except ServiceError as error:
        return _page(request, call, 404, error=error)
    return redirect(f"{call.base}/schedules", f"Schedule {name} removed; its runs stay in the history.")
