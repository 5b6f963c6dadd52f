"""Idempotency keys for requests that write to ConnectWise (a push, Backup Stats, the doctor's
fixes): the first request with a key runs and its answer is kept; a retry with the same key and
the same request gets that answer and starts nothing; the same key on another request is refused.

A key is reserved before the work starts, so two copies of one request sent at once run once.
A request that fails before it started anything (a held lease, a bad period: ``STARTED_NOTHING``)
frees its key, so it can be retried as it was; one that failed after it may have written keeps
it, answering 409 until it is freed by time. A reservation left by a process that died is taken
over after ``ABANDONED``; keys are kept for ``KEPT`` days.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from meterbridge.services.context import Context
from meterbridge.services.errors import Conflict, ErrorKind, InvalidInput
from meterbridge.store.models import IdempotencyRecord
from meterbridge.store.repos import accounts

IN_PROGRESS = 0
ABANDONED = timedelta(minutes=15)  # a reservation older than this belongs to a request that died
KEPT = timedelta(days=30)
#: Errors raised before a request writes anything: its key is freed for a retry.
STARTED_NOTHING = (
    ErrorKind.INVALID_INPUT,
    ErrorKind.NOT_FOUND,
    ErrorKind.NOT_CONFIGURED,
    ErrorKind.APPROVAL_NEEDED,
    ErrorKind.LEASE_HELD,
    ErrorKind.CONFLICT,
)


@dataclass(frozen=True)
class Replay:
    status: int
    body: Any


def fingerprint(method: str, path: str, body: Any) -> str:
    text = json.dumps([method.upper(), path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check(key: str) -> None:
    if not key.strip() or len(key) > 200:
        raise InvalidInput("Idempotency-Key: 1 to 200 characters, e.g. a UUID", field="Idempotency-Key")


def _replay(record: IdempotencyRecord, key: str, print_: str) -> Replay:
    if record.fingerprint != print_:
        raise Conflict(
            f"Idempotency-Key {key!r} was used for another request",
            hint="use a new key for a new request",
            field="Idempotency-Key",
        )
    if record.status == IN_PROGRESS:
        raise Conflict(
            f"a request with Idempotency-Key {key!r} is still being answered",
            hint="wait for it, then retry with the same key to get its answer",
            field="Idempotency-Key",
        )
    return Replay(record.status, record.response)


def begin(ctx: Context, tenant_id: int, key: str, print_: str) -> Replay | None:
    """The earlier answer to this request, or None after reserving the key for it."""
    _check(key)
    for _attempt in range(3):
        try:
            return _begin(ctx, tenant_id, key, print_)
        except IntegrityError:  # the same key, reserved a moment ago by a copy of this request: look again
            continue
    raise Conflict(f"a request with Idempotency-Key {key!r} is being answered", field="Idempotency-Key")


def _begin(ctx: Context, tenant_id: int, key: str, print_: str) -> Replay | None:
    now = ctx.clock()
    with ctx.db.session() as session:
        accounts.forget_idempotency(session, tenant_id, before=now - KEPT)
        record = accounts.idempotency(session, tenant_id, key)
        if record is not None and record.status == IN_PROGRESS and record.created_at < now - ABANDONED:
            session.delete(record)  # its request died; this one takes the key over
            session.flush()
            record = None
        if record is not None:
            return _replay(record, key, print_)
        session.add(
            IdempotencyRecord(
                tenant_id=tenant_id, key=key, fingerprint=print_, status=IN_PROGRESS, response={}, created_at=now
            )
        )
    return None


def finish(ctx: Context, tenant_id: int, key: str, status: int, body: Any) -> None:
    with ctx.db.session() as session:
        record = accounts.idempotency(session, tenant_id, key)
        if record is not None:
            record.status, record.response = status, body


def release(ctx: Context, tenant_id: int, key: str) -> None:
    """Free a key whose request failed before it started anything."""
    with ctx.db.session() as session:
        record = accounts.idempotency(session, tenant_id, key)
        if record is not None and record.status == IN_PROGRESS:
            session.delete(record)
