"""Telling people what a run did: an email to the tenant's managers and a signed POST to each of
its webhooks, after every push (manual or scheduled, whatever its outcome) and every drift a
refresh finds.

Messages are queued in the database in the run's wake (``queue_run``): composing them needs no
network, so a push never waits for a mail server and a message is never lost with a process.
``deliver_due`` sends what is due: each attempt is claimed first (two workers never send the
same attempt), a failure is retried with backoff (1, 2, 4 ... 60 minutes) and given up after
``MAX_ATTEMPTS``, the error kept for the history to show. Without a mail server set, an email
waits (pending, saying why) until one is.
"""

from __future__ import annotations

import logging
import secrets as random_secrets
from datetime import timedelta

from sqlalchemy.orm import Session

from meterbridge.hooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, HookError, sign
from meterbridge.mail import MailError, Message
from meterbridge.services.actors import Actor
from meterbridge.services.audit import audit
from meterbridge.services.context import Context
from meterbridge.services.errors import Conflict, InvalidInput, NotFound
from meterbridge.services.messages import Composed, Tenantish, compose_run, compose_schedule_failure, webhook_body
from meterbridge.services.runs import notification_view, run_view
from meterbridge.services.scope import tenant_row
from meterbridge.services.tenant_settings import TenantSettings
from meterbridge.services.validation import check_name, check_url
from meterbridge.services.views import Deleted, DeliveryReport, NotificationView, RunView, WebhookCreated, WebhookView
from meterbridge.store.models import NotificationRow, Tenant, WebhookRow
from meterbridge.store.repos import notifications, runs

log = logging.getLogger("meterbridge.notify")

MAX_ATTEMPTS = 8
CLAIM_SECONDS = 300  # an attempt in flight: nobody else tries it before this
NO_MAILER = "no mail server is set (MBRIDGE_SMTP_HOST): the email waits until one is"


def _tenantish(row: Tenant) -> Tenantish:
    settings = TenantSettings.model_validate(row.settings or {})
    return Tenantish(row.key, row.name, settings.currency)


def _queue(ctx: Context, session: Session, row: Tenant, run_id: int | None, composed: Composed) -> list[int]:
    """An email to the managers (if any) and a delivery per enabled webhook, all due now."""
    now = ctx.clock()
    managers = TenantSettings.model_validate(row.settings or {}).managers
    queued: list[int] = []
    common = {"tenant_id": row.id, "run_id": run_id, "event": composed.event, "subject": composed.subject}
    if managers:
        email = notifications.add(
            session, **common, channel="email", target=", ".join(managers), body=composed.text,
            next_attempt_at=now, created_at=now,
        )  # fmt: skip
        queued.append(email.id)
    for hook in notifications.webhooks_of(session, row.id):
        if not hook.enabled:
            continue
        delivery = notifications.add(
            session, **common, channel="webhook", target=hook.url, webhook_id=hook.id, body="",
            next_attempt_at=now, created_at=now,
        )  # fmt: skip
        delivery.body = webhook_body(composed, delivery.id)
        queued.append(delivery.id)
    return queued


def queue_run(
    ctx: Context, tenant_id: int, run_id: int, *, event: str | None = None, notes: list[str] | None = None
) -> list[int]:
    """Queue the messages about a run that ended (its status, totals and companies as recorded;
    ``notes``: the lines a refresh found edited in ConnectWise)."""
    with ctx.db.session() as session:
        row = session.get(Tenant, tenant_id)
        run = runs.get(session, tenant_id, run_id)
        if row is None or run is None or run.status == "running":
            return []
        view: RunView = run_view(run)
        composed = compose_run(view, _tenantish(row), ctx.public_url, event=event, notes=notes)
        return _queue(ctx, session, row, run_id, composed)


def queue_run_quietly(ctx: Context, tenant_id: int, run_id: int) -> None:
    """``queue_run`` in a run's wake (a push, a Backup Stats publish): a failure to queue is
    logged, never raised over the run's own outcome."""
    try:
        queue_run(ctx, tenant_id, run_id)
    except Exception:
        log.exception("the notifications of run %s could not be queued", run_id)


def queue_schedule_failure(
    ctx: Context, tenant_id: int, schedule: str, period: str, message: str, hint: str | None
) -> list[int]:
    with ctx.db.session() as session:
        row = session.get(Tenant, tenant_id)
        if row is None:
            return []
        composed = compose_schedule_failure(_tenantish(row), schedule, period, message, hint, ctx.public_url)
        return _queue(ctx, session, row, None, composed)


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(60 * 2 ** (attempts - 1), 3600))


async def deliver_due(ctx: Context, *, tenant: str | None = None, limit: int = 200) -> DeliveryReport:
    """Send every message whose attempt is due (of one tenant, or of all)."""
    report = DeliveryReport()
    with ctx.db.session() as session:
        tenant_id = tenant_row(session, tenant).id if tenant is not None else None
        due = notifications.due(session, ctx.clock(), limit=limit, tenant_id=tenant_id)
    for notification_id, attempts in due:
        with ctx.db.session() as session:
            if not notifications.claim(
                session, notification_id, seen_attempts=attempts, until=ctx.clock() + timedelta(seconds=CLAIM_SECONDS)
            ):
                continue  # another process took this attempt
        outcome = await _attempt(ctx, notification_id, attempts + 1)
        if outcome == "sent":
            report.sent += 1
        elif outcome == "failed":
            report.failed += 1
        else:
            report.retrying += 1
    return report


