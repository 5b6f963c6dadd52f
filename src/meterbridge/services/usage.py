"""Usage samples in: one at a time, or a CSV file (all rows or none)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select

from meterbridge.domain.errors import UnitError
from meterbridge.domain.units import Unit, convert
from meterbridge.services.catalog import decimal_of
from meterbridge.services.context import Context
from meterbridge.services.errors import InvalidInput
from meterbridge.services.tenants import audit, tenant_row
from meterbridge.store.models import Customer, Product, UsageSampleRow

CSV_COLUMNS = ("customer", "product", "measured_at", "quantity", "unit")
OPTIONAL_COLUMNS = ("customer_name",)


@dataclass(frozen=True)
class Sample:
    customer: str
    product: str
    measured_at: datetime
    quantity: Decimal
    unit: str
    customer_name: str | None = None


def parse_time(field: str, text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{field}: {text!r} is not a date and time (ISO 8601, e.g. 2026-10-31T23:00:00Z)") from None
    if value.tzinfo is None:
        raise InvalidInput(f"{field}: {text!r} has no time zone; add Z or an offset such as +01:00")
    return value


def read_csv(text: str) -> list[Sample]:
    """Parse a usage CSV; an error names the row (1 = the header) and the column."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InvalidInput(
            f"row 1 (header): missing column(s) {', '.join(missing)}; the columns are "
            f"{', '.join(CSV_COLUMNS)} and optionally {', '.join(OPTIONAL_COLUMNS)}"
        )
    samples = []
    for number, record in enumerate(reader, start=2):

        def cell(column: str, record: dict[str, str | None] = record, number: int = number) -> str:
            value = (record.get(column) or "").strip()
            if not value:
                raise InvalidInput(f"row {number}, column {column}: empty; every row needs a {column}")
            return value

        try:
            quantity = decimal_of("quantity", cell("quantity"))
            if quantity < 0:
                raise InvalidInput("quantity: cannot be negative")
            unit = cell("unit")
            Unit.parse(unit)
            samples.append(
                Sample(
                    cell("customer"),
                    cell("product"),
                    parse_time("measured_at", cell("measured_at")),
                    quantity,
                    Unit.parse(unit).value,
                    (record.get("customer_name") or "").strip() or None,
                )
            )
        except InvalidInput as error:
            message = str(error)
            raise InvalidInput(message if message.startswith("row ") else f"row {number}, column {message}") from None
        except UnitError as error:
            raise InvalidInput(f"row {number}, column unit: {error}") from None
    return samples


def store_samples(ctx: Context, tenant: str, samples: list[Sample], *, source: str, actor: str = "cli") -> int:
    """Store samples in one transaction; customers named with a customer_name are created. Returns how many."""
    now = ctx.clock()
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        customers = {c.external_id: c for c in session.scalars(select(Customer).where(Customer.tenant_id == row.id))}
        products = {p.key: p for p in session.scalars(select(Product).where(Product.tenant_id == row.id))}
        rows = []
        for position, sample in enumerate(samples, start=1):
            where = f"sample {position}" if len(samples) > 1 else "sample"
            product = products.get(sample.product)
            if product is None:
                raise InvalidInput(
                    f"{where}: product {sample.product!r} does not exist: add it with `meterbridge products set`"
                )
            try:
                convert(Decimal(1), Unit(sample.unit), Unit(product.unit))
            except UnitError as error:
                raise InvalidInput(
                    f"{where}: unit: {error} (product {product.key} is measured in {product.unit})"
                ) from None
            customer = customers.get(sample.customer)
            if customer is None:
                if not sample.customer_name:
                    raise InvalidInput(
                        f"{where}: customer {sample.customer!r} does not exist: add it, or give a customer_name"
                    )
                if "/" in sample.customer:
                    raise InvalidInput(f"{where}: customer: {sample.customer!r} may not contain '/'")
                customer = Customer(
                    tenant_id=row.id, external_id=sample.customer, name=sample.customer_name, push_enabled=True
                )
                session.add(customer)
                session.flush()
                customers[sample.customer] = customer
            rows.append(
                UsageSampleRow(
                    tenant_id=row.id,
                    customer_id=customer.id,
                    product_id=product.id,
                    measured_at=sample.measured_at,
                    quantity=sample.quantity,
                    unit=sample.unit,
                    received_at=now,
                    source=source,
                )
            )
        session.add_all(rows)
        audit(session, ctx, row.id, actor, "usage.import", {"source": source, "samples": len(rows)})
    return len(rows)


def import_csv(ctx: Context, tenant: str, text: str, *, source: str, actor: str = "cli") -> int:
    samples = read_csv(text)
    try:
        return store_samples(ctx, tenant, samples, source=source, actor=actor)
    except InvalidInput as error:
        match = _SAMPLE.match(str(error))
        if match is None:
            raise
        raise InvalidInput(f"row {int(match.group(1) or 1) + 1}{match.group(2)}") from None


_SAMPLE = re.compile(r"^sample ?(\d*)(:.*)$", re.DOTALL)
