"""Preview and push a period: the spine of DESIGN.md's data flow, with the double-billing guarantees.

``preview`` reads ConnectWise, plans, judges safety and stores the plan with its checksum.
``push`` takes the tenant's lease, marks pushes a dead process left "running" as interrupted,
settles unfinished journal entries, plans again (the plan a person approved must be the plan
applied: its checksum is compared, and a plan whose writes are what is left of an approved
plan after an interruption keeps the approval), holds a plan the safety thresholds reject
unless it was approved by checksum, then applies the writes company by company (companies
concurrently, each company's writes in order), each through the journal (``writes.py``). A
failed company never stops the others; per company the result says which lines landed and
which did not. Every line the push leaves right records the period it now holds.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from pydantic import PrivateAttr

from meterbridge.connectwise.client import ConnectWiseClient
from meterbridge.connectwise.errors import ConnectWiseError
from meterbridge.domain.billing import LineKey
from meterbridge.domain.explanation import Explanation
from meterbridge.domain.periods import Period
from meterbridge.domain.plan import Change, ChangeKind
from meterbridge.domain.safety import Safety, Verdict
from meterbridge.services import notify
from meterbridge.services.actors import Actor
from meterbridge.services.context import Context
from meterbridge.services.customers import require_customers
from meterbridge.services.errors import (
    ApprovalNeeded,
    ChecksumMismatch,
    ConnectWiseFailed,
    InvalidInput,
    LeaseLost,
    ServiceError,
)
from meterbridge.services.journal import Resumed, record_periods, remember_id, resume
from meterbridge.services.lease import Held, holding
from meterbridge.services.live import LiveRun
from meterbridge.services.phases import Phases
from meterbridge.services.planning import Built, plan_in_chunks
from meterbridge.services.results import Applied, Tally, Written
from meterbridge.services.runs import (
    approved_writes,
    error_summary,
    finish_run,
    mark_interrupted,
    start_run,
    store_plan,
    stored_changes,
)
from meterbridge.services.scope import TenantScope, open_tenant, parse_period
from meterbridge.services.spill import Spill
from meterbridge.services.views import ChangeView, CompanyStatus, ResumedView, RunKind, RunOutcome, RunStatus
from meterbridge.services.writes import apply_writes
from meterbridge.store.repos import runs as runs_repo

Progress = Callable[[int, int], None]  # (done, total) writes
_CHECKSUM = re.compile(r"[0-9a-f]{64}")


class Outcome(RunOutcome):
    """A run's outcome (the view every front-end renders), with where its time went."""

    _changes: Callable[..., list[ChangeView]] | None = PrivateAttr(default=None)
    _phases: Phases | None = PrivateAttr(default=None)

    @property
    def phases(self) -> Phases:
        assert self._phases is not None
        return self._phases

    def with_changes(self) -> Outcome:
        """The same outcome with every change of its plan, as the run stored them (for a
        preview, a held push, the API)."""
        assert self._changes is not None
        copy = self.model_copy(update={"changes": self._changes()})
        copy._changes, copy._phases = self._changes, self._phases
        return copy

    def drifted(self) -> list[ChangeView]:
        """The changes to additions edited in ConnectWise since meterbridge wrote them."""
        assert self._changes is not None
        return self._changes(drift_only=True)


@dataclass
class Planned:
    """A run's plan, made and stored a chunk of companies at a time: what is kept of it (the sums
    of ``Tally``, its writes without their explanations, the additions its lines adopt)."""

    tally: Tally
    safety: Safety
    phases: Phases
    #: (position, change) in the plan's order, a list a chunk: the writes of the companies within
    #: their thresholds, and those of the companies held for approval (``Safety.held``)
    writes: Spill[tuple[int, Change]]
    held_writes: Spill[tuple[int, Change]]
    #: addition id -> (line key, agreement id, when ConnectWise last wrote it): what adopting it records
    adoptions: dict[int, tuple[str, int, datetime | None]]
    settled: list[int]  # additions already right for the period (noops): they hold it now too
    period: Period
    only: frozenset[str] | None = None  # the customers planned (``--customer``), None: all

    @property
    def checksum(self) -> str:
        return self.tally.checksum.hexdigest()


