"""Schedules, what they did, and the messages (emails, webhooks) sent about runs."""

from __future__ import annotations

from datetime import datetime

from meterbridge.services.views.base import Message, View


class ScheduleView(View):
    name: str
    kind: str  # auto_billing | monthly | refresh
    at: str | None  # HH:MM on the tenant's wall clock (auto_billing, monthly)
    days: int | None  # auto_billing: the first N days of each month
    day: int | None  # monthly: the day of the month
    missing_day: str | None  # monthly: clamp | skip, for a month without that day
    minute: int | None  # refresh: minutes past each hour
    target: str  # previous | current: the month a run works on
    time_zone: str
    enabled: bool
    writes: bool  # whether its runs push (auto_billing, monthly) or only preview (refresh)
    description: str  # what it does, in words
    since: datetime  # occurrences after this count
    next_run_at: datetime | None  # None: disabled; in the past when due_now
    due_now: bool = False  # an occurrence is due and has not run yet (it runs at the next tick)
    next_period: str | None
    last_slot: datetime | None
    last_run: int | None
    last_status: str | None
    last_error: Message | None
    failures: int
    retry_at: datetime | None


class ScheduleRunView(View):
    """What one due occurrence of a schedule came to."""

    schedule: str
    slot: datetime
    period: str
    status: str  # done | partial | held | previewed | drift | failed | retrying | skipped
    run: int | None
    detail: str


class NotificationView(View):
    id: int
    run: int | None
    event: str
    channel: str  # email | webhook
    target: str
    subject: str
    status: str  # pending | sent | failed
    attempts: int
    last_error: Message | None
    next_attempt_at: datetime | None
    created_at: datetime
    sent_at: datetime | None


class WebhookView(View):
    name: str
    url: str
    enabled: bool
    created_at: datetime


class WebhookCreated(WebhookView):
    """A new webhook with its signing secret, shown this once."""

    secret: str


class DeliveryReport(View):
    sent: int = 0
    retrying: int = 0  # failed this time, tried again later
    failed: int = 0  # given up after the last attempt
