"""Settings (admins only): the managers told of every push, the webhooks (add, test, disable,
remove, their deliveries), the policies, safety thresholds and limits, and the mail server with
a test email. Over the services the API uses (services/console_settings.py); no secret is shown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from meterbridge.services import console_settings, notify
from meterbridge.services.errors import ServiceError
from meterbridge.services.views import NotificationView, Role
from meterbridge.web.console.auth import Page, Posted, TenantPage
from meterbridge.web.console.render import PREFIX, field_errors, page, redirect
from meterbridge.web.errors import STATUSES

router = APIRouter(prefix=PREFIX)


def _page(request: Request, call: TenantPage, status: int = 200, **extra: Any) -> Response:
    """The page (``error``: a form refused, shown next to its field; ``values``: what was typed)."""
    context: dict[str, Any] = {"errors": {}, "error": None, "values": {}, "notice": request.query_params.get("done")}
    context.update(extra)
    return page(
        request, "settings.html", status, section="settings",
        settings=console_settings.settings_page(call.ctx, call.tenant), **context, **call.template_context(),
    )  # fmt: skip


def _refused(request: Request, call: TenantPage, error: ServiceError, values: dict[str, str]) -> Response:
    errors = field_errors(error)
    return _page(request, call, STATUSES.get(error.kind, 422), error=error, errors=errors, values=values)


def _done(
    request: Request, call: TenantPage, section: str, change: Callable[[], str], values: dict[str, str] | None = None
) -> Response:
    """Make ``change`` (its notice), then back to the page's ``section``; refused: the page with
    the error next to its field and ``values`` (what was typed) kept."""
    try:
        notice = change()
    except ServiceError as error:
        return _refused(request, call, error, values or {})
    return redirect(f"{call.base}/settings#{section}", notice)


def _sent(call: TenantPage, section: str, what: str, sent: NotificationView) -> Response:
    """After a test send: it went, or why not (a test that failed is not tried again)."""
    if sent.status == "sent":
        return redirect(f"{call.base}/settings#{section}", f"{what} sent to {sent.target}.")
    why = sent.last_error or "it is still being sent; see its attempts below"
    return redirect(f"{call.base}/settings#{section}", f"{what} to {sent.target} not sent: {why}", failed=True)


@router.get("/t/{tenant}/settings", response_class=HTMLResponse)
def show(request: Request, call: Page) -> Response:
    call.require(Role.ADMIN)
    return _page(request, call)


@router.post("/t/{tenant}/settings/managers", response_class=HTMLResponse)
def change_managers(request: Request, call: Page, form: Posted) -> Response:
    """Add the address typed, or remove the one a Remove button carries (``remove``)."""
    call.require(Role.ADMIN)
    address, removing = form.text("address"), form.checked("remove")

    def change() -> str:
        if removing:
            console_settings.remove_manager(call.ctx, call.tenant, address, actor=call.actor)
            return f"{address} is no longer a manager."
        console_settings.add_manager(call.ctx, call.tenant, address, actor=call.actor)
        return f"{address} is a manager: told of every push and held plan."

    return _done(request, call, "managers", change, {} if removing else {"address": address})


@router.post("/t/{tenant}/settings/thresholds", response_class=HTMLResponse)
def save_thresholds(request: Request, call: Page, form: Posted) -> Response:
    call.require(Role.ADMIN)
    submitted = {name: form.text(name) for name in form.data if name != "csrf_token"}

    def save() -> str:
        changed = console_settings.save_settings(call.ctx, call.tenant, submitted, actor=call.actor)
        return f"Saved {', '.join(changed)}." if changed else "Nothing changed."

    return _done(request, call, "thresholds", save, submitted)


@router.post("/t/{tenant}/settings/webhooks", response_class=HTMLResponse)
def add_webhook(request: Request, call: Page, form: Posted) -> Response:
    call.require(Role.ADMIN)
    name, url, secret = form.text("name"), form.text("url"), form.optional("secret")

    def add() -> str:
        hook = console_settings.add_webhook(call.ctx, call.tenant, name, url, secret, actor=call.actor)
        return f"Webhook {hook.name} added: every run's outcome goes to {hook.url}."

    return _done(request, call, "webhooks", add, {"name": name, "url": url})  # the secret is not typed back


@router.post("/t/{tenant}/settings/webhooks/{name}/enabled", response_class=HTMLResponse)
def enable_webhook(request: Request, call: Page, name: str, form: Posted) -> Response:
    call.require(Role.ADMIN)
    enabled = form.text("enabled") == "true"

    def switch() -> str:
        notify.set_webhook_enabled(call.ctx, call.tenant, name, enabled, actor=call.actor)
        return f"Webhook {name} {'enabled' if enabled else 'disabled: nothing more is sent to it'}."

    return _done(request, call, "webhooks", switch)


@router.post("/t/{tenant}/settings/webhooks/{name}/remove", response_class=HTMLResponse)
def remove_webhook(request: Request, call: Page, name: str, _form: Posted) -> Response:
    call.require(Role.ADMIN)

    def remove() -> str:
        return f"Webhook {name} removed: {notify.remove_webhook(call.ctx, call.tenant, name, actor=call.actor).detail}."

    return _done(request, call, "webhooks", remove)


@router.post("/t/{tenant}/settings/webhooks/{name}/test", response_class=HTMLResponse)
async def send_test_delivery(request: Request, call: Page, name: str, _form: Posted) -> Response:
    call.require(Role.ADMIN)
    try:
        sent = await console_settings.send_test_delivery(call.ctx, call.tenant, name, actor=call.actor)
    except ServiceError as error:
        return _refused(request, call, error, {})
    return _sent(call, "webhooks", f"Test delivery to {name}", sent)


@router.post("/t/{tenant}/settings/mail/test", response_class=HTMLResponse)
async def send_test_email(request: Request, call: Page, form: Posted) -> Response:
    call.require(Role.ADMIN)
    to = form.text("to")
    try:
        sent = await console_settings.send_test_email(call.ctx, call.tenant, to, actor=call.actor)
    except ServiceError as error:
        return _refused(request, call, error, {"to": to})
    return _sent(call, "mail", "Test email", sent)
