"""Preview and push a period: the spine of DESIGN.md's data flow, with the double-billing guarantees.

``preview`` reads ConnectWise, plans, judges safety and stores the plan with its checksum.
``push`` takes the tenant's lease, settles unfinished journal entries, plans again (the plan a
person approved must be the plan applied: its checksum is compared), holds a plan the safety
thresholds reject unless it was approved by checksum, then applies the writes company by
company (companies concurrently, each company's writes in order), each through the journal.
A failed company never stops the others; its reason is kept per company.
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
from meterbridge.services.journal import Resumed, mark_item, remember, resume, write_intent, write_result
from meterbridge.services.lease import Held, acquire
from meterbridge.services.planning import Built, build_plan
from meterbridge.services.records import plain
from meterbridge.services.runs import finish_run, start_run, store_plan
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

    def summary(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "checksum": self.checksum,
            "verdict": self.verdict,
            "safety_reasons": self.safety_reasons,
            "counts": self.counts,
            "companies": self.companies,
            "resumed": self.resumed,
        }

    def as_dict(self) -> dict[str, Any]:
        return {"run": self.run_id, "kind": self.kind, "period": self.period, "calls": self.calls, **self.summary()}


def _companies(built: Built, statuses: dict[str, list[str]] | None = None) -> dict[str, dict[str, Any]]:
    """Per customer: blocked reasons, failures and how many writes it has (or had)."""
    companies: dict[str, dict[str, Any]] = {}
    for change in built.plan.changes:
        entry = companies.setdefault(change.customer, {"status": "ok", "writes": 0, "reasons": []})
        if change.kind is ChangeKind.BLOCKED:
            entry["status"] = "blocked"
            entry["reasons"].append(f"{change.cw_product}: {change.reason}")
        elif change.kind is not ChangeKind.NOOP:
            entry["writes"] += 1
    for customer, reasons in built.problems().items():
        entry = companies.setdefault(customer, {"status": "ok", "writes": 0, "reasons": []})
        entry["status"] = "blocked"
        entry["reasons"].extend(r for r in reasons if r not in entry["reasons"])
    for customer, failures in (statuses or {}).items():
        entry = companies.setdefault(customer, {"status": "ok", "writes": 0, "reasons": []})
        entry["status"] = "failed"
        entry["reasons"].extend(failures)
    return dict(sorted(companies.items()))


def _outcome(run_id: int, kind: str, status: str, built: Built, cw: ConnectWiseClient, **extra: Any) -> Outcome:
    return Outcome(
        run_id=run_id,
        kind=kind,
        period=str(built.plan.period),
        status=status,
        checksum=built.plan.checksum,
        verdict=built.safety.verdict.value,
        safety_reasons=list(built.safety.reasons),
        counts=built.plan.counts(),
        calls=sum(s.calls for s in cw.stats.endpoints.values()),
        built=built,
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
    period = parse_period(period_text)
    tenant_id, _settings, connection = prepare(ctx, tenant)
    run_id = start_run(ctx, tenant_id, str(period), "preview", trigger=trigger, started_by=started_by)
    async with ctx.client(connection) as cw:
        try:
            built = await build_plan(ctx, tenant, period, cw, only=only)
        except ConnectWiseError as error:
            finish_run(ctx, run_id, status="failed", summary={"error": str(error)}, stats=cw.stats)
            raise ServiceError(f"the preview could not read ConnectWise: {error}") from None
        outcome = _outcome(run_id, "preview", "previewed", built, cw, companies=_companies(built))
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
    period = parse_period(period_text)
    tenant_id, settings, connection = prepare(ctx, tenant)
    held = await acquire(ctx, tenant_id, seconds=settings.lease_seconds, wait_seconds=wait_seconds)
    renewer = asyncio.create_task(_keep_renewed(ctx, held))
    run_id = start_run(ctx, tenant_id, str(period), "push", trigger=trigger, started_by=started_by)
    try:
        async with ctx.client(connection) as cw:
            try:
                return await _push(ctx, tenant, period, cw, held, run_id, settings, checksum, only, progress)
            except (ConnectWiseError, LeaseLost) as error:
                finish_run(ctx, run_id, status="failed", summary={"error": str(error)}, stats=cw.stats)
                if isinstance(error, LeaseLost):
                    raise
                raise ServiceError(f"the push stopped: {error}") from None
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
) -> Outcome:
    resumed = await resume(ctx, cw, held, settings.resume_skew_seconds)
    built = await build_plan(ctx, tenant, period, cw, only=only)
    with ctx.db.session() as session:
        store_plan(session, run_id, built.plan)
    resumed_counts = {
        "found": resumed.found,
        "not_applied": resumed.not_applied,
        "updates_landed": resumed.updates_landed,
    }

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

    if checksum is not None and checksum != built.plan.checksum:
        finish("refused", _outcome(run_id, "push", "refused", built, cw, companies=_companies(built)))
        raise ChecksumMismatch(
            f"the plan for {period} changed since it was reviewed (approved {checksum[:12]}, now "
            f"{built.plan.checksum[:12]}); nothing was written: preview again (run {run_id} holds the new plan) "
            "and approve its checksum"
        )
    if built.safety.verdict is Verdict.HOLD and checksum is None:
        outcome = _outcome(run_id, "push", "held", built, cw, companies=_companies(built), resumed=resumed_counts)
        return finish("held", outcome)

    with ctx.db.session() as session:
        held.check(ctx, session)
        for addition_id, line_key in sorted(built.adoptions.items()):
            addition = _find_addition(built, addition_id)
            remember(session, ctx, held.tenant_id, line_key, addition.agreement_id or 0, addition, adopted=True)

    failures = await _apply(ctx, cw, held, run_id, built, resumed, progress)
    companies = _companies(built, failures)
    status = "done" if all(c["status"] == "ok" for c in companies.values()) else "partial"
    return finish(status, _outcome(run_id, "push", status, built, cw, companies=companies, resumed=resumed_counts))


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
            }
        )
    fields = {f.field: f.new for f in change.fields}
    if change.kind is ChangeKind.CANCEL:
        fields = {"cancelledDate": period.last_day}
    return change.kind.value, plain(
        {"agreementId": change.agreement_id, "additionId": change.addition_id, "fields": fields}
    )


def _create_body(change: Change) -> dict[str, Any]:
    body = {k: v for k, v in change.values.items() if k != "product"}
    body["product"] = {"identifier": change.cw_product}
    return body


async def _write(cw: ConnectWiseClient, change: Change, period: Period) -> Addition:
    assert change.agreement_id is not None
    if change.kind is ChangeKind.CREATE:
        return await cw.create_addition(change.agreement_id, _create_body(change))
    assert change.addition_id is not None
    fields: dict[str, Any] = {f.field: f.new for f in change.fields}
    if change.kind is ChangeKind.CANCEL:
        fields = {"cancelledDate": period.last_day}
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
) -> dict[str, list[str]]:
    period = built.plan.period
    per_customer: dict[str, list[tuple[int, Change]]] = defaultdict(list)
    for position, change in enumerate(built.plan.changes):
        if change.kind in (ChangeKind.CREATE, ChangeKind.UPDATE, ChangeKind.CANCEL):
            per_customer[change.customer].append((position, change))
    total = sum(len(v) for v in per_customer.values())
    done = 0
    failures: dict[str, list[str]] = {}

    async def one_customer(customer: str, changes: list[tuple[int, Change]]) -> None:
        nonlocal done
        if customer in resumed.unverifiable:
            failures[customer] = [resumed.unverifiable[customer]]
            for position, _ in changes:
                _mark(ctx, run_id, position, "skipped", resumed.unverifiable[customer])
            done += len(changes)
            return
        for position, change in changes:
            action, intent = _intent(change, period)
            entry = write_intent(ctx, held, run_id, position, change.key, action, intent)
            try:
                addition = await _write(cw, change, period)
            except ConnectWiseError as error:
                reason = f"{change.cw_product} ({change.kind.value}): {error}"
                failures.setdefault(customer, []).append(reason)
                maybe = isinstance(error, TemporaryError) and error.maybe_applied
                if maybe:  # the intent stays open: the next push verifies it
                    _mark(ctx, run_id, position, "failed", str(error))
                else:
                    write_result(ctx, held, entry, {"outcome": "failed", "error": str(error)}, item_status="failed")
            else:
                write_result(
                    ctx,
                    held,
                    entry,
                    {"outcome": "done", "addition_id": addition.id},
                    addition=addition,
                    line_key=change.key,
                    agreement_id=change.agreement_id,
                    item_status="done",
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
    return failures
