"""The basic setup: Backup Stats configurations per company (billable space GB, year, month).

For each linked customer with a Managed ID whose push is enabled, the company's configuration
of type "Backup Stats" whose deviceIdentifier is the Managed ID is updated (only the fields
that differ) or created. The billable space is the customer's storage products' usage for the
period, in GB. Like a push it holds the tenant's lease (renewed while it runs, checked before
every write: the fence); a failed company never stops the others.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from meterbridge.connectwise.client import ConnectWiseClient
from meterbridge.connectwise.conditions import F, all_of
from meterbridge.connectwise.errors import ConnectWiseError
from meterbridge.connectwise.models import Configuration
from meterbridge.connectwise.settings import ConnectionSettings
from meterbridge.domain.billing import ProductKind
from meterbridge.domain.money import round_quantity
from meterbridge.domain.periods import Period
from meterbridge.domain.units import Unit, convert
from meterbridge.services import notify
from meterbridge.services.actors import Actor
from meterbridge.services.context import Context
from meterbridge.services.desired import Inputs, load_inputs
from meterbridge.services.lease import Held, holding
from meterbridge.services.runs import error_summary, finish_run, start_run
from meterbridge.services.scope import open_tenant
from meterbridge.services.views import RunKind, RunStatus, StatsView

BACKUP_STATS = "Backup Stats"


def _todo(inputs: Inputs, outcome: StatsView) -> list[tuple[str, int, str, Decimal]]:
    """(customer, company id, Managed ID, billable GB) to publish; the others skipped with the reason."""
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
        if not any(owner == customer.external_id for owner, _ in inputs.usage):
            outcome.skipped[customer.external_id] = "no storage configuration: nothing measured for it"
            continue
        space = Decimal(0)
        for (owner, product_key), total in inputs.usage.items():
            product = inputs.products[product_key]
            if owner == customer.external_id and product.kind is ProductKind.STORAGE:
                space += convert(total.quantity, product.unit, Unit.GB)
        todo.append((customer.external_id, customer.cw_company_id, customer.managed_id, round_quantity(space)))
    return todo


async def publish_backup_stats(
    ctx: Context, tenant: str, period_text: str, *, actor: Actor, wait_seconds: float = 0.0
) -> StatsView:
    scope = open_tenant(ctx, tenant)
    period, _open = scope.billing_period(period_text)  # a month that has not started is refused
    connection = scope.connection()
    async with holding(ctx, scope.id, seconds=scope.settings.lease_seconds, wait_seconds=wait_seconds) as held:
        with ctx.db.session() as session:  # what changed while the lease was waited for counts
            inputs = load_inputs(session, open_tenant(ctx, tenant), period)
        run_id = start_run(ctx, scope.id, str(period), RunKind.STATS, actor=actor)
        outcome = StatsView(run=run_id)
        try:
            await _publish_all(ctx, held, connection, inputs, outcome, period)
        finally:
            notify.queue_run_quietly(ctx, scope.id, run_id)
    return outcome


async def _publish_all(
    ctx: Context, held: Held, connection: ConnectionSettings, inputs: Inputs, outcome: StatsView, period: Period
) -> None:
    run_id = outcome.run
    async with ctx.client(connection) as cw:
        cw.before_write = held.before_send(ctx)  # no write leaves unless the lease is ours at that moment
        todo = _todo(inputs, outcome)
        results = await asyncio.gather(
            *(
                _publish(ctx, held, cw, company, managed, space, period.year, period.month)
                for _, company, managed, space in todo
            ),
            return_exceptions=True,
        )
        for (external_id, *_), result in zip(todo, results, strict=True):
            if isinstance(result, ConnectWiseError):
                outcome.failed[external_id] = str(result)
            elif isinstance(result, BaseException):
                finish_run(ctx, run_id, status=RunStatus.FAILED, summary=error_summary(result), stats=cw.stats)
                raise result
            else:
                getattr(outcome, result).append(external_id)
        status = RunStatus.DONE if not outcome.failed else RunStatus.PARTIAL
        finish_run(ctx, run_id, status=status, summary=outcome.json_data(), stats=cw.stats)


async def _publish(
    ctx: Context,
    held: Held,
    cw: ConnectWiseClient,
    company_id: int,
    managed_id: str,
    space: Decimal,
    year: int,
    month: int,
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
        held.renew(ctx)  # the fence: no write after another worker took the lease over
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
    held.renew(ctx)
    await cw.patch_fields(f"company/configurations/{current.id}", changes)
    return "updated"
