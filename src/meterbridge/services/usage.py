"""Usage samples in: one at a time, or a CSV file (all rows or none); listed, corrected and withdrawn.

Each sample has an identity, (source, customer, product, measured_at): importing the same sample
again changes nothing, a new value for it replaces the old one (a correction, up or down), and a
sample can be withdrawn (kept for the record, no longer counted).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from meterbridge.domain.errors import UnitError
from meterbridge.domain.periods import Period
from meterbridge.domain.units import Unit, convert
from meterbridge.services.catalog import decimal_of
from meterbridge.services.companies import customer_row
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


DEFAULT_SOURCE = "default"


@dataclass(frozen=True)
class Stored:
    """What an import did: samples new to meterbridge, samples that replaced an earlier value of
    the same identity, and samples already stored as they are (changing nothing)."""

    added: int = 0
    replaced: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.added + self.replaced + self.unchanged


Identity = tuple[str, str, datetime]  # customer, product, measured_at (UTC)


def _identity(sample: Sample) -> Identity:
    return sample.customer, sample.product, sample.measured_at.astimezone(UTC)


def _distinct(samples: list[Sample]) -> list[tuple[int, Sample]]:
    """The samples with their positions, each identity once; the same identity with another value is refused."""
    first: dict[Identity, tuple[int, Sample]] = {}
    for position, sample in enumerate(samples, start=1):
        identity = _identity(sample)
        earlier = first.get(identity)
        if earlier is None:
            first[identity] = (position, sample)
        elif (earlier[1].quantity, earlier[1].unit) != (sample.quantity, sample.unit):
            raise InvalidInput(
                f"sample {position}: repeats sample {earlier[0]} ({sample.customer}, {sample.product}, "
                f"{sample.measured_at.isoformat()}) with another value ({earlier[1].quantity} {earlier[1].unit}, "
                f"now {sample.quantity} {sample.unit}); a sample is one measurement: keep one of them"
            )
    return sorted(first.values(), key=lambda item: item[0])


def store_samples(
    ctx: Context, tenant: str, samples: list[Sample], *, source: str = DEFAULT_SOURCE, actor: str = "cli"
) -> Stored:
    """Store samples in one transaction, all or none; customers named with a customer_name are created.

    A sample's identity is (source, customer, product, measured_at): one already stored with the
    same value changes nothing (importing a file twice is harmless), one with another value
    replaces it (a correction, up or down), and a withdrawn one comes back.
    """
    if not source.strip() or len(source) > 200:
        raise InvalidInput("source: name the usage source (1 to 200 characters), e.g. the vendor's console")
    now = ctx.clock()
    added = replaced = unchanged = 0
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        customers = {c.external_id: c for c in session.scalars(select(Customer).where(Customer.tenant_id == row.id))}
        products = {p.key: p for p in session.scalars(select(Product).where(Product.tenant_id == row.id))}
        distinct = _distinct(samples)
        stored = _stored(session, row.id, source, [s for _, s in distinct])
        for position, sample in distinct:
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
            existing = stored.get((customer.id, product.id, sample.measured_at.astimezone(UTC)))
            if existing is None:
                added += 1
                session.add(
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
            elif (existing.quantity, existing.unit, existing.withdrawn_at) == (sample.quantity, sample.unit, None):
                unchanged += 1
            else:
                replaced += 1
                existing.quantity, existing.unit = sample.quantity, sample.unit
                existing.received_at, existing.withdrawn_at = now, None
        result = Stored(added, replaced, unchanged)
        audit(
            session,
            ctx,
            row.id,
            actor,
            "usage.import",
            {"source": source, "added": added, "replaced": replaced, "unchanged": unchanged},
        )
    return result


def _stored(
    session: Session, tenant_id: int, source: str, samples: list[Sample]
) -> dict[tuple[int, int, datetime], UsageSampleRow]:
    """The source's stored samples in the batch's time span, by (customer id, product id, measured_at)."""
    if not samples:
        return {}
    moments = [s.measured_at for s in samples]
    rows = session.scalars(
        select(UsageSampleRow).where(
            UsageSampleRow.tenant_id == tenant_id,
            UsageSampleRow.source == source,
            UsageSampleRow.measured_at >= min(moments),
            UsageSampleRow.measured_at <= max(moments),
        )
    )
    return {(r.customer_id, r.product_id, r.measured_at): r for r in rows}


def import_csv(ctx: Context, tenant: str, text: str, *, source: str = DEFAULT_SOURCE, actor: str = "cli") -> Stored:
    samples = read_csv(text)
    try:
        return store_samples(ctx, tenant, samples, source=source, actor=actor)
    except InvalidInput as error:
        match = _SAMPLE.match(str(error))
        if match is None:
            raise
        rest = _REPEATS.sub(lambda m: f"repeats row {int(m.group(1)) + 1}", match.group(2))
        raise InvalidInput(f"row {int(match.group(1) or 1) + 1}{rest}") from None


_SAMPLE = re.compile(r"^sample ?(\d*)(:.*)$", re.DOTALL)
_REPEATS = re.compile(r"repeats sample (\d+)")


@dataclass(frozen=True)
class SampleView:
    customer: str
    product: str
    measured_at: datetime
    quantity: Decimal
    unit: str
    source: str
    received_at: datetime
    withdrawn_at: datetime | None


def _sample_query(
    session: Session,
    tenant: str,
    *,
    customer: str | None,
    product: str | None,
    period: Period | None,
    source: str | None,
    at: datetime | None,
) -> Select[UsageSampleRow, str, str]:
    row = tenant_row(session, tenant)
    query = (
        select(UsageSampleRow, Customer.external_id, Product.key)
        .join(Customer, Customer.id == UsageSampleRow.customer_id)
        .join(Product, Product.id == UsageSampleRow.product_id)
        .where(UsageSampleRow.tenant_id == row.id)
    )
    if customer is not None:
        query = query.where(Customer.external_id == customer)
    if product is not None:
        query = query.where(Product.key == product)
    if source is not None:
        query = query.where(UsageSampleRow.source == source)
    if at is not None:
        query = query.where(UsageSampleRow.measured_at == at)
    if period is not None:
        zone = ZoneInfo(row.time_zone)
        query = query.where(
            UsageSampleRow.measured_at >= period.start(zone), UsageSampleRow.measured_at < period.end(zone)
        )
    return query


def list_samples(
    ctx: Context,
    tenant: str,
    *,
    customer: str | None = None,
    product: str | None = None,
    period: Period | None = None,
    source: str | None = None,
    withdrawn: bool = False,
    limit: int = 500,
) -> list[SampleView]:
    """Samples, newest measurement first; withdrawn ones only when asked for."""
    if limit < 1:
        raise InvalidInput("limit: list at least 1 sample")
    with ctx.db.session() as session:
        query = _sample_query(
            session, tenant, customer=customer, product=product, period=period, source=source, at=None
        )
        if not withdrawn:
            query = query.where(UsageSampleRow.withdrawn_at.is_(None))
        query = query.order_by(UsageSampleRow.measured_at.desc(), Customer.external_id, Product.key).limit(limit)
        return [
            SampleView(c, p, r.measured_at, r.quantity, r.unit, r.source, r.received_at, r.withdrawn_at)
            for r, c, p in session.execute(query)
        ]


def withdraw_samples(
    ctx: Context,
    tenant: str,
    customer: str,
    *,
    product: str | None = None,
    period: Period | None = None,
    source: str | None = None,
    at: datetime | None = None,
    actor: str = "cli",
) -> int:
    """Withdraw a customer's samples (those matching the filters): kept for the record, no longer
    counted. The next preview of their period shows what changes; returns how many were withdrawn."""
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        customer_row(session, row.id, customer)  # NotFound names it
        query = _sample_query(
            session, tenant, customer=customer, product=product, period=period, source=source, at=at
        ).where(UsageSampleRow.withdrawn_at.is_(None))
        rows = [r for r, _, _ in session.execute(query)]
        now = ctx.clock()
        for sample in rows:
            sample.withdrawn_at = now
        audit(
            session,
            ctx,
            row.id,
            actor,
            "usage.withdraw",
            {
                "customer": customer,
                "product": product,
                "period": str(period) if period else None,
                "source": source,
                "at": at.isoformat() if at else None,
                "samples": len(rows),
            },
        )
        return len(rows)
