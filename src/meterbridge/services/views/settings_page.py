"""The console's Settings page: the managers told of every push, the webhooks and their
deliveries, the tenant's policies, safety thresholds and limits (each setting as a field), and
the mail server the emails go through. No secret is part of any of them: a webhook's signing
secret and the mail server's password are only "set" or "not set"."""

from __future__ import annotations

from pydantic import Field

from meterbridge.services.views.base import View
from meterbridge.services.views.schedules import NotificationView, WebhookView


class SettingField(View):
    """One of the tenant's settings, as a form shows it (made from the settings model's field)."""

    name: str
    label: str
    help: str  # what it is, its default, and whether empty switches it off
    kind: str  # choice | number | text
    choices: list[str] = Field(default_factory=list)
    optional: bool = False  # empty (or "off") switches it off
    value: str  # as stored, "" when off


class WebhookDeliveries(WebhookView):
    secret_set: bool  # its signing secret is sealed at rest, never shown
    deliveries: list[NotificationView] = Field(default_factory=list)  # the newest first, with their attempts


class MailServerView(View):
    """The mail server every tenant's emails go through, as meterbridge was started with it
    (``MBRIDGE_SMTP_*``); None of it is a tenant's to change."""

    set: bool
    host: str | None = None
    port: int | None = None
    starttls: bool | None = None
    user: str | None = None
    password_set: bool = False
    sender: str | None = None


class SettingsPage(View):
    managers: list[str]
    webhooks: list[WebhookDeliveries]
    fields: list[SettingField]
    mail: MailServerView
    emails: list[NotificationView]  # the newest emails, with their attempts