async def plan_and_store(
    ctx: Context,
    scope: TenantScope,
    period: Period,
    cw: ConnectWiseClient,
    run_id: int,
    *,
    only: frozenset[str] | None,
    provisional: bool,
    keep_writes: bool = False,
) -> Planned:
    """Plan a chunk of companies, store its items (on a thread: the event loop keeps serving),
    sum it up, let it go, and on to the next. ``keep_writes``: a push keeps the writes (without
    their explanations, which the stored items hold)."""
    tally, phases = Tally(scope.settings.thresholds()), Phases(ctx.monotonic)
    writes: Spill[tuple[int, Change]] = Spill()
    held_writes: Spill[tuple[int, Change]] = Spill()
    adoptions: dict[int, tuple[str, int, datetime | None]] = {}
    settled: list[int] = []
    try:
        async for built in plan_in_chunks(scope, period, cw, only=only, provisional=provisional):
            phases = built.phases
            await asyncio.to_thread(_store, ctx, run_id, built, tally.changes)
            start = tally.changes
            customers = built.inputs.customers
            held = tally.add(
                built.plan,
                built.problems(),
                names={customer: info.name for customer, info in customers.items()},
                push_off=sorted(c for c, info in customers.items() if not info.push_enabled),
            )
            if keep_writes:
                bare = Explanation()
                kept = [
                    (position, replace(change, explanation=bare))
                    for position, change in enumerate(built.plan.changes, start)
                    if change.is_write
                ]
                writes.put([write for write in kept if write[1].customer not in held])
                held_writes.put([write for write in kept if write[1].customer in held])
                for addition_id, line_key in built.adoptions.items():
                    agreement_id, addition = built.addition(addition_id)
                    written = addition.info.last_updated if addition.info else None
                    adoptions[addition_id] = (line_key, agreement_id, written)
                settled.extend(_settled_additions(built))
    except BaseException:
        writes.close()
        held_writes.close()
        raise
    return Planned(tally, tally.verdict(), phases, writes, held_writes, adoptions, settled, period, only)


def _outcome(
    run_id: int,
    kind: RunKind,
    status: RunStatus,
    planned: Planned,
    ctx: Context,
    cw: ConnectWiseClient,
    applied: Applied | None = None,
    written: Written | None = None,
    **extra: Any,
) -> Outcome:
    companies, counts, run_totals = planned.tally.outcome(applied, written)
    outcome = Outcome.model_validate(
        {
            "run": run_id,
            "kind": kind,
            "period": str(planned.period),
            "calls": cw.stats.calls,
            "status": status,
            "checksum": planned.checksum,
            "verdict": planned.safety.verdict.value,
            "safety_reasons": list(planned.safety.reasons),
            "provisional": planned.tally.provisional,
            "counts": counts,
            "totals": run_totals,
            "companies": companies,
            "held": planned.tally.held(approved=written is Written.ALL),
            "push_off": planned.tally.off(),
            "customers": sorted(planned.only) if planned.only is not None else None,
            **extra,
        }
    )
    outcome._changes = functools.partial(stored_changes, ctx, run_id)
    outcome._phases = planned.phases
    return outcome


def _store(ctx: Context, run_id: int, built: Built, start: int) -> None:
    """A chunk's plan items."""
    with built.phases.timing("store"), ctx.db.session() as session:
        store_plan(session, run_id, built.plan, built.actions, start, built.addition)


