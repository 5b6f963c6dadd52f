"""Applying a plan's writes to ConnectWise: company by company, each write through the journal.

Companies run concurrently, as many at once as the connection has calls in flight (a pool of
that many workers takes the companies in order), a company's writes in order. Each write is
intent -> write -> result in the journal, the intent committed just before its write: at any
moment at most that many intents are open, however large the plan. The journal's database
work runs on a thread of its own, one statement batch at a time, so the event loop keeps
serving the requests in flight (and a web server's other requests) while it commits. A write
that fails fails its company with ConnectWise's reason and never stops the others. A POST whose
answer was lost may have been applied: its intent stays open, and the next push verifies it
before planning. A write's answer is the addition as ConnectWise now holds it: what it will
invoice for the period (domain/invoice.py) must be the change's planned "after", or the company
is reported as a mismatch, never as ok.
"""

from __future__ import annotations

import asyncio
import functools
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from meterbridge.connectwise.client import ConnectWiseClient
from meterbridge.connectwise.errors import ConnectWiseError, TemporaryError
from meterbridge.connectwise.models import Addition
from meterbridge.domain.billing import LineKey
from meterbridge.domain.invoice import Dated, amount
from meterbridge.domain.periods import Period
from meterbridge.domain.plan import Change, ChangeKind
from meterbridge.domain.plan.corrections import corrected_period
from meterbridge.services.context import Context
from meterbridge.services.journal import Resumed, add_intent, add_result
from meterbridge.services.lease import Held
from meterbridge.services.live import LiveRun
from meterbridge.services.pool import run_workers
from meterbridge.services.results import Applied
from meterbridge.services.views import jsonable
from meterbridge.store.repos import runs

Progress = Callable[[int, int], None]
T = TypeVar("T")


def _intent(change: Change, period: Period) -> tuple[str, dict[str, Any]]:
    if change.kind is ChangeKind.CREATE:
        values = dict(change.values)
        intent = {**values, "agreementId": change.agreement_id, "product": change.cw_product, "period": str(period)}
        return "create", jsonable(intent)
    fields = {f.field: f.new for f in change.fields}
    intent = {
        "agreementId": change.agreement_id,
        "additionId": change.addition_id,
        "fields": fields,
        "period": str(period),
    }
    return change.kind.value, jsonable(intent)


def _create_body(change: Change) -> dict[str, Any]:
    body = {k: v for k, v in change.values.items() if k != "product"}
    body["product"] = {"identifier": change.cw_product}
    return body


async def _write(cw: ConnectWiseClient, change: Change) -> Addition:
    assert change.agreement_id is not None
    if change.kind is ChangeKind.CREATE:
        return await cw.create_addition(change.agreement_id, _create_body(change))
    assert change.addition_id is not None
    fields: dict[str, Any] = {f.field: f.new for f in change.fields}  # a cancel: its cancelledDate
    return await cw.update_addition(change.agreement_id, change.addition_id, fields)


def mismatch(change: Change, addition: Addition, period: Period) -> tuple[str, Decimal] | None:
    """Why the addition ConnectWise answered a write with does not invoice the change's planned
    "after" for the period (a correction: for the month it bills), and what it does invoice; None
    when it does, or when the period is invoiced already (nothing written changes that invoice)."""
    if change.invoiced:
        return None
    marked = corrected_period(LineKey.split(change.key)[1])
    if marked is not None:
        period = Period.parse(marked[1])
    held = Dated(
        addition.quantity if addition.quantity is not None else Decimal(0),
        addition.unit_price,
        addition.bill_customer or "",
        addition.effective_date.date() if addition.effective_date else None,
        addition.cancelled_date.date() if addition.cancelled_date else None,
    )
    invoiced = amount(held, period, prorated=change.prorated)
    if invoiced == change.new_amount:
        return None
    price = held.unit_price if held.unit_price is not None else "?"
    reason = (
        f"{change.cw_product}: ConnectWise holds addition {addition.id} at {held.quantity} x {price} "
        f"({held.bill_customer}, {held.effective or '?'} to {held.cancelled or 'open'}), which invoices "
        f"{invoiced} for {period}, not the {change.new_amount} planned: check the addition in ConnectWise "
        "and preview again"
    )
    return reason, invoiced


