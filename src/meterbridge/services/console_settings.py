"""The console's Settings page over the services the API and the CLI use: the managers (a tenant
setting), the webhooks (notify), the policies, safety thresholds and limits (tenants'
``update_settings``, one field per setting of the settings model, so a setting added to the model
is on the page without more work), and the mail server with a test email.

A test email or a test delivery is a message like any other: queued, then sent at once by the
delivery the scheduler runs (``notify.deliver_due``), listed with its attempts; one that fails is
not tried again (a test is for now), and says why.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from typing import Any, Union, get_args, get_origin

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from sqlalchemy.orm import Session

from meterbridge.mail import SmtpMailer
from meterbridge.services import notify, tenants
from meterbridge.services.actors import Actor
from meterbridge.services.audit import audit
from meterbridge.services.context import Context
from meterbridge.services.errors import InvalidInput, NotFound
from meterbridge.services.messages import Composed, webhook_body
from meterbridge.services.runs import notification_view
from meterbridge.services.scope import tenant_row
from meterbridge.services.tenant_settings import TenantSettings
from meterbridge.services.views import NotificationView, WebhookView
from meterbridge.services.views.settings_page import (
    MailServerView,
    SettingField,
    SettingsPage,
    WebhookDeliveries,
)
from meterbridge.store.models import NotificationRow
from meterbridge.store.repos import notifications

#: Settings with a section of their own on the page, not a field of the settings form.
OWN_SECTION = frozenset({"managers"})
OFF = ("", "off", "none")
TEST_EVENT = "test"
LISTED = 10  # deliveries and emails listed, the newest first


# the page ----------------------------------------------------------------------------------------


def settings_page(ctx: Context, tenant: str) -> SettingsPage:
    settings = tenants.show_settings(ctx, tenant)
    sent = notify.list_notifications(ctx, tenant, limit=200)
    hooks = notify.list_webhooks(ctx, tenant)
    return SettingsPage(
        managers=list(settings.managers),
        webhooks=[
            WebhookDeliveries(
                **hook.model_dump(),
                secret_set=True,  # a webhook cannot be added without one
                deliveries=[n for n in sent if n.channel == "webhook" and n.target == hook.url][:LISTED],
            )
            for hook in hooks
        ],
        fields=setting_fields(settings),
        mail=mail_server(ctx),
        emails=[n for n in sent if n.channel == "email"][:LISTED],
    )


def _shape(annotation: Any) -> tuple[str, list[str], bool] | None:
    """(kind, choices, optional) of a setting's type; None for a type no form field holds."""
    args = get_args(annotation)
    optional = get_origin(annotation) in (Union, types.UnionType) and type(None) in args
    inner = next((a for a in args if a is not type(None)), None) if optional else annotation
    if isinstance(inner, type) and issubclass(inner, Enum):
        return "choice", [str(member.value) for member in inner], optional
    if inner is bool:
        return "choice", ["true", "false"], optional
    if inner in (int, float, Decimal):
        return "number", [], optional
    if inner is str:
        return "text", [], optional
    return None


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value.value if isinstance(value, Enum) else value)


def _help(info: FieldInfo, optional: bool) -> str:
    parts = [info.description] if info.description else []
    default = info.get_default(call_default_factory=True)
    parts.append(f"default {_shown(default)}" if default is not None else "off by default")
    if optional:
        parts.append("empty or off switches it off")
    return "; ".join(parts)


def setting_fields(settings: TenantSettings) -> list[SettingField]:
    """Each setting of the model a form field holds, in the model's order, with its value now."""
    stored = settings.model_dump(mode="json")
    fields = []
    for name, info in TenantSettings.model_fields.items():
        shape = _shape(info.annotation)
        if name in OWN_SECTION or shape is None:
            continue
        kind, choices, optional = shape
        fields.append(
            SettingField(
                name=name,
                label=name.replace("_", " ").capitalize(),
                help=_help(info, optional),
                kind=kind,
                choices=choices,
                optional=optional,
                value=_shown(stored.get(name)),
            )
        )
    return fields


def mail_server(ctx: Context) -> MailServerView:
    mailer = ctx.mailer
    if mailer is None:
        return MailServerView(set=False)
    if not isinstance(mailer, SmtpMailer):  # an in-process mailer (tests, embedding)
        return MailServerView(set=True, sender=getattr(mailer, "sender", None))
    s = mailer.settings
    return MailServerView(
        set=True, host=s.host, port=s.port, starttls=s.starttls, user=s.user, password_set=bool(s.password),
        sender=s.sender,
    )  # fmt: skip


# changes ---------------------------------------------------------------------------------------


def save_settings(ctx: Context, tenant: str, submitted: Mapping[str, str], *, actor: Actor) -> list[str]:
    """The settings form: the fields whose value changed, saved as the API saves them (the
    whole set validated; an error names its field). Empty or ``off`` switches off a setting that
    can be off; any other setting left empty keeps its value. The names of those changed."""
    fields = setting_fields(tenants.show_settings(ctx, tenant))
    changes: dict[str, str | None] = {}
    for field in fields:
        text = submitted.get(field.name)
        if text is None:
            continue
        text = text.strip()
        if field.optional and text.lower() in OFF:
            value: str | None = None
        elif not text:
            continue
        else:
            value = text
        if (value or "") != field.value:
            changes[field.name] = value
    if changes:
        tenants.update_settings(ctx, tenant, changes, actor=actor)
    return sorted(changes)


