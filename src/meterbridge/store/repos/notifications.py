"""Notifications (emails, webhook deliveries) and webhooks; claiming an attempt is compare and set,
so two workers never send the same attempt."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from meterbridge.store.models import NotificationRow, WebhookRow


def add(session: Session, **values: Any) -> NotificationRow:
    row = NotificationRow(attempts=0, status="pending", **values)
    session.add(row)
    session.flush()
    return row


def of_run(session: Session, tenant_id: int, run_id: int) -> list[NotificationRow]:
    query = select(NotificationRow).where(NotificationRow.tenant_id == tenant_id, NotificationRow.run_id == run_id)
    return list(session.scalars(query.order_by(NotificationRow.id)))


def newest(session: Session, tenant_id: int, *, limit: int, status: str | None = None) -> list[NotificationRow]:
    query = select(NotificationRow).where(NotificationRow.tenant_id == tenant_id)
    if status is not None:
        query = query.where(NotificationRow.status == status)
    return list(session.scalars(query.order_by(NotificationRow.id.desc()).limit(limit)))


def due(session: Session, now: datetime, *, limit: int, tenant_id: int | None = None) -> list[tuple[int, int]]:
    """(id, attempts) of pending notifications whose next attempt is due, oldest first."""
    query = select(NotificationRow.id, NotificationRow.attempts).where(
        NotificationRow.status == "pending", NotificationRow.next_attempt_at <= now
    )
    if tenant_id is not None:
        query = query.where(NotificationRow.tenant_id == tenant_id)
    return [(i, a) for i, a in session.execute(query.order_by(NotificationRow.id).limit(limit)).all()]


def claim(session: Session, notification_id: int, *, seen_attempts: int, until: datetime) -> bool:
    """Take the next attempt of a notification (nobody else will try it before ``until``)."""
    result = session.execute(
        update(NotificationRow)
        .where(
            NotificationRow.id == notification_id,
            NotificationRow.attempts == seen_attempts,
            NotificationRow.status == "pending",
        )
        .values(attempts=seen_attempts + 1, next_attempt_at=until)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def webhooks_of(session: Session, tenant_id: int) -> list[WebhookRow]:
    return list(session.scalars(select(WebhookRow).where(WebhookRow.tenant_id == tenant_id).order_by(WebhookRow.name)))


def webhook(session: Session, tenant_id: int, name: str) -> WebhookRow | None:
    return session.scalar(select(WebhookRow).where(WebhookRow.tenant_id == tenant_id, WebhookRow.name == name))
