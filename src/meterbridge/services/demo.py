"""Demo data for trying meterbridge against cwsim: customers, products, prices, configurations, usage.

Deterministic for a seed. Most customers carry their ConnectWise company's identifier as
external id (linked automatically); a few only share its name, a few have a near name (offered
as suggestions), one matches nothing. Usage is sampled through the period so averages, maxima
and last values differ; with ``months`` the months before it have usage too, smaller the
further back (the customers grew), so the console's charts show a year. ``push_history`` then
bills those months one after the other, oldest first, as a person would have done each month
(preview, push the plan by its checksum): the history and the billed-per-month chart.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from meterbridge.domain.periods import Period
from meterbridge.services import push
from meterbridge.services.actors import Actor
from meterbridge.services.configuration_options import DEFAULT_AGREEMENT_RULE
from meterbridge.services.configurations import save_configuration
from meterbridge.services.context import Context
from meterbridge.services.customers import add_customer
from meterbridge.services.errors import Conflict, InvalidInput
from meterbridge.services.prices import set_price
from meterbridge.services.products import save_product
from meterbridge.services.push import Outcome
from meterbridge.services.rules import save_rule
from meterbridge.services.scope import tenant_row
from meterbridge.services.usage import Sample, store_samples
from meterbridge.services.views import DemoSeeded
from meterbridge.store.repos import catalog, customers
from meterbridge.store.repos import configurations as configs

PRODUCTS = (
    ("storage", "Cloud storage", "storage", "GB", "max", "BACKUP-STORAGE-GB", "0.12", "0.04"),
    ("server", "Server backup", "license", "count", "last", "BACKUP-SERVER", "45", "18"),
    ("workstation", "Workstation backup", "license", "count", "last", "BACKUP-WORKSTATION", "12", "4.5"),
    ("m365", "Microsoft 365 backup", "license", "count", "max", "BACKUP-M365-USER", "3.5", "1.2"),
)


MAX_MONTHS = 24


def earlier_months(period: Period, months: int) -> list[Period]:
    """The ``months - 1`` months before ``period``, the oldest first."""
    found: list[Period] = []
    while len(found) < months - 1:
        found.insert(0, (found[0] if found else period).previous())
    return found


def seed_demo(
    ctx: Context,
    tenant: str,
    period: Period,
    *,
    actor: Actor,
    seed: int = 7,
    overwrite: bool = False,
    months: int = 1,
) -> DemoSeeded:
    """Set up demo customers for the imported ConnectWise companies, with usage for ``period``
    and the ``months - 1`` months before it.

    A tenant that already has products or configurations is left alone unless ``overwrite``:
    the demo would reset their prices and configurations."""
    if not 1 <= months <= MAX_MONTHS:
        raise InvalidInput(f"months: {months} is not 1 to {MAX_MONTHS} months of usage", field="months")
    rng = random.Random(seed)  # noqa: S311 - demo data, not security
    history = random.Random(seed + 1)  # noqa: S311 - the months before: period's own usage stays as it was
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        zone = ZoneInfo(row.time_zone)
        products = catalog.count_products(session, row.id)
        configurations = configs.count(session, row.id)
        if (products or configurations) and not overwrite:
            raise Conflict(
                f"tenant {tenant} already has {products} product(s) and {configurations} configuration(s); the demo "
                "would reset their prices and configurations",
                hint="seed again, overwriting, to do so on purpose",
                action="demo.overwrite",
            )
        companies = [(c.identifier, c.name) for c in customers.companies(session, row.id)]
    for key, name, kind, unit, basis, cw_product, price, cost in PRODUCTS:
        save_product(ctx, tenant, key, actor=actor, name=name, kind=kind, unit=unit, basis=basis, cw_product=cw_product)
        set_price(ctx, tenant, key, actor=actor, unit_price=price, unit_cost=cost)
    save_rule(ctx, tenant, DEFAULT_AGREEMENT_RULE, 'type/name = "Backup Services"', actor=actor)
    start = period.start(zone)
    before = [(months - index, month.start(zone)) for index, month in enumerate(earlier_months(period, months), 1)]
    samples: list[Sample] = []
    count = 0
    for index, (identifier, name) in enumerate(companies):
        if index % 10 == 9:
            external, display = f"acct-{index:04d}", name  # linked by exact name
        elif index % 25 == 24:
            external, display = f"acct-{index:04d}", name.replace(" ", "-") + " Group"  # a near match only
        else:
            external, display = identifier, name
        add_customer(ctx, tenant, external, display, actor=actor)
        count += 1
        storage = {"products": ["storage"], "block_size": "10"}
        save_configuration(ctx, tenant, external, f"{external}-storage", storage, actor=actor)
        save_configuration(ctx, tenant, external, f"{external}-servers", {"products": ["server"]}, actor=actor)
        if index % 3 == 0:
            m365 = {"products": ["m365"], "bill_mode": "NoCharge" if index % 12 == 0 else "Billable"}
            save_configuration(ctx, tenant, external, f"{external}-m365", m365, actor=actor)
        stored = Decimal(rng.randrange(50, 4000))
        gigabytes: list[Decimal] = []
        for day in DAYS:
            at = start + timedelta(days=day - 1, hours=2)
            stored += Decimal(rng.randrange(-40, 60))
            gigabytes.append(max(stored, Decimal(0)))
            samples.append(Sample(external, "storage", at, gigabytes[-1], "GB"))
        servers = Decimal(rng.randrange(1, 6))
        samples.append(Sample(external, "server", start + timedelta(days=27), servers, "count"))
        users = None
        if index % 3 == 0:
            users = Decimal(rng.randrange(5, 80))
            samples.append(Sample(external, "m365", start + timedelta(days=20), users, "count"))
        for back, month_start in before:
            samples += _month_before(history, external, month_start, back, gigabytes, servers, users)
    store_samples(ctx, tenant, samples, source="demo", actor=actor)
    return DemoSeeded(customers=count)


DAYS = (1, 8, 15, 22, 28)  # the days of a month the storage is sampled on


def _month_before(
    rng: random.Random,
    external: str,
    start: datetime,
    back: int,
    gigabytes: list[Decimal],
    servers: Decimal,
    users: Decimal | None,
) -> list[Sample]:
    """A customer's usage ``back`` months before the demo's period: about 3.5 % less storage a
    month back, a server fewer every four months, fewer Microsoft 365 users."""
    shrink = Decimal(1) - Decimal("0.035") * back
    found = [
        Sample(
            external,
            "storage",
            start + timedelta(days=day - 1, hours=2),
            Decimal(max(round(value * shrink) + rng.randrange(-20, 21), 0)),
            "GB",
        )
        for day, value in zip(DAYS, gigabytes, strict=True)
    ]
    found.append(Sample(external, "server", start + timedelta(days=27), max(servers - back // 4, Decimal(1)), "count"))
    if users is not None:
        fewer = max(round(users * (Decimal(1) - Decimal("0.03") * back)), 1)
        found.append(Sample(external, "m365", start + timedelta(days=20), Decimal(fewer), "count"))
    return found


async def push_history(ctx: Context, tenant: str, period: Period, *, actor: Actor, months: int) -> list[Outcome]:
    """Bill the ``months - 1`` months before ``period``, the oldest first, as a person would have
    each month: preview it, then push that plan by its checksum (what the safety thresholds
    would hold is approved by it). Each push's outcome, in order."""
    if not 1 <= months <= MAX_MONTHS:
        raise InvalidInput(f"months: {months} is not 1 to {MAX_MONTHS} months of history", field="months")
    pushed = []
    for month in earlier_months(period, months):
        previewed = await push.preview(ctx, tenant, str(month), actor=actor)
        pushed.append(await push.push(ctx, tenant, str(month), checksum=previewed.checksum, actor=actor))
    return pushed