def add_manager(ctx: Context, tenant: str, address: str, *, actor: Actor) -> list[str]:
    """The managers with ``address`` added (told the outcome of every push and every held plan)."""
    address = address.strip()
    if not address:
        raise InvalidInput("managers: type the email address of the manager to add", field="managers")
    managers = tenants.show_settings(ctx, tenant).managers
    return tenants.update_settings(ctx, tenant, {"managers": [*managers, address]}, actor=actor).managers


def remove_manager(ctx: Context, tenant: str, address: str, *, actor: Actor) -> list[str]:
    managers = tenants.show_settings(ctx, tenant).managers
    if address not in managers:
        raise NotFound(f"managers: {address!r} is not one of the managers", field="managers")
    kept = [m for m in managers if m != address]
    return tenants.update_settings(ctx, tenant, {"managers": kept}, actor=actor).managers


def add_webhook(ctx: Context, tenant: str, name: str, url: str, secret: str | None, *, actor: Actor) -> WebhookView:
    """A webhook with the signing secret the admin chose: the console never shows a secret, so
    it does not make one up that nobody could read."""
    if not secret:
        raise InvalidInput(
            "secret: type the signing secret (16 to 200 characters) the receiver checks signatures with; it is "
            "sealed at rest and never shown again",
            field="secret",
        )
    created = notify.add_webhook(ctx, tenant, name, url, secret=secret, actor=actor)
    return WebhookView.model_validate(created.model_dump(exclude={"secret"}))


# test sends ------------------------------------------------------------------------------------


async def send_test_delivery(ctx: Context, tenant: str, name: str, *, actor: Actor) -> NotificationView:
    """POST a signed test delivery to the webhook now (as every delivery: its event ``test``)."""
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        hook = notifications.webhook(session, row.id, name)
        if hook is None:
            raise NotFound(f"no webhook named {name!r}", hint="list the webhooks to see them", field="name")
        composed = Composed(
            TEST_EVENT,
            f"[meterbridge] {row.name}: test delivery to webhook {name}",
            "",
            {"event": TEST_EVENT, "tenant": row.key, "webhook": name, "sent_by": str(actor),
             "message": "a test delivery from meterbridge's console; run outcomes are sent like it"},
        )  # fmt: skip
        delivery = _queue(ctx, session, row.id, "webhook", hook.url, composed, webhook_id=hook.id)
        delivery.body = webhook_body(composed, delivery.id)
        audit(session, ctx, row.id, actor, "webhook.test", {"name": name, "delivery": delivery.id})
        delivery_id = delivery.id
    return await _send_now(ctx, tenant, delivery_id)


async def send_test_email(ctx: Context, tenant: str, to: str, *, actor: Actor) -> NotificationView:
    """Send a test email to ``to`` (addresses separated by commas; the managers when empty)."""
    addresses = to.strip() or ",".join(tenants.show_settings(ctx, tenant).managers)
    if not addresses:
        raise InvalidInput("to: type an address to send the test email to (there are no managers yet)", field="to")
    try:
        recipients = TenantSettings.model_validate({"managers": addresses}).managers  # a manager's rules
    except ValidationError as error:
        message = error.errors()[0]["msg"].removeprefix("Value error, ")
        raise InvalidInput(f"to: {message}", field="to") from None
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        text = (
            f"This is a test email from meterbridge for {row.name} (tenant {row.key}), sent by {actor} from the "
            "console's Settings page.\n\nThe managers get an email like it after every push and every held plan.\n"
        )
        composed = Composed(TEST_EVENT, f"[meterbridge] {row.name}: test email", text, {})
        email = _queue(ctx, session, row.id, "email", ", ".join(recipients), composed)
        audit(session, ctx, row.id, actor, "mail.test", {"to": email.target, "notification": email.id})
        email_id = email.id
    return await _send_now(ctx, tenant, email_id)


def _queue(
    ctx: Context, session: Session, tenant_id: int, channel: str, target: str, composed: Composed,
    *, webhook_id: int | None = None,
) -> NotificationRow:  # fmt: skip
    now = ctx.clock()
    return notifications.add(
        session, tenant_id=tenant_id, run_id=None, event=composed.event, channel=channel, target=target,
        webhook_id=webhook_id, subject=composed.subject, body=composed.text, next_attempt_at=now, created_at=now,
    )  # fmt: skip


async def _send_now(ctx: Context, tenant: str, notification_id: int) -> NotificationView:
    """Send what is due now (this test first among them), then the test as it went: one that
    failed is given up at once, with why, not retried later."""
    await notify.deliver_due(ctx, tenant=tenant)
    with ctx.db.session() as session:
        row = session.get(NotificationRow, notification_id)
        assert row is not None
        if row.status == "pending" and row.last_error is not None:
            row.status, row.next_attempt_at = "failed", None
        return notification_view(row)
