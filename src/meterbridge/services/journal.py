"""The write-ahead journal (DESIGN.md guarantee 3) and what a push does on resume.

Every write to ConnectWise is preceded by an intent committed to the journal and followed by
its result, each in a transaction that checks the lease's fencing token. An intent without a
result (a crash, a kill, a 5xx after sending) is verified against ConnectWise before anything
else: a create shows up as an addition on that agreement with that product and effective date,
entered after the intent and owned by no line, and is adopted instead of created again; an
update or cancel that landed is recognised by its values, so it is not taken for someone
else's edit (drift).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from meterbridge.connectwise.client import ConnectWiseClient
from meterbridge.connectwise.models import Addition
from meterbridge.domain.billing import LineKey
from meterbridge.services.context import Context
from meterbridge.services.lease import Held
from meterbridge.services.planning import read_additions
from meterbridge.store.models import JournalEntry
from meterbridge.store.repos import journal, runs

log = logging.getLogger("meterbridge.journal")


def add_intent(
    session: Session,
    ctx: Context,
    held: Held,
    run_id: int,
    sequence: int,
    line_key: str,
    action: str,
    intent: dict[str, Any],
) -> int:
    """An intent, in the caller's transaction (which checks the lease's fence)."""
    return journal.add_intent(
        session,
        held.tenant_id,
        run_id=run_id,
        sequence=sequence,
        line_key=line_key,
        action=action,
        intent=intent,
        token=held.token,
        at=ctx.clock(),
    )


def remember(
    session: Session,
    ctx: Context,
    tenant_id: int,
    line_key: str,
    agreement_id: int,
    addition: Addition,
    *,
    adopted: bool,
    period: str | None = None,
) -> None:
    """Addition -> line key (guarantee 2), with the moment ConnectWise says the addition was last
    written and, for a write of a period, the latest period it holds. A new addition for a line
    that had one gets a row of its own: the earlier addition stays owned, as the history of the
    months it billed."""
    assert addition.id is not None
    last_updated = addition.info.last_updated if addition.info else None
    remember_id(
        session, ctx, tenant_id, line_key, agreement_id, addition.id, last_updated, adopted=adopted, period=period
    )


def remember_id(
    session: Session,
    ctx: Context,
    tenant_id: int,
    line_key: str,
    agreement_id: int,
    addition_id: int,
    last_updated: datetime | None,
    *,
    adopted: bool,
    period: str | None = None,
) -> None:
    """``remember`` from what it needs of the addition: its id and when ConnectWise last wrote it."""
    journal.remember(
        session,
        tenant_id,
        line_key=line_key,
        agreement_id=agreement_id,
        addition_id=addition_id,
        last_written=last_updated or ctx.clock(),
        adopted=adopted,
        period=period,
    )


def record_periods(ctx: Context, held: Held, addition_ids: list[int], period: str) -> None:
    """The additions a push found already right for ``period`` hold it too (only ever moving forward)."""
    if not addition_ids:
        return
    with ctx.db.session() as session:
        held.check(ctx, session)
        journal.hold_period(session, held.tenant_id, addition_ids, period)


def write_result(
    ctx: Context,
    held: Held,
    entry_id: int,
    result: dict[str, Any],
    **written: Any,
) -> None:
    """The result of an intent, in a transaction of its own; see ``add_result``."""
    with ctx.db.session() as session:
        held.check(ctx, session)
        add_result(session, ctx, held, entry_id, result, **written)


def add_result(
    session: Session,
    ctx: Context,
    held: Held,
    entry_id: int,
    result: dict[str, Any],
    *,
    addition: Addition | None = None,
    line_key: str | None = None,
    agreement_id: int | None = None,
    item_status: str | None = None,
    period: str | None = None,
) -> None:
    """The result of an intent, in the caller's transaction; ``item_status`` also marks the run's plan item."""
    landed = addition.id if addition is not None else None
    owner = (line_key, agreement_id) if line_key is not None and agreement_id is not None else None
    run_id, sequence = journal.complete(session, entry_id, result, ctx.clock(), landed if owner else None)
    if item_status is not None:
        runs.mark_item(session, run_id, sequence, item_status, result.get("error"), landed)
    if addition is not None and owner is not None:
        remember(session, ctx, held.tenant_id, owner[0], owner[1], addition, adopted=False, period=period)


def _same(actual: Any, wanted: Any) -> bool:
    if wanted is None:
        return actual is None
    if isinstance(actual, datetime):
        return actual.date().isoformat() == str(wanted)[:10]
    if isinstance(actual, Decimal | int | float) and not isinstance(actual, bool):
        try:
            return Decimal(str(actual)) == Decimal(str(wanted))
        except ArithmeticError:
            return False
    return bool(actual == wanted)


def matches(addition: Addition, fields: dict[str, Any]) -> bool:
    current = addition.model_dump(by_alias=True)
    return all(_same(current.get(name), value) for name, value in fields.items())


@dataclass
class Resumed:
    found: int = 0  # creates that had landed: adopted, not created again
    not_applied: int = 0
    updates_landed: int = 0
    unverifiable: dict[str, str] = field(default_factory=dict)  # customer -> reason


async def resume(ctx: Context, cw: ConnectWiseClient, held: Held, skew_seconds: float) -> Resumed:
    """Settle every intent without a result, before a new plan is made."""
    outcome = Resumed()
    with ctx.db.session() as session:
        pending = journal.open_intents(session, held.tenant_id)
        owned = journal.owned_addition_ids(session, held.tenant_id)
    if not pending:
        return outcome
    if held.from_live_holder:  # its holder may be alive (paused): what it had under way lands or fails first
        grace = cw.settings.timeout_seconds + 1.0
        log.warning(
            "tenant %s: the lease was taken over from a holder that may still be running; its %d unfinished "
            "write(s) are checked in %.0f s, when any it had under way has landed or failed",
            held.tenant_id,
            len(pending),
            grace,
        )
        await ctx.sleep(grace)
    paused = held.previous_still_here()
    if paused is not None:  # it may still send what it began: its companies wait for the next push
        for entry in pending:
            outcome.unverifiable[LineKey.parse(entry.line_key).customer] = (
                f"an unfinished write (journal {entry.id}) of the push that held the lease before ({paused} on "
                "this machine, paused or stalled) may still land; this company is left for the next push, which "
                "checks it"
            )
        return outcome
    additions, failed = await read_additions(cw, {int(entry.intent["agreementId"]) for entry in pending})
    for entry in pending:
        agreement_id = int(entry.intent["agreementId"])
        customer = LineKey.parse(entry.line_key).customer
        if agreement_id in failed:
            outcome.unverifiable[customer] = (
                f"an unfinished write from an earlier push (journal {entry.id}) could not be checked: "
                f"{failed[agreement_id]}; it is checked again on the next push"
            )
            continue
        if entry.action == "create":
            found = _landed_create(entry, additions[agreement_id], owned, skew_seconds)
            if found is not None:
                owned.add(found.id or 0)
                outcome.found += 1
                write_result(
                    ctx,
                    held,
                    entry.id,
                    {"outcome": "found on resume", "addition_id": found.id},
                    addition=found,
                    line_key=entry.line_key,
                    agreement_id=agreement_id,
                    period=entry.intent.get("period"),
                )
            else:
                outcome.not_applied += 1
                write_result(ctx, held, entry.id, {"outcome": "not applied; planned again"})
            continue
        addition_id = int(entry.intent["additionId"])
        current = next((a for a in additions[agreement_id] if a.id == addition_id), None)
        if current is not None and matches(current, entry.intent["fields"]):
            outcome.updates_landed += 1
            write_result(
                ctx,
                held,
                entry.id,
                {"outcome": "found on resume", "addition_id": addition_id},
                addition=current,
                line_key=entry.line_key,
                agreement_id=agreement_id,
                period=entry.intent.get("period") if entry.action == "update" else None,
            )
        else:
            outcome.not_applied += 1
            write_result(ctx, held, entry.id, {"outcome": "not applied; planned again"})
    return outcome


def _landed_create(
    entry: JournalEntry, additions: list[Addition], owned: set[int], skew_seconds: float
) -> Addition | None:
    """The addition a create whose answer was lost made, if it landed: one nobody owns, entered since
    the intent, of its product and effective date, and with the money it was sent with (quantity,
    unit price, bill mode): an addition made by hand the same day is not taken for it."""
    intent = entry.intent
    since = entry.intended_at - timedelta(seconds=skew_seconds)
    effective = date.fromisoformat(str(intent["effectiveDate"])[:10])
    sent = {name: intent[name] for name in ("quantity", "unitPrice", "billCustomer") if intent.get(name) is not None}
    candidates = [
        a
        for a in additions
        if a.id not in owned
        and matches(a, sent)
        and a.product is not None
        and (a.product.identifier or "").casefold() == str(intent["product"]).casefold()
        and a.effective_date is not None
        and a.effective_date.date() == effective
        and a.info is not None
        and a.info.date_entered is not None
        and a.info.date_entered >= since
    ]
    return min(candidates, key=lambda a: a.id or 0) if candidates else None
