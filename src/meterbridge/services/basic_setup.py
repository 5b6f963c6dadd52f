"""The basic setup: Backup Stats configurations per company (billable space GB, year, month).

For each linked customer with a Managed ID whose push is enabled, the company's configuration of type "Backup Stats"
whose deviceIdentifier is the Managed ID is updated (only the fields that differ) or created.
The billable space is the customer's storage products' usage for the period, in GB. Like a
push it holds the tenant's lease; a failed company never stops the others.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from meterbridge.connectwise.client import ConnectWiseClient
from meterbridge.connectwise.conditions import F, all_of
from meterbridge.connectwise.errors import ConnectWiseError
from meterbridge.connectwise.models import Configuration
from meterbridge.domain.billing import ProductKind
from meterbridge.domain.money import round_quantity
from meterbridge.domain.units import Unit, convert
from meterbridge.services.context import Context
from meterbridge.services.desired import load_inputs
from meterbridge.services.lease import acquire
from meterbridge.services.push import parse_period, prepare
from meterbridge.services.runs import finish_run, start_run

BACKUP_STATS = "Backup Stats"


@dataclass
class StatsOutcome:
    run_id: int
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run": self.run_id,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "failed": self.failed,
        }


async def publish_backup_stats(
    ctx: Context, tenant: str, period_text: str, *, wait_seconds: float = 0.0, started_by: str = "cli"
) -> StatsOutcome:
    period = parse_period(period_text)
    tenant_id, settings, connection = prepare(ctx, tenant)
    with ctx.db.session() as session:
        inputs = load_inputs(session, tenant, period)
    held = await acquire(ctx, tenant_id, seconds=settings.lease_seconds, wait_seconds=wait_seconds)
    run_id = start_run(ctx, tenant_id, str(period), "stats", trigger="manual", started_by=started_by)
    outcome = StatsOutcome(run_id)
    try:
        async with ctx.client(connection) as cw:
            todo = []
            for customer in sorted(inputs.customers.values(), key=lambda c: c.external_id):
                if not customer.managed_id:
                    continue
                if not customer.push_enabled:
                    outcome.skipped[customer.external_id] = "push is disabled for this customer: nothing is sent"
                    continue
                if customer.cw_company_id is None:
                    outcome.skipped[customer.external_id] = "not linked to a ConnectWise company"
                    continue
                space = Decimal(0)
                for (owner, product_key), total in inputs.usage.items():
                    product = inputs.products[product_key]
                    if owner == customer.external_id and product.kind is ProductKind.STORAGE:
                        space += convert(total.quantity, product.unit, Unit.GB)
                if not any(o == customer.external_id for o, _ in inputs.usage):
                    outcome.skipped[customer.external_id] = "no storage configuration: nothing measured for it"
                    continue
                todo.append((customer.external_id, customer.cw_company_id, customer.managed_id, round_quantity(space)))
            results = await asyncio.gather(
                *(
                    _publish(cw, company, managed, space, period.year, period.month)
                    for _, company, managed, space in todo
                ),
                return_exceptions=True,
            )
            for (external_id, *_), result in zip(todo, results, strict=True):
                if isinstance(result, ConnectWiseError):
                    outcome.failed[external_id] = str(result)
                elif isinstance(result, BaseException):
                    raise result
                else:
                    getattr(outcome, result).append(external_id)
            status = "done" if not outcome.failed else "partial"
            finish_run(ctx, run_id, status=status, summary=outcome.as_dict(), stats=cw.stats)
    finally:
        held.release(ctx)
    return outcome


async def _publish(
    cw: ConnectWiseClient, company_id: int, managed_id: str, space: Decimal, year: int, month: int
) -> str:
    found = await cw.configurations(
        all_of(
            F("company/id").eq(company_id),
            F("type/name").eq(BACKUP_STATS),
            F("deviceIdentifier").eq(managed_id),
        )
    )
    wanted: dict[str, Any] = {"backupBillableSpaceGb": space, "backupYear": year, "backupMonth": month}
    if not found:
        body = Configuration.model_validate(
            {
                "name": f"Backup Stats {managed_id}",
                "type": {"name": BACKUP_STATS},
                "company": {"id": company_id},
                "deviceIdentifier": managed_id,
                "billFlag": True,
                **wanted,
            }
        )
        await cw.create("company/configurations", body)
        return "created"
    current = found[0]
    changes = {
        key: value
        for key, value in wanted.items()
        if Decimal(str(current.model_dump(by_alias=True).get(key) or 0)) != Decimal(str(value))
    }
    if not changes:
        return "unchanged"
    await cw.patch_fields(f"company/configurations/{current.id}", changes)
    return "updated"
