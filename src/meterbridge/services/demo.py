"""Demo data for trying meterbridge against cwsim: customers, products, prices, configurations, usage.

Deterministic for a seed. Most customers carry their ConnectWise company's identifier as
external id (linked automatically); a few only share its name, a few have a near name (offered
as suggestions), one matches nothing. Usage is sampled through the period so averages, maxima
and last values differ.
"""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from meterbridge.domain.periods import Period
from meterbridge.services.actors import Actor
from meterbridge.services.configuration_options import DEFAULT_AGREEMENT_RULE
from meterbridge.services.configurations import save_configuration
from meterbridge.services.context import Context
from meterbridge.services.customers import add_customer
from meterbridge.services.errors import Conflict
from meterbridge.services.prices import set_price
from meterbridge.services.products import save_product
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


def seed_demo(
    ctx: Context, tenant: str, period: Period, *, actor: Actor, seed: int = 7, overwrite: bool = False
) -> DemoSeeded:
    """Set up demo customers for the imported ConnectWise companies.

    A tenant that already has products or configurations is left alone unless ``overwrite``:
    the demo would reset their prices and configurations."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not security
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
        for day in (1, 8, 15, 22, 28):
            at = start + timedelta(days=day - 1, hours=2)
            stored += Decimal(rng.randrange(-40, 60))
            samples.append(Sample(external, "storage", at, max(stored, Decimal(0)), "GB"))
        samples.append(Sample(external, "server", start + timedelta(days=27), Decimal(rng.randrange(1, 6)), "count"))
        if index % 3 == 0:
            samples.append(Sample(external, "m365", start + timedelta(days=20), Decimal(rng.randrange(5, 80)), "count"))
    store_samples(ctx, tenant, samples, source="demo", actor=actor)
    return DemoSeeded(customers=count)
