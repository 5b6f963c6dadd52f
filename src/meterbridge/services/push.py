"""Preview and push a period: the spine of DESIGN.md's data flow, with the double-billing guarantees.

``preview`` reads ConnectWise, plans, judges safety and stores the plan with its checksum.
``push`` takes the tenant's lease, marks pushes a dead process left "running" as interrupted,
settles unfinished journal entries, plans again (the plan a person approved must be the plan
applied: its checksum is compared, and a plan whose writes are what is left of an approved
plan after an interruption keeps the approval), holds a plan the safety thresholds reject
unless it was approved by checksum, then applies the writes company by company (companies
concurrently, each company's writes in order), each through the journal. A failed company
never stops the others; per company the result says which lines landed and which did not.
Every line the push leaves right records the period it now holds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from meterbridge.connectwise.client import ConnectWiseClient
from meterbridge.connectwise.errors import ConnectWiseError, TemporaryError
from meterbridge.connectwise.models import Addition
from meterbridge.domain.errors import PeriodError
from meterbridge.domain.periods import Period
from meterbridge.domain.plan import Change, ChangeKind
from meterbridge.domain.safety import Verdict
from meterbridge.services.connections import connection_settings
from meterbridge.services.context import Context
from meterbridge.services.errors import ApprovalNeeded, ChecksumMismatch, InvalidInput, LeaseLost, ServiceError
from meterbridge.services.journal import (
    Resumed,
    mark_item,
    record_periods,
    remember,
    resume,
    write_intent,
    write_result,
)
from meterbridge.services.lease import Held, acquire
from meterbridge.services.planning import Built, billing_period, build_plan
from meterbridge.services.records import plain
from meterbridge.services.results import Applied, company_results, totals
from meterbridge.services.runs import (
    approved_writes,
    finish_run,
    mark_interrupted,
    start_run,
    store_plan,
)
from meterbridge.services.tenants import TenantSettings, settings_of, tenant_row

Progress = Callable[[int, int], None]  # (done, total) writes


def parse_period(text: str) -> Period:
    try:
        return Period.parse(text)
    except PeriodError as error:
        raise InvalidInput(f"period: {error}") from None


@dataclass
class Outcome:
    """What a preview or push did, per company, with the plan it worked from."""

    run_id: int
    kind: str
    period: str
    status: str  # previewed, done, partial, held, refused, failed
    checksum: str
    verdict: str
    safety_reasons: list[str]
    counts: dict[str, int]
    companies: dict[str, dict[str, Any]] = field(default_factory=dict)
    resumed: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    built: Built | None = None
    provisional: bool = False  # the period is still open: a provisional bill of the usage so far
    totals: dict[str, Any] = field(default_factory=dict)
    approval: str | None = None  # how a push's approval was recognised
    interrupted: list[int] = field(default_factory=list)  # earlier runs found dead and marked interrupted

    def summary(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "checksum": self.checksum,
            "verdict": self.verdict,
            "safety_reasons": self.safety_reasons,
            "provisional": self.provisional,
            "counts": self.counts,
            "totals": plain(self.totals),
            "companies": self.companies,
            "resumed": self.resumed,
            "approval": self.approval,
            "interrupted": self.interrupted,
        }

    def as_dict(self) -> dict[str, Any]:
        return {"run": self.run_id, "kind": self.kind, "period": self.period, "calls": self.calls, **self.summary()}


def _outcome(
    run_id: int,
    kind: str,
    status: str,
    built: Built,
    cw: ConnectWiseClient,
    applied: Applied | None = None,
    **extra: Any,
) -> Outcome:
    companies = company_results(built.plan, built.problems(), applied)
    return Outcome(
        run_id=run_id,
        kind=kind,
        period=str(built.plan.period),
        status=status,
        checksum=built.plan.checksum,
        verdict=built.safety.verdict.value,
        safety_reasons=list(built.safety.reasons),
        counts=built.plan.counts(),
        companies=companies,
        calls=sum(s.calls for s in cw.stats.endpoints.values()),
        built=built,
        provisional=built.plan.provisional,
        totals=totals(built.plan, companies),
        **extra,
    )


def prepare(ctx: Context, tenant: str) -> tuple[int, TenantSettings, Any]:
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        settings = settings_of(row)
        return row.id, settings, connection_settings(ctx, session, row.id, **settings.client_limits())


async def preview(
    ctx: Context,
    tenant: str,
    period_text: str,
    *,
    started_by: str = "cli",
    trigger: str = "manual",
    only: frozenset[str] | None = None,
) -> Outcome:
    period, provisional = billing_period(ctx, tenant, period_text)
    tenant_id, _settings, connection = prepare(ctx, tenant)
    run_id = start_run(ctx, tenant_id, str(period), "preview", trigger=trigger, started_by=started_by)
    async with ctx.client(connection) as cw:
        try:
            built = await build_plan(ctx, tenant, period, cw, only=only, provisional=provisional)
        except ConnectWiseError as error:
            finish_run(ctx, run_id, status="failed", summary={"error": str(error)}, stats=cw.stats)
            raise ServiceError(f"the preview could not read ConnectWise: {error}") from None
        except BaseException as error:
            finish_run(ctx, run_id, status="failed", summary={"error": str(error) or type(error).__name__})
            raise
        outcome = _outcome(run_id, "preview", "previewed", built, cw)
        with ctx.db.session() as session:
            store_plan(session, run_id, built.plan)
        finish_run(
            ctx,
            run_id,
            status="previewed",
            summary=outcome.summary(),
            stats=cw.stats,
            checksum=built.plan.checksum,
            verdict=built.safety.verdict.value,
        )
    return outcome


async def _keep_renewed(ctx: Context, held: Held) -> None:
    while True:
        await asyncio.sleep(held.seconds / 3)
        held.renew(ctx)


async def push(
    ctx: Context,
    tenant: str,
    period_text: str,
    *,
    checksum: str | None = None,
    force: bool = False,
    wait_seconds: float = 0.0,
    started_by: str = "cli",
    trigger: str = "manual",
    only: frozenset[str] | None = None,
    progress: Progress | None = None,
) -> Outcome:
    if checksum is None and not force:
        raise ApprovalNeeded(
            "a push applies a reviewed plan: run `meterbridge preview --period "
            f"{period_text}` and pass its checksum with --checksum, or push what is planned now with --force"
        )
    period, provisional = billing_period(ctx, tenant, period_text)
    tenant_id, settings, connection = prepare(ctx, tenant)
    held = await acquire(ctx, tenant_id, seconds=settings.lease_seconds, wait_seconds=wait_seconds)
    renewer = asyncio.create_task(_keep_renewed(ctx, held))
    run_id = start_run(ctx, tenant_id, str(period), "push", trigger=trigger, started_by=started_by)
    try:
        async with ctx.client(connection) as cw:
            try:
                return await _push(
                    ctx, tenant, period, cw, held, run_id, settings, checksum, only, progress, provisional
                )
            except (ConnectWiseError, LeaseLost) as error:
                finish_run(ctx, run_id, status="failed", summary={"error": str(error)}, stats=cw.stats)
                if isinstance(error, LeaseLost):
                    raise
                raise ServiceError(f"the push stopped: {error}") from None
            except BaseException as error:
                if not isinstance(error, ServiceError):
                    finish_run(ctx, run_id, status="failed", summary={"error": str(error) or type(error).__name__})
                raise
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
        held.release(ctx)


async def _push(
    ctx: Context,
    tenant: str,
    period: Period,
    cw: ConnectWiseClient,
    held: Held,
    run_id: int,
    settings: TenantSettings,
    checksum: str | None,
    only: frozenset[str] | None,
    progress: Progress | None,
    provisional: bool,
) -> Outcome:
    resumed = await resume(ctx, cw, held, settings.resume_skew_seconds)
    interrupted = mark_interrupted(ctx, held.tenant_id, run_id)
    built = await build_plan(ctx, tenant, period, cw, only=only, provisional=provisional)
    with ctx.db.session() as session:
        store_plan(session, run_id, built.plan)
    resumed_counts = {
        "found": resumed.found,
        "not_applied": resumed.not_applied,
        "updates_landed": resumed.updates_landed,
    }
    extra: dict[str, Any] = {"resumed": resumed_counts, "interrupted": interrupted}

    def finish(status: str, outcome: Outcome) -> Outcome:
        finish_run(
            ctx,
            run_id,
            status=status,
            summary=outcome.summary(),
            stats=cw.stats,
            checksum=built.plan.checksum,
            verdict=built.safety.verdict.value,
        )
        return outcome

    approval = None
    if checksum is not None:
        approval = _approval(ctx, held.tenant_id, period, checksum, built)
        if approval is None:
            finish("refused", _outcome(run_id, "push", "refused", built, cw, **extra))
            raise ChecksumMismatch(
                f"the plan for {period} changed since it was reviewed (approved {checksum[:12]}, now "
                f"{built.plan.checksum[:12]}); nothing was written: preview again (run {run_id} holds the new plan) "
                "and approve its checksum"
            )
    if built.safety.verdict is Verdict.HOLD and approval is None:
        return finish("held", _outcome(run_id, "push", "held", built, cw, **extra))

    with ctx.db.session() as session:
        held.check(ctx, session)
        for addition_id, line_key in sorted(built.adoptions.items()):
            addition = _find_addition(built, addition_id)
            remember(session, ctx, held.tenant_id, line_key, addition.agreement_id or 0, addition, adopted=True)

    applied = await _apply(ctx, cw, held, run_id, built, resumed, progress)
    record_periods(ctx, held, _settled_lines(built), str(period))
    outcome = _outcome(run_id, "push", "done", built, cw, applied, approval=approval, **extra)
    outcome.status = "done" if all(c["status"] == "ok" for c in outcome.companies.values()) else "partial"
    return finish(outcome.status, outcome)


def _approval(ctx: Context, tenant_id: int, period: Period, checksum: str, built: Built) -> str | None:
    """How the approval ``checksum`` covers the plan now, or None when it does not: the same plan,
    or what is left of the approved plan (every write still to do is one of its writes)."""
    if checksum == built.plan.checksum:
        return "the approved plan"
    approved = approved_writes(ctx, tenant_id, str(period), checksum)
    if approved and all(change.digest() in approved for change in built.plan.writes):
        return f"the rest of the approved plan {checksum[:12]} (the other writes had landed)"
    return None


def _settled_lines(built: Built) -> list[int]:
    """Additions already right for the period (noops on an addition): they hold it now too."""
    return [
        change.addition_id
        for change in built.plan.changes
        if change.kind is ChangeKind.NOOP and change.addition_id is not None and change.reason != "already cancelled"
    ]


def _find_addition(built: Built, addition_id: int) -> Addition:
    for additions in built.additions.values():
        for addition in additions:
            if addition.id == addition_id:
                return addition
    raise KeyError(addition_id)


def _intent(change: Change, period: Period) -> tuple[str, dict[str, Any]]:
    if change.kind is ChangeKind.CREATE:
        values = dict(change.values)
        return "create", plain(
            {
                **values,
                "agreementId": change.agreement_id,
                "product": change.cw_product,
                "effectiveDate": values["effectiveDate"],
                "period": str(period),
            }
        )
    fields = {f.field: f.new for f in change.fields}
    return change.kind.value, plain(
        {"agreementId": change.agreement_id, "additionId": change.addition_id, "fields": fields, "period": str(period)}
    )


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


def _mark(ctx: Context, run_id: int, position: int, status: str, error: str | None = None) -> None:
    """A plan item's status when no journal result carries it (skipped, or a write that may have landed)."""
    with ctx.db.session() as session:
        mark_item(session, run_id, position, status, error)


