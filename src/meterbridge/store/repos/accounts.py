"""Users, their memberships (a role per tenant), API tokens, console sessions, idempotency keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from meterbridge.store.models import ApiToken, IdempotencyRecord, Membership, Tenant, User, WebSession


def user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def user_by_id(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def membership(session: Session, user_id: int, tenant_id: int) -> Membership | None:
    return session.scalar(select(Membership).where(Membership.user_id == user_id, Membership.tenant_id == tenant_id))


def memberships_of(session: Session, user_id: int) -> list[tuple[Membership, Tenant]]:
    query = (
        select(Membership, Tenant)
        .join(Tenant, Tenant.id == Membership.tenant_id)
        .where(Membership.user_id == user_id)
        .order_by(Tenant.key)
    )
    return [(m, t) for m, t in session.execute(query)]


def members_of(session: Session, tenant_id: int) -> list[tuple[Membership, User]]:
    query = (
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.tenant_id == tenant_id)
        .order_by(User.username)
    )
    return [(m, u) for m, u in session.execute(query)]


def remove_membership(session: Session, user_id: int, tenant_id: int) -> bool:
    result = session.execute(delete(Membership).where(Membership.user_id == user_id, Membership.tenant_id == tenant_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def token(session: Session, token_id: int) -> ApiToken | None:
    return session.get(ApiToken, token_id)


def tokens_of(session: Session, tenant_id: int) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.tenant_id == tenant_id).order_by(ApiToken.id)))


def web_session(session: Session, secret_hash: str) -> WebSession | None:
    return session.scalar(select(WebSession).where(WebSession.secret_hash == secret_hash))


def end_sessions(session: Session, *, user_id: int | None = None, before: datetime | None = None) -> None:
    """End a user's sessions, or every session that expired before a moment."""
    query = delete(WebSession)
    if user_id is not None:
        query = query.where(WebSession.user_id == user_id)
    if before is not None:
        query = query.where(WebSession.expires_at < before)
    session.execute(query)


def idempotency(session: Session, tenant_id: int, key: str) -> IdempotencyRecord | None:
    return session.scalar(
        select(IdempotencyRecord).where(IdempotencyRecord.tenant_id == tenant_id, IdempotencyRecord.key == key)
    )


def forget_idempotency(session: Session, tenant_id: int, *, before: datetime) -> None:
    session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.tenant_id == tenant_id, IdempotencyRecord.created_at < before)
    )
