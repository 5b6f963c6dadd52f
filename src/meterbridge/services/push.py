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
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import PrivateAttr

from meterbridge.connectwise.client import ConnectWiseClient
from meterbridge.connectwise.errors import ConnectWiseError
from meterbridge.domain.periods import Period
from meterbridge.domain.plan import ChangeKind
from meterbridge.domain.safety import Verdict
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
from meterbridge.services.journal import record_periods, remember, resume
from meterbridge.services.lease import Held, holding
from meterbridge.services.live import LiveRun
from meterbridge.services.planning import Built, build_plan
from meterbridge.services.results import Applied, company_results, totals
from meterbridge.services.runs import (
    approved_writes,
    error_summary,
    finish_run,
    mark_interrupted,
    start_run,
    store_plan,
)
from meterbridge.services.scope import TenantScope, open_tenant, parse_period
from meterbridge.services.views import ChangeView, CompanyStatus, ResumedView, RunKind, RunOutcome, RunStatus
from meterbridge.services.writes import apply_writes

Progress = Callable[[int, int], None]  # (done, total) writes
_CHECKSUM = re.compile(r"[0-9a-f]{64}")


class Outcome(RunOutcome):
    """A run's outcome (the view every front-end renders), with the plan it worked from."""

    _built: Built | None = PrivateAttr(default=None)

    @property
    def built(self) -> Built:
        assert self._built is not None
        return self._built

    def with_changes(self) -> Outcome:
        """The same outcome with every change of its plan (for a preview, a held push, the API)."""
        actions = self.built.actions
        copy = self.model_copy(
            update={"changes": [ChangeView.of(c, actions.get(c.key)) for c in self.built.plan.changes]}
        )
        copy._built = self._built
        return copy


def _outcome(
    run_id: int,
    kind: RunKind,
    status: RunStatus,
    built: Built,
    cw: ConnectWiseClient,
    applied: Applied | None = None,
    **extra: Any,
) -> Outcome:
    companies = company_results(built.plan, built.problems(), applied)
    outcome = Outcome.model_validate(
        {
            "run": run_id,
            "kind": kind,
            "period": str(built.plan.period),
            "calls": cw.stats.calls,
            "status": status,
            "checksum": built.plan.checksum,
            "verdict": built.safety.verdict.value,
            "safety_reasons": list(built.safety.reasons),
            "provisional": built.plan.provisional,
            "counts": built.plan.counts(),
            "totals": totals(built.plan, companies),
            "companies": companies,
            **extra,
        }
    )
    outcome._built = built
    return outcome


