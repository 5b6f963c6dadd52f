"""A run's plan by company, for people reviewing it: each company's status, reasons and what its
invoice charges before and after, filtered and a page at a time, the page's companies with
their lines (and every number's explanation)."""

from __future__ import annotations

from decimal import Decimal

from meterbridge.services.context import Context
from meterbridge.services.errors import InvalidInput, NotFound
from meterbridge.services.results import amount_after
from meterbridge.services.runs import plan_item_view, run_view, settled_if_running
from meterbridge.services.scope import tenant_row
from meterbridge.services.views import CompanyResult, CompanyStatus, RunKind
from meterbridge.services.views.console import CompanyBill, PlanReview
from meterbridge.store.models import PlanItem
from meterbridge.store.repos import customers, runs

#: What the review can be filtered to: a company status, or the companies with writes or drift.
SHOWS = ("all", "writes", "held", "blocked", "failed", "drift", "ok")


def _after(item: PlanItem, held_back: bool) -> Decimal:
    """What the item's addition invoices after the run (``held_back``: a push held its company: nothing written)."""
    old = Decimal(str(item.payload.get("old_amount", "0")))
    if held_back or item.status in ("failed", "skipped"):
        return old
    return amount_after(item.kind, old, Decimal(str(item.payload.get("new_amount", "0"))))


def _status(result: CompanyResult | None, items: list[PlanItem]) -> CompanyStatus:
    if result is not None:
        return result.status
    return CompanyStatus.BLOCKED if any(i.kind == "blocked" for i in items) else CompanyStatus.OK


def _shown(bill: CompanyBill, show: str, search: str) -> bool:
    if search and search not in bill.customer.casefold() and search not in bill.name.casefold():
        return False
    if show == "writes":
        return bill.writes > 0
    if show == "failed":
        return bill.status in (CompanyStatus.FAILED, CompanyStatus.PARTIAL, CompanyStatus.MISMATCH)
    if show == "drift":
        return bill.drift > 0
    if show in ("blocked", "ok", "held"):
        return bill.status.value == show
    return True


def review(
    ctx: Context,
    tenant: str,
    run_id: int,
    *,
    show: str = "all",
    search: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> PlanReview:
    if show not in SHOWS:
        raise InvalidInput(f"show: {show!r} is not one of {', '.join(SHOWS)}", field="show")
    if not 1 <= limit <= 500 or offset < 0:
        raise InvalidInput("limit: 1 to 500 companies a page, from an offset of 0 or more", field="limit")
    settled_if_running(ctx, tenant, run_id)  # a run whose process is gone is reviewed as interrupted
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        run = runs.get(session, row.id, run_id)
        if run is None:
            raise NotFound(f"run {run_id} does not exist", hint="list the runs to see them", field="run")
        names = {c.external_id: c.name for c in customers.all_of(session, row.id)}
        grouped: dict[str, list[PlanItem]] = {}
        for item in runs.items(session, run_id):
            grouped.setdefault(item.customer, []).append(item)
        head = run_view(run)
    results = {
        customer: CompanyResult.model_validate(data) for customer, data in (head.summary.get("companies") or {}).items()
    }
    bills: list[tuple[CompanyBill, list[PlanItem]]] = []
    for customer in sorted({*grouped, *results}):
        items = grouped.get(customer, [])
        result = results.get(customer)
        status = _status(result, items)
        held_back = status is CompanyStatus.HELD and head.kind is RunKind.PUSH
        before = sum((Decimal(str(i.payload.get("old_amount", "0"))) for i in items), Decimal(0))
        after = sum((_after(i, held_back) for i in items), Decimal(0))
        bill = CompanyBill(
            customer=customer,
            name=names.get(customer, customer),
            status=status,
            reasons=list(result.reasons) if result else [],
            checksum=result.checksum if result else None,
            writes=sum(1 for i in items if i.kind in runs.WRITE_KINDS),
            drift=sum(1 for i in items if i.payload.get("drift")),
            billed_before=before,
            billed_after=after,
            billed_change=after - before,
        )
        bills.append((bill, items))
    by_status: dict[str, int] = {}
    for bill, _ in bills:
        by_status[bill.status.value] = by_status.get(bill.status.value, 0) + 1
    wanted = (search or "").strip().casefold()
    matching = [(bill, items) for bill, items in bills if _shown(bill, show, wanted)]
    page = matching[offset : offset + limit]
    for bill, items in page:
        bill.lines = [plan_item_view(i) for i in items]
    return PlanReview(
        run=head,
        companies=[bill for bill, _ in page],
        matching=len(matching),
        offset=offset,
        limit=limit,
        by_status=dict(sorted(by_status.items())),
    )
