"""The console's charts: what was billed per month (the tenant's, and one customer's), and a
product's usage per month, for the last twelve months.

Billed amounts come from the pushes: per period, the newest push that finished (done or
partial) says what the invoices charge after it: its lines' amounts once applied, where a
write that failed leaves the old amount (a push that fully landed: its billed_after total).

Usage comes from the samples: per month, the sum over customers of each one's
highest sample of the product (what a max-basis product bills)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from meterbridge.domain.periods import Period
from meterbridge.services.context import Context
from meterbridge.services.customers import customer_row
from meterbridge.services.errors import NotFound
from meterbridge.services.results import amount_after
from meterbridge.services.scope import open_tenant
from meterbridge.services.views.console import MonthAmount, Trend
from meterbridge.store.models import PlanItem
from meterbridge.store.repos import catalog, runs
from meterbridge.store.repos import usage as samples_repo

FINISHED = ("done", "partial")


def _months(last: Period, count: int) -> list[Period]:
    months = [last]
    while len(months) < count:
        months.append(months[-1].previous())
    return list(reversed(months))


def billed_by_month(ctx: Context, tenant: str, *, months: int = 12, customer: str | None = None) -> Trend:
    scope = open_tenant(ctx, tenant)
    periods = _months(Period.containing(ctx.clock(), scope.zone), months)
    wanted = {str(p) for p in periods}
    amounts: dict[str, Decimal] = {}
    with ctx.db.session() as session:
        if customer is not None:
            customer_row(session, scope.id, customer)
        for run, summary in runs.newest_brief(session, scope.id, limit=500, kind="push"):
            if run.period not in wanted or run.period in amounts or run.status not in FINISHED:
                continue
            if customer is None and run.status == "done":
                amounts[run.period] = Decimal(str((summary.get("totals") or {}).get("billed_after", "0")))
                continue
            amounts[run.period] = sum(
                (_billed(item) for item in runs.items(session, run.id) if customer in (None, item.customer)),
                Decimal(0),
            )
    points = [MonthAmount(period=str(p), amount=amounts.get(str(p), Decimal(0))) for p in periods]
    name = f"Billed to {customer} per month" if customer else "Billed per month"
    return Trend(name=name, unit="$", points=points)


def _billed(item: PlanItem) -> Decimal:
    """What the line bills after the push: a write that did not land leaves the old amount."""
    old = Decimal(str(item.payload.get("old_amount", "0")))
    if item.status in ("failed", "skipped"):
        return old
    return amount_after(item.kind, old, Decimal(str(item.payload.get("new_amount", "0"))))


def usage_by_month(ctx: Context, tenant: str, product: str, *, months: int = 12) -> Trend:
    scope = open_tenant(ctx, tenant)
    periods = _months(Period.containing(ctx.clock(), scope.zone), months)
    highest: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
    with ctx.db.session() as session:
        row = catalog.product(session, scope.id, product)
        if row is None:
            raise NotFound(f"product {product!r} does not exist", field="product")
        unit, label = row.unit, row.name
        found = samples_repo.quantities(
            session, scope.id, row.id, periods[0].start(scope.zone), periods[-1].end(scope.zone)
        )
    starts = [(p.start(scope.zone), str(p)) for p in reversed(periods)]
    for measured_at, customer_id, quantity in found:
        month = next(name for start, name in starts if measured_at >= start)
        key = (month, customer_id)
        highest[key] = max(highest[key], quantity)
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for (month, _), quantity in highest.items():
        totals[month] += quantity
    points = [MonthAmount(period=str(p), amount=totals.get(str(p), Decimal(0))) for p in periods]
    return Trend(name=f"{label}: {unit} used per month", unit=unit, points=points)
