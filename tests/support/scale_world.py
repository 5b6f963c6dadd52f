"""A tenant of many customers, for the scale bench and the scale test: N companies, each with a
contact and a backup agreement in cwsim; per customer up to three products (storage GB, server
and workstation licenses), one configuration and one sample each, linked to its company.

Usage goes in through the ingest pipeline; configurations are saved for the first customer
through the service, then copied for the others in batched inserts (saving 100,000 one by one
would measure set-up, not billing); companies are imported from cwsim and linked by identifier.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select

from meterbridge.services import companies, configurations, connections, prices, products, rules, tenants, usage
from meterbridge.services.actors import Actor
from meterbridge.services.context import Context
from meterbridge.store.models import BillingConfigurationRow, Customer

ACTOR = Actor.user("scale")
PERIOD = "2026-10"
PRODUCTS = {  # key -> (kind, unit, ConnectWise product, unit price)
    "storage": ("storage", "GB", "BACKUP-GB", "0.10"),
    "server": ("license", "count", "BACKUP-SERVER", "45"),
    "workstation": ("license", "count", "BACKUP-WS", "12"),
}


def scenario(n: int) -> dict[str, Any]:
    """cwsim's scenario: ``n`` companies C000001..., each with a contact and a backup agreement."""
    ids = range(1, n + 1)
    return {
        "companies": [{"id": i, "identifier": f"C{i:06d}", "name": f"Company {i:06d}"} for i in ids],
        "contacts": [{"id": i, "firstName": "Pat", "company": {"id": i}} for i in ids],
        "agreementTypes": [{"name": "Backup Services"}],
        "catalog": [
            {
                "identifier": cw_product,
                "description": key,
                "customerDescription": key,
                "subcategory": {"name": "Backup"},
                "type": {"name": "Service"},
                "productClass": "Service",
                "price": float(price),
            }
            for key, (_, _, cw_product, price) in PRODUCTS.items()
        ],
        "agreements": [
            {
                "id": i,
                "name": f"Backup - {i}",
                "type": {"name": "Backup Services"},
                "company": {"id": i},
                "contact": {"id": i},
                "startDate": "2025-01-01T00:00:00Z",
                "billStartDate": "2025-01-01T00:00:00Z",
            }
            for i in ids
        ],
    }


def quantity(product: str, i: int) -> Decimal:
    return Decimal(100 + i % 900) + Decimal("0.5") if product == "storage" else Decimal(1 + i % 7)


def set_up(ctx: Context, base: str, n: int, keys: tuple[str, ...] = tuple(PRODUCTS)) -> None:
    """The tenant ``default`` for ``n`` customers billing ``keys`` (default: all three products)."""
    t = tenants.DEFAULT_TENANT
    tenants.init_tenant(ctx, t, actor=ACTOR)
    tenants.update_settings(ctx, t, {"rate_limit_per_minute": 1_000_000, "max_concurrency": 16}, actor=ACTOR)
    connections.set_connection(
        ctx, t, site=base, company_id="sim", public_key="simpub", private_key="simpriv", client_id="bench", actor=ACTOR
    )
    for key in keys:
        kind, unit, cw_product, price = PRODUCTS[key]
        basis = "max" if kind == "storage" else "last"
        products.save_product(ctx, t, key, kind=kind, unit=unit, basis=basis, cw_product=cw_product, actor=ACTOR)
        prices.set_price(ctx, t, key, unit_price=price, actor=ACTOR)
    rules.save_rule(ctx, t, "default-agreement", 'type/name = "Backup Services"', actor=ACTOR)
    at = usage.parse_time("at", "2026-10-20T00:00:00Z")
    samples = [
        usage.Sample(f"C{i:06d}", key, at, quantity(key, i), PRODUCTS[key][1], customer_name=f"Company {i:06d}")
        for i in range(1, n + 1)
        for key in keys
    ]
    usage.store_samples(ctx, t, samples, source="bench", actor=ACTOR)
    first = "C000001"
    for key in keys:
        configurations.save_configuration(ctx, t, first, f"{first}-{key}", {"products": [key]}, actor=ACTOR)
    with ctx.db.session() as session:
        rows = session.execute(select(Customer.id, Customer.external_id, Customer.tenant_id)).all()
        saved = {r.key.removeprefix(f"{first}-"): r for r in session.scalars(select(BillingConfigurationRow))}
        copies = [
            {
                "tenant_id": tenant_id,
                "customer_id": customer_id,
                "key": f"{external}-{key}",
                "options": saved[key].options,
                "enabled": True,
            }
            for customer_id, external, tenant_id in rows
            if external != first
            for key in keys
        ]
        for start in range(0, len(copies), 5_000):
            session.execute(insert(BillingConfigurationRow), copies[start : start + 5_000])
    asyncio.run(companies.import_companies(ctx, t, actor=ACTOR))
    linked = companies.link_customers(ctx, t, actor=ACTOR)
    assert len(linked.linked) == n, (len(linked.linked), n)
