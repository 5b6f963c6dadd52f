"""The set-up checklist a new tenant works through: connection, companies, products and prices,
usage, links, configurations, a first preview. Each step says what is missing; read from the store
alone (fast), the doctor then checks the ConnectWise side."""

from __future__ import annotations

from meterbridge.services.context import Context
from meterbridge.services.scope import tenant_row
from meterbridge.services.views.console import Checklist, ChecklistStep
from meterbridge.store.repos import catalog, connections, customers, runs
from meterbridge.store.repos import usage as samples


def checklist(ctx: Context, tenant: str) -> Checklist:
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        connection = connections.of_tenant(session, row.id)
        companies = len(customers.companies(session, row.id))
        known = customers.all_of(session, row.id)
        links = customers.links_of(session, row.id)
        unlinked = [c.external_id for c in known if c.id not in links or links[c.id].cw_company_id is None]
        products = catalog.products(session, row.id)
        priced = {p.product_id for p in catalog.prices(session, row.id) if p.customer_id is None}
        unmapped = [p.key for p in products if not p.cw_product]
        unpriced = [p.key for p in products if p.id not in priced]
        configured = set(customers.configuration_counts(session, row.id))
        without = [c.external_id for c in known if c.id not in configured and c.push_enabled]
        previews = runs.newest(session, row.id, limit=1, kind="preview")
        newest = samples.newest_measurement(session, row.id)

    def names(items: list[str]) -> str:
        return ", ".join(items[:5]) + (f" and {len(items) - 5} more" if len(items) > 5 else "")

    steps = [
        ChecklistStep(
            key="connection",
            title="Connect to ConnectWise",
            done=connection is not None and connection.tested_at is not None,
            detail=(
                "no connection yet"
                if connection is None
                else f"{connection.site}, company {connection.company_id}"
                + ("" if connection.tested_at else ": not tested yet")
            ),
        ),
        ChecklistStep(
            key="companies",
            title="Import the ConnectWise companies",
            done=companies > 0,
            detail=f"{companies} companies imported" if companies else "none imported yet",
        ),
        ChecklistStep(
            key="products",
            title="Map products to ConnectWise and price them",
            done=bool(products) and not unmapped and not unpriced,
            detail=(
                "no products yet"
                if not products
                else "; ".join(
                    part
                    for part in (
                        f"not mapped: {names(unmapped)}" if unmapped else "",
                        f"no price (bills 0): {names(unpriced)}" if unpriced else "",
                    )
                    if part
                )
                or f"all {len(products)} mapped and priced"
            ),
        ),
        ChecklistStep(
            key="usage",
            title="Bring in the usage",
            done=newest is not None,
            detail=(
                f"{len(known)} customers; newest sample measured {newest:%Y-%m-%d}"
                if newest is not None
                else "no usage yet: upload a CSV file, or send it to the API"
            ),
        ),
        ChecklistStep(
            key="links",
            title="Link customers to their companies",
            done=bool(known) and not unlinked,
            detail=(
                "no customers yet"
                if not known
                else f"{len(unlinked)} of {len(known)} not linked: {names(unlinked)}"
                if unlinked
                else f"all {len(known)} linked"
            ),
        ),
        ChecklistStep(
            key="configurations",
            title="Say how each customer is billed",
            done=bool(known) and not without,
            detail=f"no configuration: {names(without)}" if without else f"{len(configured)} customers configured",
        ),
        ChecklistStep(
            key="preview",
            title="Preview a month",
            done=bool(previews),
            detail=f"last preview: {previews[0].period}" if previews else "no preview yet",
        ),
    ]
    return Checklist(steps=steps)