async def preview(
    ctx: Context, tenant: str, period_text: str, *, actor: Actor, only: frozenset[str] | None = None
) -> Outcome:
    scope = open_tenant(ctx, tenant)
    period, provisional = scope.billing_period(period_text)
    require_customers(ctx, scope.id, only)
    connection = scope.connection()
    run_id = start_run(ctx, scope.id, str(period), RunKind.PREVIEW, actor=actor)
    async with ctx.client(connection) as cw:
        try:
            planned = await plan_and_store(ctx, scope, period, cw, run_id, only=only, provisional=provisional)
        except ConnectWiseError as error:
            failure = ConnectWiseFailed(f"the preview could not read ConnectWise: {error}")
            finish_run(ctx, run_id, status=RunStatus.FAILED, summary=error_summary(failure), stats=cw.stats)
            raise failure from None
        except BaseException as error:
            finish_run(ctx, run_id, status=RunStatus.FAILED, summary=error_summary(error))
            raise
        outcome = _outcome(run_id, RunKind.PREVIEW, RunStatus.PREVIEWED, planned, ctx, cw)
        finish_run(
            ctx,
            run_id,
            status=RunStatus.PREVIEWED,
            summary=outcome.summary(),
            stats=cw.stats,
            checksum=planned.checksum,
            verdict=planned.safety.verdict.value,
        )
    return outcome


async def push(
    ctx: Context,
    tenant: str,
    period_text: str,
    *,
    actor: Actor,
    checksum: str | None = None,
    force: bool = False,
    wait_seconds: float = 0.0,
    only: frozenset[str] | None = None,
    progress: Progress | None = None,
    live: LiveRun | None = None,
    approve_held: bool = False,
) -> Outcome:
    """``live``: follow the push while it runs (its run id as soon as it has one, writes done,
    lines landed and failed); ``progress``: called with (done, total) writes. ``approve_held``: the
    companies the safety thresholds hold are written too, approved by ``checksum`` (with ``only``
    naming one of them: that one alone)."""
    if checksum is not None and force:
        raise InvalidInput(
            "force: push either the reviewed plan (its checksum) or what is planned now (force), not both",
            field="force",
        )
    if approve_held and checksum is None:
        raise InvalidInput(
            "approve_held: held companies are approved by the checksum of the plan that holds them (or of one "
            "company's, with its customer named), not by a forced push",
            field="approve_held",
        )
    if checksum is not None and not _CHECKSUM.fullmatch(checksum):
        raise InvalidInput(
            f"checksum: {checksum!r} is not a plan's checksum (64 hexadecimal characters, as the preview prints it)",
            field="checksum",
        )
    parse_period(period_text)  # a wrong month is named before a missing approval
    if checksum is None and not force:
        raise ApprovalNeeded(
            "a push applies a reviewed plan",
            hint="preview it and approve its checksum, or push what is planned now (forced)",
            action="preview",
            params={"period": period_text, "customers": ",".join(sorted(only or ()))},
        )
    scope = open_tenant(ctx, tenant)
    period, provisional = scope.billing_period(period_text)
    require_customers(ctx, scope.id, only)
    connection = scope.connection()
    async with holding(ctx, scope.id, seconds=scope.settings.lease_seconds, wait_seconds=wait_seconds) as held:
        scope = open_tenant(ctx, tenant)  # settings changed while the lease was waited for count
        approval: dict[str, Any] = {"checksum": checksum} if checksum else {"forced": True}
        if approve_held:
            approval["approve_held"] = True
        scoped = {"customers": sorted(only)} if only else {}
        run_id = start_run(ctx, scope.id, str(period), RunKind.PUSH, actor=actor, detail={**approval, **scoped})
        if live is not None:
            live.start(run_id)
        async with ctx.client(connection) as cw:
            cw.before_write = held.before_send(ctx)  # no write leaves unless the lease is ours at that moment
            run = PushRun(
                scope, period, provisional, cw, held, run_id, checksum, only, progress, live or LiveRun(), approve_held
            )
            try:
                return await run.go()
            except (ConnectWiseError, LeaseLost) as error:
                stopped = (
                    _lost(error, run.live)
                    if isinstance(error, LeaseLost)
                    else ConnectWiseFailed(f"the push stopped: {error}")
                )
                finish_run(ctx, run_id, status=RunStatus.FAILED, summary=error_summary(stopped), stats=cw.stats)
                if isinstance(stopped, LeaseLost):
                    raise stopped from None
                raise stopped from None
            except BaseException as error:
                if not isinstance(error, ServiceError):
                    finish_run(ctx, run_id, status=RunStatus.FAILED, summary=error_summary(error))
                raise
            finally:  # the emails and webhooks about it are sent apart from it
                notify.queue_run_quietly(ctx, scope.id, run_id)


