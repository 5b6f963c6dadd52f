"""Many tenants on one cwsim, each billing its own companies: for the worker tests and
bench/workers_bench.py. Tenant j's customer i is company ``T{j:02d}C{i:03d}`` with one "Backup
Services" agreement (same id), billed for storage at 0.10 a GB on a monthly schedule."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from meterbridge.domain.periods import Period
from meterbridge.services import (
    companies,
    configurations,
    connections,
    customers,
    prices,
    products,
    rules,
    schedules,
    tenants,
    usage,
)
from meterbridge.services.actors import Actor
from meterbridge.services.context import Context
from meterbridge.store.models import ScheduleRow

ACTOR = Actor.user("tests")
PRODUCT = "BACKUP-STORAGE-GB"
ZONE = ZoneInfo("UTC")


def tenant_key(j: int) -> str:
    return f"t{j:02d}"


def company_id(j: int, i: int, per_tenant: int) -> int:
    return j * per_tenant + i + 1


def identifier(j: int, i: int) -> str:
    return f"T{j:02d}C{i:03d}"


def gigabytes(j: int, i: int) -> Decimal:
    return Decimal(100 + 13 * j + 7 * i) + Decimal("0.25")


def scenario(tenant_count: int, per_tenant: int) -> dict[str, Any]:
    ids = [(j, i, company_id(j, i, per_tenant)) for j in range(tenant_count) for i in range(per_tenant)]
    return {
        "companies": [
            {"id": c, "identifier": identifier(j, i), "name": f"Company {identifier(j, i)}"} for j, i, c in ids
        ],
        "contacts": [{"id": c, "firstName": "Ann", "lastName": f"Lee {c}", "company": {"id": c}} for _, _, c in ids],
        "agreementTypes": [{"name": "Backup Services"}],
        "agreements": [
            {
                "id": c, "name": f"Backup - {c}", "type": {"name": "Backup Services"}, "company": {"id": c},
                "contact": {"id": c}, "startDate": "2025-01-01T00:00:00Z", "billStartDate": "2025-01-01T00:00:00Z",
            }
            for _, _, c in ids
        ],
        "catalog": [
            {
                "identifier": PRODUCT, "description": "Storage", "customerDescription": "Storage",
                "subcategory": {"name": "Backup"}, "type": {"name": "Service"}, "productClass": "Service", "price": 0.1,
            }
        ],
    }


def billing_month(now: datetime) -> Period:
    """The month a schedule due now bills: the one before the current month (UTC)."""
    return Period.containing(now, ZONE).previous()


def configure(ctx: Context, url: str, j: int, per_tenant: int, period: Period, *, concurrency: int = 8) -> None:
    """Tenant j, connected to cwsim at ``url``, with its customers, usage for ``period``, linked."""
    t = tenant_key(j)
    tenants.init_tenant(ctx, t, actor=ACTOR, time_zone="UTC")
    limits = {"rate_limit_per_minute": 1_000_000, "max_concurrency": concurrency}
    tenants.update_settings(ctx, t, limits, actor=ACTOR)
    connections.set_connection(
        ctx, t, site=url, company_id="sim", public_key="simpub", private_key="simpriv", client_id="tests", actor=ACTOR
    )
    asyncio.run(companies.import_companies(ctx, t, actor=ACTOR))
    products.save_product(
        ctx, t, "storage", name="Storage", kind="storage", unit="GB", basis="max", cw_product=PRODUCT, actor=ACTOR
    )
    prices.set_price(ctx, t, "storage", unit_price="0.10", unit_cost="0.04", actor=ACTOR)
    rules.save_rule(ctx, t, "default-agreement", 'type/name = "Backup Services"', actor=ACTOR)
    measured = usage.parse_time("at", f"{period.first_day.isoformat()}T12:00:00+00:00")
    samples = []
    for i in range(per_tenant):
        external = identifier(j, i)
        customers.add_customer(ctx, t, external, f"Company {external}", actor=ACTOR)
        options = {"products": ["storage"]}
        configurations.save_configuration(ctx, t, external, f"{external}-storage", options, actor=ACTOR)
        samples.append(usage.Sample(external, "storage", measured, gigabytes(j, i), "GB"))
    usage.store_samples(ctx, t, samples, source="tests", actor=ACTOR)
    companies.link_customers(ctx, t, actor=ACTOR)


def schedule_monthly(ctx: Context, j: int, now: datetime) -> None:
    """A schedule of tenant j due now: day 1 at 00:00, counting from two months back."""
    start = Period.containing(now, ZONE).previous().previous()
    options = {"kind": "monthly", "day": 1, "at": "00:00", "since": start.first_day.isoformat()}
    schedules.save_schedule(ctx, tenant_key(j), "monthly", options, actor=ACTOR)


def settled(ctx: Context) -> int:
    """How many schedules have settled an occurrence (one query: a poller that costs little)."""
    with ctx.db.session() as session:
        query = select(func.count()).select_from(ScheduleRow).where(ScheduleRow.last_slot.is_not(None))
        return session.scalar(query) or 0


def billing_problems(additions: list[dict[str, Any]], tenant_count: int, per_tenant: int) -> list[str]:
    """What is not billed exactly once as the rules say (empty: every customer's month is right)."""
    problems = []
    live = [a for a in additions if not a.get("cancelledDate")]
    counts = Counter((a["agreementId"], a["product"]["identifier"]) for a in live)
    for j in range(tenant_count):
        for i in range(per_tenant):
            agreement = company_id(j, i, per_tenant)
            found = [a for a in live if a["agreementId"] == agreement]
            if counts[(agreement, PRODUCT)] != 1:
                problems.append(f"{identifier(j, i)}: {counts[(agreement, PRODUCT)]} additions")
                continue
            [addition] = found
            want = gigabytes(j, i).quantize(Decimal("0.01"))
            if Decimal(str(addition["quantity"])) != want or Decimal(str(addition["unitPrice"])) != Decimal("0.1"):
                problems.append(f"{identifier(j, i)}: {addition['quantity']} x {addition['unitPrice']}")
    extra = len(live) - tenant_count * per_tenant
    if extra > 0:
        problems.append(f"{extra} additions more than customers")
    return problems