def _store(ctx: Context, run_id: int, built: Built) -> None:
    """The run's plan items (on a thread: a large plan's insert does not hold up the event loop)."""
    with built.phases.timing("store"), ctx.db.session() as session:
        store_plan(session, run_id, built.plan, built.actions)


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
            built = await build_plan(scope, period, cw, only=only, provisional=provisional)
        except ConnectWiseError as error:
            failure = ConnectWiseFailed(f"the preview could not read ConnectWise: {error}")
            finish_run(ctx, run_id, status=RunStatus.FAILED, summary=error_summary(failure), stats=cw.stats)
            raise failure from None
        except BaseException as error:
            finish_run(ctx, run_id, status=RunStatus.FAILED, summary=error_summary(error))
            raise
        outcome = _outcome(run_id, RunKind.PREVIEW, RunStatus.PREVIEWED, built, cw)
        await asyncio.to_thread(_store, ctx, run_id, built)
        finish_run(
            ctx,
            run_id,
            status=RunStatus.PREVIEWED,
            summary=outcome.summary(),
            stats=cw.stats,
            checksum=built.plan.checksum,
            verdict=built.safety.verdict.value,
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
) -> Outcome:
    """``live``: follow the push while it runs (its run id as soon as it has one, writes done,
    lines landed and failed); ``progress``: called with (done, total) writes."""
    if checksum is not None and force:
        raise InvalidInput(
            "force: push either the reviewed plan (its checksum) or what is planned now (force), not both",
            field="force",
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
        approval = {"checksum": checksum} if checksum else {"forced": True}
        scoped = {"customers": sorted(only)} if only else {}
        run_id = start_run(ctx, scope.id, str(period), RunKind.PUSH, actor=actor, detail={**approval, **scoped})
        if live is not None:
            live.start(run_id)
        async with ctx.client(connection) as cw:
            run = PushRun(scope, period, provisional, cw, held, run_id, checksum, only, progress, live or LiveRun())
            try:
                return await run.go()
            except (ConnectWiseError, LeaseLost) as error:
                stopped = error if isinstance(error, LeaseLost) else ConnectWiseFailed(f"the push stopped: {error}")
                finish_run(ctx, run_id, status=RunStatus.FAILED, summary=error_summary(stopped), stats=cw.stats)
                if isinstance(error, LeaseLost):
                    raise
                raise stopped from None
            except BaseException as error:
                if not isinstance(error, ServiceError):
                    finish_run(ctx, run_id, status=RunStatus.FAILED, summary=error_summary(error))
                raise
            finally:  # the emails and webhooks about it are sent apart from it
                notify.queue_run_quietly(ctx, scope.id, run_id)


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

    @property
    def ctx(self) -> Context:
        return self.scope.ctx

    async def go(self) -> Outcome:
        resumed = await resume(self.ctx, self.cw, self.held, self.scope.settings.resume_skew_seconds)
        interrupted = mark_interrupted(self.ctx, self.held.tenant_id, self.run_id)
        built = await build_plan(self.scope, self.period, self.cw, only=self.only, provisional=self.provisional)
        await asyncio.to_thread(_store, self.ctx, self.run_id, built)
        extra: dict[str, Any] = {
            "resumed": ResumedView(
                found=resumed.found, not_applied=resumed.not_applied, updates_landed=resumed.updates_landed
            ),
            "interrupted": interrupted,
        }
        approval = None
        if self.checksum is not None:
            approval = self._approval(built)
            if approval is None:
                refused = ChecksumMismatch(
                    f"the plan for {self.period} changed since it was reviewed (approved {self.checksum[:12]}, now "
                    f"{built.plan.checksum[:12]}); nothing was written",
                    hint=f"preview again (run {self.run_id} holds the new plan) and approve its checksum",
                    action="preview.again",
                    params={
                        "period": str(self.period),
                        "customers": ",".join(sorted(self.only or ())),
                        "run": str(self.run_id),
                    },
                )
                outcome = _outcome(self.run_id, RunKind.PUSH, RunStatus.REFUSED, built, self.cw, **extra)
                self._finish(RunStatus.REFUSED, built, outcome, error=refused)
                raise refused
        if built.safety.verdict is Verdict.HOLD and approval is None:
            held = _outcome(self.run_id, RunKind.PUSH, RunStatus.HELD, built, self.cw, **extra)
            return self._finish(RunStatus.HELD, built, held)
        self._adopt(built)
        with built.phases.timing("write"):
            applied = await apply_writes(
                self.ctx, self.cw, self.held, self.run_id, built, resumed, self._progress, self.live
            )
        record_periods(self.ctx, self.held, _settled_additions(built), str(self.period))
        outcome = _outcome(
            self.run_id, RunKind.PUSH, RunStatus.DONE, built, self.cw, applied, approval=approval, **extra
        )
        if any(c.status is not CompanyStatus.OK for c in outcome.companies.values()):
            outcome.status = RunStatus.PARTIAL
        return self._finish(outcome.status, built, outcome)

    def _progress(self, done: int, total: int) -> None:
        self.live.progress(done, total)
        if self.progress is not None:
            self.progress(done, total)

    def _finish(self, status: RunStatus, built: Built, outcome: Outcome, error: ServiceError | None = None) -> Outcome:
        """Record the run (``error``: why it stopped, as the API would answer it)."""
        summary = outcome.summary() if error is None else {**outcome.summary(), "error": error.as_data()}
        finish_run(
            self.ctx,
            self.run_id,
            status=status,
            summary=summary,
            stats=self.cw.stats,
            checksum=built.plan.checksum,
            verdict=built.safety.verdict.value,
        )
        return outcome

    def _approval(self, built: Built) -> str | None:
        """How the approval covers the plan now, or None when it does not: the same plan, or what
        is left of the approved plan (every write still to do is one of its writes)."""
        assert self.checksum is not None
        if self.checksum == built.plan.checksum:
            return "the approved plan"
        approved = approved_writes(self.ctx, self.held.tenant_id, str(self.period), self.checksum)
        if approved and all(change.digest() in approved for change in built.plan.writes):
            return f"the rest of the approved plan {self.checksum[:12]} (the other writes had landed)"
        return None

    def _adopt(self, built: Built) -> None:
        """Additions picked by an addition rule or pin become the lines' own (after approval)."""
        with self.ctx.db.session() as session:
            self.held.check(self.ctx, session)
            for addition_id, line_key in sorted(built.adoptions.items()):
                agreement_id, addition = built.addition(addition_id)
                remember(session, self.ctx, self.held.tenant_id, line_key, agreement_id, addition, adopted=True)


def _settled_additions(built: Built) -> list[int]:
    """Additions already right for the period (noops on an addition): they hold it now too."""
    return [
        change.addition_id
        for change in built.plan.changes
        if change.kind is ChangeKind.NOOP and change.addition_id is not None and change.reason != "already cancelled"
    ]
