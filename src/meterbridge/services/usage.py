"""Usage samples in: one at a time, or a CSV file (all rows or none); listed, corrected and withdrawn.

Each sample has an identity, (source, customer, product, measured_at): importing the same sample
again changes nothing, a new value for it replaces the old one (a correction, up or down), and a
sample can be withdrawn (kept for the record, no longer counted).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from meterbridge.domain.errors import UnitError
from meterbridge.domain.periods import Period
from meterbridge.domain.units import Unit, convert
from meterbridge.services.actors import Actor
from meterbridge.services.audit import audit
from meterbridge.services.context import Context
from meterbridge.services.customers import customer_row
from meterbridge.services.errors import InvalidInput, NotFound
from meterbridge.services.scope import tenant_row
from meterbridge.services.tiers import decimal_of
from meterbridge.services.views import SampleView, UsageStored, Withdrawn
from meterbridge.store.models import UsageSampleRow
from meterbridge.store.repos import catalog, customers
from meterbridge.store.repos import usage as samples_repo

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
        raise InvalidInput(
            f"{field}: {text!r} is not a date and time (ISO 8601, e.g. 2026-10-31T23:00:00Z)", field=field
        ) from None
    if value.tzinfo is None:
        raise InvalidInput(f"{field}: {text!r} has no time zone; add Z or an offset such as +01:00", field=field)
    return value


EXTRA = "\x00extra"  # where csv puts the fields of a row beyond the header's


def read_csv(text: str) -> list[Sample]:
    """Parse a usage CSV; an error names the row (1 = the header) and the column."""
    if "\x00" in text:
        row = text[: text.index("\x00")].count("\n") + 1
        raise InvalidInput(f"row {row}: the file holds a NUL character; export it again as plain CSV (UTF-8)", row=row)
    reader = csv.DictReader(io.StringIO(text), restkey=EXTRA)
    header = [name.strip() for name in reader.fieldnames or []]
    reader.fieldnames = header
    repeated = sorted({name for name in header if header.count(name) > 1})
    unknown = [name for name in header if name not in (*CSV_COLUMNS, *OPTIONAL_COLUMNS)]
    for problem, names in (("repeats column(s)", repeated), ("has unknown column(s)", unknown)):
        if names:
            raise InvalidInput(
                f"row 1 (header): {problem} {', '.join(repr(n) for n in names)}; the columns are "
                f"{', '.join(CSV_COLUMNS)} and optionally {', '.join(OPTIONAL_COLUMNS)}, each once",
                row=1,
                field=names[0] or "header",
            )
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise InvalidInput(
            f"row 1 (header): missing column(s) {', '.join(missing)}; the columns are "
            f"{', '.join(CSV_COLUMNS)} and optionally {', '.join(OPTIONAL_COLUMNS)}",
            row=1,
            field=missing[0],
        )
    samples = []
    for number, record in enumerate(reader, start=2):
        if record.get(EXTRA):
            raise InvalidInput(
                f"row {number}: {len(header) + len(record[EXTRA])} fields, but the header names {len(header)}; "
                "quote a value that holds a comma",
                row=number,
            )

        def cell(column: str, record: dict[str, str | None] = record, number: int = number) -> str:
            value = (record.get(column) or "").strip()
            if not value:
                raise InvalidInput(
                    f"row {number}, column {column}: empty; every row needs a {column}", row=number, field=column
                )
            return value

        try:
            quantity = decimal_of("quantity", cell("quantity"), exponent=True)
            if quantity < 0:
                raise InvalidInput("quantity: cannot be negative", field="quantity")
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
            if message.startswith("row "):
                raise
            raise InvalidInput(f"row {number}, column {message}", row=number, field=error.field) from None
        except UnitError as error:
            raise InvalidInput(f"row {number}, column unit: {error}", row=number, field="unit") from None
    return samples


DEFAULT_SOURCE = "default"


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
                f"now {sample.quantity} {sample.unit}); a sample is one measurement: keep one of them",
                row=position,
                field="quantity",
            )
    return sorted(first.values(), key=lambda item: item[0])


#: How far ahead of the clock a sample may be measured (clocks differ a little); later is a mistake.
FUTURE_SKEW = timedelta(minutes=5)
MAX_QUANTITY = Decimal("1e15")
EARLIEST, LATEST = 2000, 2999  # the years a sample may be measured in


def _checked(sample: Sample, position: int, count: int, now: datetime) -> Sample:
    """The sample with its unit spelled as meterbridge does; refused when it cannot be a measurement."""
    where, row = (f"sample {position}", position) if count > 1 else ("sample", None)
    if not EARLIEST <= sample.measured_at.year <= LATEST:
        raise InvalidInput(
            f"{where}: measured_at: {sample.measured_at.date()} is not a time meterbridge bills (years {EARLIEST} to "
            f"{LATEST})",
            row=row,
            field="measured_at",
        )
    try:
        unit = Unit.parse(sample.unit)
    except UnitError as error:
        raise InvalidInput(f"{where}: unit: {error}", row=row, field="unit") from None
    if not sample.quantity.is_finite() or sample.quantity < 0:
        raise InvalidInput(f"{where}: quantity: {sample.quantity} cannot be negative", row=row, field="quantity")
    if sample.quantity > MAX_QUANTITY:
        raise InvalidInput(
            f"{where}: quantity: {sample.quantity} is more than any usage can be", row=row, field="quantity"
        )

    if unit is Unit.COUNT and sample.quantity != sample.quantity.to_integral_value():
        raise InvalidInput(
            f"{where}: quantity: {sample.quantity} {unit.value} is not a whole number; licenses and devices are "
            "counted in whole units",
            row=row,
            field="quantity",
        )
    if sample.measured_at > now + FUTURE_SKEW:
        raise InvalidInput(
            f"{where}: measured_at: {sample.measured_at.isoformat()} is in the future (it is {now:%Y-%m-%d %H:%M} "
            "UTC); check the time and its zone",
            row=row,
            field="measured_at",
        )
    return replace(sample, unit=unit.value)


def store_samples(
    ctx: Context, tenant: str, samples: list[Sample], *, actor: Actor, source: str = DEFAULT_SOURCE
) -> UsageStored:
    """Store samples in one transaction, all or none; customers named with a customer_name are created.

    A sample's identity is (source, customer, product, measured_at): one already stored with the
    same value changes nothing (importing a file twice is harmless), one with another value
    replaces it (a correction, up or down), and a withdrawn one comes back.
    """
    if not source.strip() or len(source) > 200:
        raise InvalidInput(
            "source: name the usage source (1 to 200 characters), e.g. the vendor's console", field="source"
        )
    now = ctx.clock()
    added = replaced = unchanged = 0
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        known = {c.external_id: c for c in customers.all_of(session, row.id)}
        products = {p.key: p for p in catalog.products(session, row.id)}
        samples = [_checked(sample, position, len(samples), now) for position, sample in enumerate(samples, start=1)]
        distinct = _distinct(samples)
        moments = [s.measured_at for _, s in distinct]
        stored = samples_repo.of_source(session, row.id, source, min(moments), max(moments)) if moments else {}
        for position, sample in distinct:
            where = f"sample {position}" if len(samples) > 1 else "sample"
            at = position if len(samples) > 1 else None
            product = products.get(sample.product)
            if product is None:
                raise InvalidInput(
                    f"{where}: product {sample.product!r} does not exist",
                    hint="add the product first",
                    row=at,
                    field="product",
                )
            try:
                convert(Decimal(1), Unit(sample.unit), Unit(product.unit))
            except UnitError as error:
                raise InvalidInput(
                    f"{where}: unit: {error} (product {product.key} is measured in {product.unit})",
                    row=at,
                    field="unit",
                ) from None
            customer = known.get(sample.customer)
            if customer is None:
                if not sample.customer_name:
                    raise InvalidInput(
                        f"{where}: customer {sample.customer!r} does not exist: add it, or give a customer_name",
                        row=at,
                        field="customer",
                    )
                if "/" in sample.customer:
                    raise InvalidInput(
                        f"{where}: customer: {sample.customer!r} may not contain '/'", row=at, field="customer"
                    )
                customer = customers.add(session, row.id, sample.customer, sample.customer_name)
                known[sample.customer] = customer
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
        result = UsageStored(source=source, added=added, replaced=replaced, unchanged=unchanged)
        audit(
            session,
            ctx,
            row.id,
            actor,
            "usage.import",
            {"source": source, "added": added, "replaced": replaced, "unchanged": unchanged},
        )
    return result


MAX_UPLOAD = 50 * 1024 * 1024  # bytes of one CSV file


def decode_upload(raw: bytes, field: str = "body") -> str:
    """An uploaded CSV file's text (UTF-8, with or without a byte order mark), or an error that
    says how big it may be or which byte is not UTF-8."""
    if len(raw) > MAX_UPLOAD:
        raise InvalidInput(f"{field}: at most {MAX_UPLOAD // 1024 // 1024} MB a file", field=field)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidInput(
            f"{field}: byte {error.start} is not UTF-8: save the file as UTF-8 (CSV UTF-8) and upload it again",
            field=field,
        ) from None


def import_csv(
    ctx: Context, tenant: str, text: str, *, actor: Actor, source: str = DEFAULT_SOURCE, file: str | None = None
) -> UsageStored:
    samples = read_csv(text)
    try:
        stored = store_samples(ctx, tenant, samples, source=source, actor=actor)
    except InvalidInput as error:
        match = _SAMPLE.match(error.message)
        if match is None:
            raise
        rest = _REPEATS.sub(lambda m: f"repeats row {int(m.group(1)) + 1}", match.group(2))
        row = int(match.group(1) or 1) + 1  # row 1 is the header
        raise InvalidInput(
            f"row {row}{rest}", row=row, field=error.field, hint=error.hint, action=error.action
        ) from None
    return stored.model_copy(update={"file": file})


_SAMPLE = re.compile(r"^sample ?(\d*)(:.*)$", re.DOTALL)
_REPEATS = re.compile(r"repeats sample (\d+)")


def _filter(
    zone: ZoneInfo,
    *,
    customer: str | None,
    product: str | None,
    period: Period | None,
    source: str | None,
    at: datetime | None,
    withdrawn: bool,
) -> samples_repo.SampleFilter:
    return samples_repo.SampleFilter(
        customer=customer,
        product=product,
        source=source,
        at=at,
        start=period.start(zone) if period else None,
        end=period.end(zone) if period else None,
        withdrawn=withdrawn,
    )


def _known(session: Session, tenant_id: int, customer: str | None, product: str | None) -> None:
    """A filter naming a customer or product that does not exist is a mistake, not an empty answer."""
    if customer is not None:
        customer_row(session, tenant_id, customer)
    if product is not None and catalog.product(session, tenant_id, product) is None:
        raise NotFound(f"product {product!r} does not exist", field="product")


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
        raise InvalidInput("limit: list at least 1 sample", field="limit")
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        _known(session, row.id, customer, product)
        where = _filter(
            ZoneInfo(row.time_zone), customer=customer, product=product, period=period, source=source, at=None,
            withdrawn=withdrawn,
        )  # fmt: skip
        return [
            SampleView(
                customer=c,
                product=p,
                measured_at=r.measured_at,
                quantity=r.quantity,
                unit=r.unit,
                source=r.source,
                received_at=r.received_at,
                withdrawn_at=r.withdrawn_at,
            )
            for r, c, p in samples_repo.matching(session, row.id, where, limit=limit)
        ]


def withdraw_samples(
    ctx: Context,
    tenant: str,
    customer: str,
    *,
    actor: Actor,
    product: str | None = None,
    period: Period | None = None,
    source: str | None = None,
    at: datetime | None = None,
) -> Withdrawn:
    """Withdraw a customer's samples (those matching the filters): kept for the record, no longer
    counted. The next preview of their period shows what changes."""
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        _known(session, row.id, customer, product)
        where = _filter(
            ZoneInfo(row.time_zone), customer=customer, product=product, period=period, source=source, at=at,
            withdrawn=False,
        )  # fmt: skip
        rows: list[UsageSampleRow] = [r for r, _, _ in samples_repo.matching(session, row.id, where)]
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
        return Withdrawn(customer=customer, withdrawn=len(rows))