async def _attempt(ctx: Context, notification_id: int, attempt: int) -> str:
    with ctx.db.session() as session:
        row = session.get(NotificationRow, notification_id)
        assert row is not None
        channel, target, subject, body, event = row.channel, row.target, row.subject, row.body, row.event
        secret = None
        if row.webhook_id is not None:
            hook = session.get(WebhookRow, row.webhook_id)
            secret = ctx.box.open(hook.secret_sealed) if hook is not None and hook.enabled else None
    error: str | None = None
    try:
        if channel == "email":
            if ctx.mailer is None:
                error = NO_MAILER
            else:
                await ctx.mailer.send(Message(tuple(target.split(", ")), subject, body))
        elif secret is None:
            error = "the webhook was removed or disabled"
        else:
            stamp = int(ctx.clock().timestamp())
            payload = body.encode("utf-8")
            await ctx.hooks.post(
                target,
                payload,
                {
                    TIMESTAMP_HEADER: str(stamp),
                    SIGNATURE_HEADER: sign(secret.encode("utf-8"), stamp, payload),
                    "X-Meterbridge-Event": event,
                    "X-Meterbridge-Delivery": str(notification_id),
                    "User-Agent": "meterbridge-webhooks/1",
                },
            )
    except (MailError, HookError) as failure:
        error = str(failure)
    now = ctx.clock()
    with ctx.db.session() as session:
        row = session.get(NotificationRow, notification_id)
        assert row is not None
        if error is None:
            row.status, row.sent_at, row.last_error, row.next_attempt_at = "sent", now, None, None
            return "sent"
        row.last_error = error
        if error == NO_MAILER:  # not an attempt: nothing was tried, and it stays due: the first
            row.attempts = attempt - 1  # process with a mail server (or `notifications send`) sends it
            row.next_attempt_at = now
            return "retrying"
        if attempt >= MAX_ATTEMPTS or error == "the webhook was removed or disabled":
            row.status, row.next_attempt_at = "failed", None
            log.warning("notification %s given up after %s attempts: %s", notification_id, attempt, error)
            return "failed"
        row.next_attempt_at = now + _backoff(attempt)
        return "retrying"


def of_run(ctx: Context, tenant: str, run_id: int) -> list[NotificationView]:
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        return [notification_view(n) for n in notifications.of_run(session, row.id, run_id)]


def list_notifications(
    ctx: Context, tenant: str, *, limit: int = 50, status: str | None = None
) -> list[NotificationView]:
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit: list 1 to 1000 notifications", field="limit")
    if status is not None and status not in ("pending", "sent", "failed"):
        raise InvalidInput(f"status: {status!r} is not one of pending, sent, failed", field="status")
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        return [notification_view(n) for n in notifications.newest(session, row.id, limit=limit, status=status)]


# webhooks ---------------------------------------------------------------------------------------


def _webhook_view(row: WebhookRow) -> WebhookView:
    return WebhookView(name=row.name, url=row.url, enabled=row.enabled, created_at=row.created_at)


def add_webhook(
    ctx: Context, tenant: str, name: str, url: str, *, actor: Actor, secret: str | None = None
) -> WebhookCreated:
    """A webhook; its signing secret (given, or made here) is shown in the answer this once."""
    check_name(name, "name")
    url = check_url(url, guard=ctx.outbound)
    if secret is not None and not 16 <= len(secret) <= 200:
        raise InvalidInput("secret: a signing secret has 16 to 200 characters (or leave it out for one made here)",
                           field="secret")  # fmt: skip
    secret = secret or random_secrets.token_urlsafe(32)
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        if notifications.webhook(session, row.id, name) is not None:
            raise Conflict(
                f"name: a webhook named {name!r} exists; remove it first, or pick another name", field="name"
            )
        hook = WebhookRow(
            tenant_id=row.id, name=name, url=url, secret_sealed=ctx.box.seal(secret), enabled=True,
            created_at=ctx.clock(),
        )  # fmt: skip
        session.add(hook)
        session.flush()
        audit(session, ctx, row.id, actor, "webhook.add", {"name": name, "url": url})
        return WebhookCreated(**_webhook_view(hook).model_dump(), secret=secret)


def list_webhooks(ctx: Context, tenant: str) -> list[WebhookView]:
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        return [_webhook_view(h) for h in notifications.webhooks_of(session, row.id)]


def set_webhook_enabled(ctx: Context, tenant: str, name: str, enabled: bool, *, actor: Actor) -> WebhookView:
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        hook = notifications.webhook(session, row.id, name)
        if hook is None:
            raise NotFound(f"no webhook named {name!r}", hint="list the webhooks to see them", field="name")
        before = hook.enabled
        hook.enabled = enabled
        audit(session, ctx, row.id, actor, "webhook.enable", {"name": name, "enabled": enabled},
              before={"name": name, "enabled": before})  # fmt: skip
        return _webhook_view(hook)


def remove_webhook(ctx: Context, tenant: str, name: str, *, actor: Actor) -> Deleted:
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        hook = notifications.webhook(session, row.id, name)
        if hook is None:
            raise NotFound(f"no webhook named {name!r}", hint="list the webhooks to see them", field="name")
        session.delete(hook)
        audit(session, ctx, row.id, actor, "webhook.remove", {}, before={"name": name, "url": hook.url})
        return Deleted(what="webhook", key=name, detail=f"nothing more is sent to {hook.url}")


async def deliver_quietly(ctx: Context, tenant: str) -> DeliveryReport | None:
    """``deliver_due`` for one tenant right after its push, never raising over the push's own
    outcome (what is not sent now is retried by the dispatcher); None when it could not run."""
    try:
        return await deliver_due(ctx, tenant=tenant)
    except Exception as error:
        log.warning("the notifications of tenant %s were not sent now: %s", tenant, error)
        return None
