"""A month of billing for N customers covering the reference documents' cases, and what it must produce.

Customer i (company id i + 1, identifier ``C000``) falls in case ``i % 20``. The expected
additions are written out here by hand from the case's arithmetic (not by calling the billing
core), so a wrong push cannot agree with them by construction.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any

from cwsim.sim import Simulator
from meterbridge.services import (
    companies,
    configurations,
    connections,
    customers,
    prices,
    products,
    rules,
    tenants,
    usage,
)
from meterbridge.services.context import Context
from tests.support.actors import ACTOR

PERIOD = "2026-10"
FIRST, LAST = "2026-10-01", "2026-10-31"
MEASURED = "2026-10-20T12:00:00+00:00"
CASES = {
    0: "storage, average (one product)",
    1: "licenses, average of servers and workstations (weighted unit price)",
    2: "storage and licenses mixed: total (quantity 1)",
    3: "quantity only (ConnectWise's catalog price applies)",
    4: "NoCharge",
    5: "DoNotBill",
    6: "GB ranges, each to its own product",
    7: "block size 100 GB",
    8: "billStartDate after the period start (clamped)",
    9: "ambiguous agreement",
    10: "missing agreement",
    11: "unlinked customer",
    12: "per-period strategy (dated addition)",
    13: "included quantity",
    14: "customer price override",
    15: "graduated tiers",
    16: "Microsoft 365 licenses",
    17: "storage measured in TB, billed in GB",
    18: "push disabled",
    19: "storage, zero usage (nothing created)",
}
CATALOG = {
    "BACKUP-STORAGE-GB": ("0.12", "0.04"),
    "BACKUP-STORAGE-GB-T2": ("0.09", "0.03"),
    "BACKUP-SERVER": ("45", "18"),
    "BACKUP-WORKSTATION": ("12", "4.5"),
    "BACKUP-M365-USER": ("3.5", "1.2"),
    "MANAGED-SERVICES": ("1500", "0"),
}


def identifier(i: int) -> str:
    return f"C{i:03d}"


def scenario(n: int) -> dict[str, Any]:
    companies_, contacts, agreements, additions = [], [], [], []
    for i in range(n):
        company = i + 1
        companies_.append({"id": company, "identifier": identifier(i), "name": f"Company {i:03d}"})
        contacts.append({"id": company, "firstName": "Ann", "lastName": f"Lee {i}", "company": {"id": company}})

        def agreement(
            name: str, type_name: str, bill_start: str = "2025-01-01T00:00:00Z", company: int = company
        ) -> None:
            agreements.append(
                {
                    "id": len(agreements) + 1,
                    "name": name,
                    "type": {"name": type_name},
                    "company": {"id": company},
                    "contact": {"id": company},
                    "startDate": "2025-01-01T00:00:00Z",
                    "billStartDate": bill_start,
                }
            )

        case = i % 20
        if case == 10:
            agreement(f"Managed - {i}", "Managed Services")
            additions.append(
                {
                    "agreementId": len(agreements),
                    "product": {"identifier": "MANAGED-SERVICES"},
                    "quantity": 1,
                    "billCustomer": "Billable",
                    "effectiveDate": "2025-01-01T00:00:00Z",
                }
            )
        elif case == 8:
            agreement(f"Backup - {i}", "Backup Services", "2026-10-15T00:00:00Z")
        else:
            agreement(f"Backup - {i}", "Backup Services")
            if case == 9:
                agreement(f"Backup (second) - {i}", "Backup Services")
    return {
        "companies": companies_,
        "contacts": contacts,
        "agreementTypes": [{"name": "Backup Services"}, {"name": "Managed Services"}],
        "catalog": [
            {
                "identifier": key,
                "description": key.title(),
                "customerDescription": key.title(),
                "subcategory": {"name": "Backup"},
                "type": {"name": "Service"},
                "productClass": "Service",
                "price": float(price),
                "cost": float(cost),
            }
            for key, (price, cost) in CATALOG.items()
        ],
        "configurationTypes": [{"name": "Backup Stats"}],
        "agreements": agreements,
        "additions": additions,
    }


@dataclass
class Usage:
    """Per customer: storage GB, servers, workstations, M365 users (case 17's storage is in TB)."""

    storage: Decimal
    servers: int
    workstations: int
    users: int


def usage_of(i: int, bump: int = 0) -> Usage:
    return Usage(Decimal(100 + 7 * i + bump) + Decimal("0.25"), 1 + i % 4, 2 + i % 5, 5 + i % 11)


def configure(ctx: Context, url: str, n: int, usages: dict[int, Usage] | None = None) -> None:
    """Set meterbridge up for the month through the same services the CLI calls."""
    t = tenants.DEFAULT_TENANT
    tenants.init_tenant(ctx, t, actor=ACTOR)
    tenants.update_settings(ctx, t, {"rate_limit_per_minute": 100000, "max_concurrency": 8}, actor=ACTOR)
    connections.set_connection(
        ctx, t, site=url, company_id="sim", public_key="simpub", private_key="simpriv", client_id="tests", actor=ACTOR
    )
    asyncio.run(companies.import_companies(ctx, t, actor=ACTOR))
    for key, kind, unit, basis, cw in (
        ("storage", "storage", "GB", "max", "BACKUP-STORAGE-GB"),
        ("server", "license", "count", "last", "BACKUP-SERVER"),
        ("workstation", "license", "count", "last", "BACKUP-SERVER"),
        ("m365", "license", "count", "max", "BACKUP-M365-USER"),
    ):
        products.save_product(
            ctx, t, key, name=key.title(), kind=kind, unit=unit, basis=basis, cw_product=cw, actor=ACTOR
        )
    prices.set_price(ctx, t, "storage", unit_price="0.10", unit_cost="0.04", actor=ACTOR)
    prices.set_price(ctx, t, "server", unit_price="45", unit_cost="18", actor=ACTOR)
    prices.set_price(ctx, t, "workstation", unit_price="12", unit_cost="4.5", actor=ACTOR)
    prices.set_price(ctx, t, "m365", unit_price="3.5", unit_cost="1.2", actor=ACTOR)
    rules.save_rule(ctx, t, "default-agreement", 'type/name = "Backup Services"', actor=ACTOR)
    samples = []
    for i in range(n):
        case = i % 20
        external = f"unlinked-{i}" if case == 11 else identifier(i)
        customers.add_customer(
            ctx, t, external, f"Nobody {i}" if case == 11 else f"Company {i:03d}", push_enabled=case != 18, actor=ACTOR
        )
        used = (usages or {}).get(i) or usage_of(i)

        def config(key: str, external: str = external, **options: Any) -> None:
            configurations.save_configuration(ctx, t, external, f"{external}-{key}", options, actor=ACTOR)

        if case in (0, 8, 9, 10, 11, 18):
            config("storage", products=["storage"])
        elif case == 1:
            config("licenses", products=["server", "workstation"])
        elif case == 2:
            config("all", products=["storage", "server"], data_mode="total", cw_product="BACKUP-SERVER")
        elif case == 3:
            config("workstations", products=["workstation"], data_mode="quantity", cw_product="BACKUP-WORKSTATION")
        elif case == 4:
            config("storage", products=["storage"], bill_mode="NoCharge")
        elif case == 5:
            config("storage", products=["storage"], bill_mode="DoNotBill")
        elif case == 6:
            config(
                "storage",
                products=["storage"],
                ranges=[
                    {"up_to": "1000", "cw_product": "BACKUP-STORAGE-GB", "unit_price": "0.10", "unit_cost": "0.04"},
                    {"up_to": None, "cw_product": "BACKUP-STORAGE-GB-T2", "unit_price": "0.08", "unit_cost": "0.03"},
                ],
            )
        elif case == 7:
            config("storage", products=["storage"], block_size="100")
        elif case == 12:
            config("m365", products=["m365"], strategy="per_period")
        elif case == 13:
            config("servers", products=["server"], included="1")
        elif case == 14:
            prices.set_price(ctx, t, "storage", unit_price="0.07", unit_cost="0.04", customer=external, actor=ACTOR)
            config("storage", products=["storage"])
        elif case == 15:
            prices.set_price(ctx, t, "m365", unit_price="0", customer=external, tiers="10:4,:3", actor=ACTOR)
            config("m365", products=["m365"])
        elif case == 16:
            config("m365", products=["m365"])
        elif case in (17, 19):
            config("storage", products=["storage"])
        storage = Decimal(0) if case == 19 else used.storage
        if case == 17:
            samples.append(usage.Sample(external, "storage", _at(), storage / 1000, "TB"))
        elif case == 6:
            samples.append(usage.Sample(external, "storage", _at(), storage + 1000, "GB"))
        else:
            samples.append(usage.Sample(external, "storage", _at(), storage, "GB"))
        samples.append(usage.Sample(external, "server", _at(), Decimal(used.servers), "count"))
        samples.append(usage.Sample(external, "workstation", _at(), Decimal(used.workstations), "count"))
        samples.append(usage.Sample(external, "m365", _at(), Decimal(used.users), "count"))
    usage.store_samples(ctx, t, samples, source="reference month", actor=ACTOR)
    companies.link_customers(ctx, t, actor=ACTOR)


def _at() -> Any:
    return usage.parse_time("at", MEASURED)


def _money(value: Decimal, places: str = "0.01") -> Decimal:
    return value.quantize(Decimal(places), rounding=ROUND_HALF_UP)


# agreement, product, quantity, unit price (to cents, for reading), billCustomer, from, to, extended price
Row = tuple[int, str, Decimal, Decimal, str, str, str | None, Decimal]


def expected(n: int, usages: dict[int, Usage] | None = None) -> list[Row]:
    """The additions ConnectWise must hold afterwards, case by case."""
    rows: list[Row] = []
    agreement_of = {}
    next_agreement = 1
    for i in range(n):
        agreement_of[i] = next_agreement
        next_agreement += 2 if i % 20 == 9 else 1
    for i in range(n):
        used = (usages or {}).get(i) or usage_of(i)
        case, a, gb = i % 20, agreement_of[i], _money(used.storage)

        def row(
            product: str,
            quantity: Decimal,
            price: Decimal,
            bill: str = "Billable",
            start: str = FIRST,
            end: str | None = None,
            a: int = a,
            amount: Decimal | None = None,
        ) -> None:
            extended = _money(amount if amount is not None else _money(quantity) * price)
            rows.append((a, product, _money(quantity), _money(price), bill, start, end, extended))

        if case in (0, 8, 17):
            row("BACKUP-STORAGE-GB", gb, Decimal("0.10"), start="2026-10-15" if case == 8 else FIRST)
        elif case == 1:
            amount = used.servers * Decimal(45) + used.workstations * Decimal(12)  # billed to the cent
            count = Decimal(used.servers + used.workstations)
            row("BACKUP-SERVER", count, amount / count, amount=amount)
        elif case == 2:
            row("BACKUP-SERVER", Decimal(1), _money(used.storage * Decimal("0.10")) + used.servers * 45)
        elif case == 3:
            row("BACKUP-WORKSTATION", Decimal(used.workstations), Decimal(12))  # the catalog's price
        elif case == 4:
            row("BACKUP-STORAGE-GB", gb, Decimal(0), bill="NoCharge")
        elif case == 5:  # sent, never invoiced: ConnectWise shows it on the agreement
            row("BACKUP-STORAGE-GB", gb, Decimal("0.10"), bill="DoNotBill")
        elif case == 6:
            row("BACKUP-STORAGE-GB", Decimal(1000), Decimal("0.10"))
            row("BACKUP-STORAGE-GB-T2", gb, Decimal("0.08"))
        elif case == 7:
            blocks = (used.storage / 100).to_integral_value(rounding=ROUND_CEILING)
            row("BACKUP-STORAGE-GB", blocks, Decimal(10))
        elif case == 12:
            row("BACKUP-M365-USER", Decimal(used.users), Decimal("3.5"), end=LAST)
        elif case == 13:
            row("BACKUP-SERVER", Decimal(used.servers - 1), Decimal(45))
        elif case == 14:
            row("BACKUP-STORAGE-GB", gb, Decimal("0.07"))
        elif case == 15:
            amount = min(used.users, 10) * 4 + max(used.users - 10, 0) * 3
            row("BACKUP-M365-USER", Decimal(used.users), Decimal(amount) / used.users, amount=Decimal(amount))
        elif case == 16:
            row("BACKUP-M365-USER", Decimal(used.users), Decimal("3.5"))
    return sorted(rows)


def actual(sim: Simulator) -> list[Row]:
    """The additions cwsim holds, meterbridge's or not, but for the hand-made managed-services ones."""
    rows: list[Row] = []
    for record in sim.state.collections["additions"].by_id.values():
        product = record["product"]["identifier"]
        if product == "MANAGED-SERVICES":
            continue
        rows.append(
            (
                record["agreementId"],
                product,
                _money(Decimal(str(record["quantity"]))),
                _money(Decimal(str(record.get("unitPrice", 0)))),
                record["billCustomer"],
                record["effectiveDate"][:10],
                record["cancelledDate"][:10] if record.get("cancelledDate") else None,
                _money(Decimal(str(record["extPrice"]))),
            )
        )
    return sorted(rows)