def _lost(error: LeaseLost, live: LiveRun) -> LeaseLost:
    """What a push that lost its lease did: the writes that landed before, and that none left after."""
    landed = sum(len(keys) for keys in live.applied.landed.values())
    return LeaseLost(
        f"{error}: {landed} write(s) of this push had landed before; none was sent after the lease was lost "
        "(the push that took over checks any write that was under way before it writes anything)",
        hint="see the push that holds the lease now, or preview again",
    )


@dataclass
class PushRun:
    """One push, holding the tenant's lease: resume, plan, check the approval, apply, record."""

    scope: TenantScope
    period: Period
    provisional: bool
    cw: ConnectWiseClient
    held: Held
    run_id: int
    checksum: str | None
    only: frozenset[str] | None
    progress: Progress | None
    live: LiveRun
    approve_held: bool = False

    @property
    def ctx(self) -> Context:
        return self.scope.ctx

    async def go(self) -> Outcome:
        resumed = await resume(self.ctx, self.cw, self.held, self.scope.settings.resume_skew_seconds)
        interrupted = mark_interrupted(self.ctx, self.held.tenant_id, self.run_id)
        planned = await plan_and_store(
            self.ctx,
            self.scope,
            self.period,
            self.cw,
            self.run_id,
            only=self.only,
            provisional=self.provisional,
            keep_writes=True,
        )
        try:
            self._note_plan(planned)
            return await self._apply(planned, resumed, interrupted)
        finally:
            planned.writes.close()  # the writes put aside
            planned.held_writes.close()

    def _note_plan(self, planned: Planned) -> None:
        """The run's checksum and verdict, recorded before any write: if the push dies part way,
        the next push with the same approval finds this plan's writes (``approved_writes``)."""
        with self.ctx.db.session() as session:
            runs_repo.finish(
                session, self.run_id, {"checksum": planned.checksum, "verdict": planned.safety.verdict.value}
            )

    async def _apply(self, planned: Planned, resumed: Resumed, interrupted: list[int]) -> Outcome:
        """Check the approval and the verdict, then write."""
        extra: dict[str, Any] = {
            "resumed": ResumedView(
                found=resumed.found, not_applied=resumed.not_applied, updates_landed=resumed.updates_landed
            ),
            "interrupted": interrupted,
        }
        approval = None
        if self.checksum is not None:
            approval = self._approval(planned)
            if approval is None:
                refused = ChecksumMismatch(
                    f"the plan for {self.period} changed since it was reviewed (approved {self.checksum[:12]}, now "
                    f"{planned.checksum[:12]}); nothing was written",
                    hint=f"preview again (run {self.run_id} holds the new plan) and approve its checksum",
                    action="preview.again",
                    params={
                        "period": str(self.period),
                        "customers": ",".join(sorted(self.only or ())),
                        "run": str(self.run_id),
                    },
                )
                outcome = _outcome(self.run_id, RunKind.PUSH, RunStatus.REFUSED, planned, self.ctx, self.cw, **extra)
                self._finish(RunStatus.REFUSED, planned, outcome, error=refused)
                raise refused
        written = self._written(planned, approval)
        if written is Written.NOTHING:
            held = _outcome(
                self.run_id,
                RunKind.PUSH,
                RunStatus.HELD,
                planned,
                self.ctx,
                self.cw,
                written=written,
                approval=approval,
                **extra,
            )
            return self._finish(RunStatus.HELD, planned, held)
        held_back = set() if written is Written.ALL else set(planned.safety.held)
        self._adopt(planned, held_back)
        with planned.phases.timing("write"):
            parts = [planned.writes, planned.held_writes] if written is Written.ALL else [planned.writes]
            applied = await apply_writes(
                self.ctx,
                self.cw,
                self.held,
                self.run_id,
                self.period,
                (part for spill in parts for part in spill),
                sum(spill.count for spill in parts),
                resumed,
                self._progress,
                self.live,
            )
        record_periods(self.ctx, self.held, planned.settled, str(self.period))
        outcome = _outcome(
            self.run_id,
            RunKind.PUSH,
            RunStatus.DONE,
            planned,
            self.ctx,
            self.cw,
            applied,
            written,
            approval=approval,
            **extra,
        )
        if any(c.status is not CompanyStatus.OK for c in outcome.companies.values()):
            outcome.status = RunStatus.PARTIAL
        return self._finish(outcome.status, planned, outcome)

    def _progress(self, done: int, total: int) -> None:
        self.live.progress(done, total)
        if self.progress is not None:
            self.progress(done, total)

    def _finish(
        self, status: RunStatus, planned: Planned, outcome: Outcome, error: ServiceError | None = None
    ) -> Outcome:
        """Record the run (``error``: why it stopped, as the API would answer it)."""
        summary = outcome.summary() if error is None else {**outcome.summary(), "error": error.as_data()}
        finish_run(
            self.ctx,
            self.run_id,
            status=status,
            summary=summary,
            stats=self.cw.stats,
            checksum=planned.checksum,
            verdict=planned.safety.verdict.value,
        )
        return outcome

    def _written(self, planned: Planned, approval: str | None) -> Written:
        """What this push sends: nothing while a run-wide threshold holds the plan and nobody
        approved it, or while every write is a held company's and none is approved; every write
        when the held companies are approved (``approve_held`` with the checksum); else the
        writes of the companies within their thresholds."""
        if approval is not None and self.approve_held:
            return Written.ALL
        if approval is None and planned.safety.verdict is Verdict.HOLD:
            return Written.NOTHING
        if planned.held_writes.count and not planned.writes.count:
            return Written.NOTHING
        return Written.WITHIN

    def _approval(self, planned: Planned) -> str | None:
        """How the approval covers the plan now, or None when it does not: the same plan, or what
        is left of the approved plan (every write still to do is one of its writes, the held
        companies' too)."""
        assert self.checksum is not None
        if self.checksum == planned.checksum:
            return "the approved plan"
        approved = approved_writes(self.ctx, self.held.tenant_id, str(self.period), self.checksum)
        parts = [planned.writes, planned.held_writes]
        if approved and all(change.digest() in approved for spill in parts for part in spill for _, change in part):
            return f"the rest of the approved plan {self.checksum[:12]} (the other writes had landed)"
        return None

    def _adopt(self, planned: Planned, held_back: set[str]) -> None:
        """Additions picked by an addition rule or pin become the lines' own (after approval), but
        for the lines of companies held back."""
        with self.ctx.db.session() as session:
            self.held.check(self.ctx, session)
            tenant_id = self.held.tenant_id
            for addition_id, (line_key, agreement_id, written) in sorted(planned.adoptions.items()):
                if LineKey.customer_of(line_key) in held_back:
                    continue
                remember_id(session, self.ctx, tenant_id, line_key, agreement_id, addition_id, written, adopted=True)


def _settled_additions(built: Built) -> list[int]:
    """Additions already right for the period (noops on an addition): they hold it now too."""
    return [
        change.addition_id
        for change in built.plan.changes
        if change.kind is ChangeKind.NOOP and change.addition_id is not None and change.reason != "already cancelled"
    ]