async def _apply(
    ctx: Context,
    cw: ConnectWiseClient,
    held: Held,
    run_id: int,
    built: Built,
    resumed: Resumed,
    progress: Progress | None,
) -> Applied:
    period = built.plan.period
    per_customer: dict[str, list[tuple[int, Change]]] = defaultdict(list)
    for position, change in enumerate(built.plan.changes):
        if change.is_write:
            per_customer[change.customer].append((position, change))
    total = sum(len(v) for v in per_customer.values())
    done = 0
    applied = Applied()

    async def one_customer(customer: str, changes: list[tuple[int, Change]]) -> None:
        nonlocal done
        if customer in resumed.unverifiable:
            for position, change in changes:
                applied.fail(customer, change.key, resumed.unverifiable[customer])
                _mark(ctx, run_id, position, "skipped", resumed.unverifiable[customer])
            done += len(changes)
            return
        for position, change in changes:
            action, intent = _intent(change, period)
            entry = write_intent(ctx, held, run_id, position, change.key, action, intent)
            try:
                addition = await _write(cw, change)
            except ConnectWiseError as error:
                applied.fail(customer, change.key, f"{change.cw_product} ({change.kind.value}): {error}")
                maybe = isinstance(error, TemporaryError) and error.maybe_applied
                if maybe:  # the intent stays open: the next push verifies it
                    _mark(ctx, run_id, position, "failed", str(error))
                else:
                    write_result(ctx, held, entry, {"outcome": "failed", "error": str(error)}, item_status="failed")
            else:
                applied.land(customer, change.key)
                write_result(
                    ctx,
                    held,
                    entry,
                    {"outcome": "done", "addition_id": addition.id},
                    addition=addition,
                    line_key=change.key,
                    agreement_id=change.agreement_id,
                    item_status="done",
                    period=str(period) if change.kind is not ChangeKind.CANCEL else None,
                )
            done += 1
            if progress is not None:
                progress(done, total)

    try:
        async with asyncio.TaskGroup() as group:  # a lost lease cancels every company's task
            for customer, changes in sorted(per_customer.items()):
                group.create_task(one_customer(customer, changes))
    except BaseExceptionGroup as errors:
        raise errors.exceptions[0] from None
    return applied
