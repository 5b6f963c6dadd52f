"""Schedules (billing that runs itself), the messages sent about runs, and webhooks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from meterbridge.services import notify, schedules
from meterbridge.services.views import (
    Deleted,
    DeliveryReport,
    NotificationView,
    ScheduleView,
    WebhookCreated,
    WebhookView,
)
from meterbridge.web.api.bodies import ScheduleIn, WebhookChange, WebhookIn
from meterbridge.web.deps import Admin, Billing, Viewer

router = APIRouter(tags=["schedules and notifications"])


@router.get("/schedules", response_model=list[ScheduleView])
def list_schedules(call: Viewer) -> list[ScheduleView]:
    """What each schedule does, when it runs next and for which month, how its last run went."""
    return schedules.list_schedules(call.ctx, call.tenant)


@router.get("/schedules/{name}", response_model=ScheduleView)
def get_schedule(call: Viewer, name: str) -> ScheduleView:
    return schedules.show_schedule(call.ctx, call.tenant, name)


@router.put("/schedules/{name}", response_model=ScheduleView)
def save_schedule(call: Admin, name: str, body: ScheduleIn) -> ScheduleView:
    """Create the schedule (``kind`` needed) or change the options given; an option its kind does
    not use is refused, naming it."""
    options = body.model_dump(exclude_none=True)
    return schedules.save_schedule(call.ctx, call.tenant, name, options, actor=call.actor)


@router.delete("/schedules/{name}", response_model=Deleted)
def remove_schedule(call: Admin, name: str) -> Deleted:
    return schedules.remove_schedule(call.ctx, call.tenant, name, actor=call.actor)


@router.get("/notifications", response_model=list[NotificationView])
def list_notifications(
    call: Viewer,
    status: Annotated[str | None, Query(description="pending, sent or failed")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[NotificationView]:
    """The newest messages first (emails to the managers, webhook deliveries), with how they went."""
    return notify.list_notifications(call.ctx, call.tenant, limit=limit, status=status)


@router.post("/notifications/send", response_model=DeliveryReport)
async def send_notifications(call: Billing) -> DeliveryReport:
    """Send the messages whose next attempt is due now (the scheduler does this on its own)."""
    return await notify.deliver_due(call.ctx, tenant=call.tenant)


@router.get("/webhooks", response_model=list[WebhookView])
def list_webhooks(call: Viewer) -> list[WebhookView]:
    return notify.list_webhooks(call.ctx, call.tenant)


@router.post("/webhooks", response_model=WebhookCreated, status_code=201)
def add_webhook(call: Admin, body: WebhookIn) -> WebhookCreated:
    """A webhook; the answer holds its signing secret, this once."""
    secret = body.secret.get_secret_value() if body.secret else None
    return notify.add_webhook(call.ctx, call.tenant, body.name, body.url, secret=secret, actor=call.actor)


@router.patch("/webhooks/{name}", response_model=WebhookView)
def change_webhook(call: Admin, name: str, body: WebhookChange) -> WebhookView:
    return notify.set_webhook_enabled(call.ctx, call.tenant, name, body.enabled, actor=call.actor)


@router.delete("/webhooks/{name}", response_model=Deleted)
def remove_webhook(call: Admin, name: str) -> Deleted:
    return notify.remove_webhook(call.ctx, call.tenant, name, actor=call.actor)
