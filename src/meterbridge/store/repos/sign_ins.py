"""Sign-in attempts kept for the throttling window (services/sign_ins.py reads the rules)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from meterbridge.store.models import SignInAttempt


def take_turn(session: Session, *, before: datetime) -> None:
    """Start a counting turn: forget the attempts made ``before`` (outside the window), and hold
    the turn until the caller's transaction ends, so no two processes count and add at once.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: the DELETE is the transaction's
    first statement, so it takes the database's write lock (waiting its busy timeout) before
    anything is read; the counts that follow are then read under that lock."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7401)"))
    session.execute(delete(SignInAttempt).where(SignInAttempt.at < before))


def times(session: Session, *, account: str | None = None, address: str | None = None) -> list[datetime]:
    """When the kept attempts of an account, an address, or the pair of both were made, oldest first."""
    query = select(SignInAttempt.at).order_by(SignInAttempt.at)
    if account is not None:
        query = query.where(SignInAttempt.account == account)
    if address is not None:
        query = query.where(SignInAttempt.address == address)
    return list(session.scalars(query))


def count(session: Session, *, account: str) -> int:
    return int(session.scalar(select(func.count(SignInAttempt.id)).where(SignInAttempt.account == account)) or 0)


def add(session: Session, *, account: str, address: str, at: datetime) -> int:
    attempt = SignInAttempt(account=account, address=address, at=at)
    session.add(attempt)
    session.flush()
    return attempt.id


def remove(session: Session, attempt_id: int) -> None:
    session.execute(delete(SignInAttempt).where(SignInAttempt.id == attempt_id))


def clear_pair(session: Session, *, account: str, address: str) -> None:
    session.execute(delete(SignInAttempt).where(SignInAttempt.account == account, SignInAttempt.address == address))


def keys(session: Session) -> int:
    """How many accounts and addresses have attempts kept."""
    accounts = session.scalar(select(func.count(func.distinct(SignInAttempt.account)))) or 0
    addresses = session.scalar(select(func.count(func.distinct(SignInAttempt.address)))) or 0
    return int(accounts) + int(addresses)