class _Journal:
    """The workers' journal work, committed in groups: what the workers ask for while a commit is
    under way goes into the next one, a single transaction that checks the lease's fence once.
    Every intent is still committed before its write is sent (its worker waits for the commit),
    but one commit carries up to as many intents and results as there are workers: the journal
    keeps up with the writes instead of one disk sync each. The work runs on a thread of its own."""

    def __init__(self, ctx: Context, held: Held, thread: ThreadPoolExecutor) -> None:
        self.ctx, self.held, self.thread = ctx, held, thread
        self._waiting: list[tuple[Callable[[Session], Any], asyncio.Future[Any]]] = []
        self._committing: asyncio.Task[None] | None = None

    async def run(self, work: Callable[[Session], T]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiting.append((work, future))
        if self._committing is None or self._committing.done():
            self._committing = asyncio.create_task(self._commit_all())
        return await future

    async def _commit_all(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            group, self._waiting = self._waiting, []
            try:
                results = await loop.run_in_executor(self.thread, self._commit, [work for work, _ in group])
            except BaseException as error:  # handed to every worker waiting on it
                for _, future in group:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), result in zip(group, results, strict=True):
                if not future.done():
                    future.set_result(result)

    def _commit(self, group: list[Callable[[Session], Any]]) -> list[Any]:
        with self.ctx.db.session() as session:
            self.held.check(self.ctx, session)
            return [work(session) for work in group]


@dataclass
class _Writer:
    ctx: Context
    cw: ConnectWiseClient
    held: Held
    run_id: int
    period: Period
    resumed: Resumed
    progress: Progress | None
    total: int
    applied: Applied
    journal: _Journal
    done: int = 0

    def _mark(self, positions: list[int], status: str, error: str | None = None) -> Callable[[Session], None]:
        """Plan items' status when no journal result carries it (skipped, or a write that may have landed)."""

        def work(session: Session) -> None:
            for position in positions:
                runs.mark_item(session, self.run_id, position, status, error)

        return work

    def _step(self, count: int = 1) -> None:
        self.done += count
        if self.progress is not None:
            self.progress(self.done, self.total)

    async def worker(self, take: Callable[[], tuple[str, list[tuple[int, Change]]] | None]) -> None:
        while (company := take()) is not None:
            await self.company(*company)

    async def company(self, customer: str, changes: list[tuple[int, Change]]) -> None:
        if customer in self.resumed.unverifiable:
            reason = self.resumed.unverifiable[customer]
            for _, change in changes:
                self.applied.fail(customer, change.key, reason, change)
            await self.journal.run(self._mark([position for position, _ in changes], "skipped", reason))
            self._step(len(changes))
            return
        for position, change in changes:
            await self._one(customer, position, change)
            self._step()

    async def _one(self, customer: str, position: int, change: Change) -> None:
        action, intent = _intent(change, self.period)
        ctx, held = self.ctx, self.held
        entry = await self.journal.run(
            functools.partial(
                add_intent,
                ctx=ctx,
                held=held,
                run_id=self.run_id,
                sequence=position,
                line_key=change.key,
                action=action,
                intent=intent,
            )
        )
        try:
            addition = await _write(self.cw, change)
        except ConnectWiseError as error:
            self.applied.fail(customer, change.key, f"{change.cw_product} ({change.kind.value}): {error}", change)
            if isinstance(error, TemporaryError) and error.maybe_applied:
                await self.journal.run(self._mark([position], "failed", str(error)))  # the intent stays open
            else:
                failed = {"outcome": "failed", "error": str(error)}
                await self.journal.run(
                    functools.partial(
                        add_result, ctx=ctx, held=held, entry_id=entry, result=failed, item_status="failed"
                    )
                )
            return
        self.applied.land(customer, change.key)
        result: dict[str, Any] = {"outcome": "done", "addition_id": addition.id}
        differs = mismatch(change, addition, self.period)
        if differs is not None:
            self.applied.differ(customer, change.key, *differs, change=change)
            result["invoiced"] = str(differs[1])  # what ConnectWise will invoice instead (the billing export)
        await self.journal.run(
            functools.partial(
                add_result,
                ctx=ctx,
                held=held,
                entry_id=entry,
                result=result,
                addition=addition,
                line_key=change.key,
                agreement_id=change.agreement_id,
                item_status="done",
                period=str(self.period) if change.kind is not ChangeKind.CANCEL else None,
            )
        )


async def apply_writes(
    ctx: Context,
    cw: ConnectWiseClient,
    held: Held,
    run_id: int,
    period: Period,
    writes: Iterable[list[tuple[int, Change]]],
    total: int,
    resumed: Resumed,
    progress: Progress | None,
    live: LiveRun | None = None,
) -> Applied:
    """The plan's ``total`` writes, (position in the plan, change), in parts of whole companies
    (a push's chunks), each part read when the workers have taken the one before; ``live.applied``
    fills as they land (the caller's view while it runs)."""
    parts = iter(writes)
    companies: deque[tuple[str, list[tuple[int, Change]]]] = deque()

    def take() -> tuple[str, list[tuple[int, Change]]] | None:
        while not companies:
            part = next(parts, None)
            if part is None:
                return None
            per_customer: dict[str, list[tuple[int, Change]]] = defaultdict(list)
            for position, change in part:
                per_customer[change.customer].append((position, change))
            companies.extend(sorted(per_customer.items()))
        return companies.popleft()

    applied = live.applied if live is not None else Applied()
    workers = min(total, cw.settings.max_concurrency)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="meterbridge-journal") as thread:
        journal = _Journal(ctx, held, thread)
        writer = _Writer(ctx, cw, held, run_id, period, resumed, progress, total, applied, journal)
        if progress is not None:
            progress(0, total)
        await run_workers(workers, lambda: writer.worker(take))  # a lost lease stops every worker
    return writer.applied
