"""Usage samples in: one at a time, a batch, or a CSV file (all rows or none); listed, corrected
and withdrawn. Files of any size go through services/imports.py (streamed, recorded).

Each sample has an identity, (source, customer, product, measured_at): importing the same sample
again changes nothing, a new value for it replaces the old one (a correction, up or down), and a
sample can be withdrawn (kept for the record, no longer counted).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from meterbridge.domain.periods import Period
from meterbridge.domain.usage import DEFAULT_SOURCE
from meterbridge.services.actors import Actor
from meterbridge.services.audit import audit
from meterbridge.services.context import Context
from meterbridge.services.customers import customer_row
from meterbridge.services.errors import InvalidInput, NotFound
from meterbridge.services.imports import import_file, refuse_if_rejected
from meterbridge.services.ingest import Mode, Rejected, check_source, ingest, parse_time
from meterbridge.services.scope import tenant_row
from meterbridge.services.views import ImportView, SampleView, UsageStored, Withdrawn
from meterbridge.sources import Record
from meterbridge.store.models import UsageSampleRow
from meterbridge.store.repos import catalog
from meterbridge.store.repos import usage as samples_repo

__all__ = ["DEFAULT_SOURCE", "Sample", "parse_time"]


@dataclass(frozen=True)
class Sample:
    customer: str
    product: str
    measured_at: datetime
    quantity: Decimal
    unit: str
    customer_name: str | None = None


def _record(position: int, sample: Sample) -> Record:
    return Record(
        position, sample.customer, sample.product, sample.measured_at.isoformat(), format(sample.quantity, "f"),
        sample.unit, sample.customer_name,
    )  # fmt: skip


def store_samples(
    ctx: Context,
    tenant: str,
    samples: list[Sample],
    *,
    actor: Actor,
    source: str = DEFAULT_SOURCE,
    mode: Mode = Mode.ALL,
) -> UsageStored:
    """Store samples (an API batch, ``usage add``) in one transaction; customers named with a
    customer_name are created. Mode ``all``: all or none, a bad sample raises an error naming it
    (by position, from 1) and the others refused are counted; ``valid``: the good ones are stored
    and the answer lists the rest.

    A sample's identity is (source, customer, product, measured_at): one already stored with the
    same value changes nothing, one with another value replaces it (a correction, up or down), and
    a withdrawn one comes back.
    """
    check_source(source)
    now = ctx.clock()
    records = [_record(position, sample) for position, sample in enumerate(samples, start=1)]
    try:
        with ctx.db.session() as session:
            row = tenant_row(session, tenant)
            outcome = ingest(session, row, records, source=source, mode=mode, now=now, label="sample")
            audit(session, ctx, row.id, actor, "usage.import", {"source": source, **outcome.counts()})
    except Rejected as rejected:
        first = rejected.outcome.errors[0]
        more = rejected.outcome.error_count - 1
        raise InvalidInput(
            first.message + (f"; {more} more sample(s) refused" if more else ""),
            row=first.row,
            field=first.column,
        ) from None
    return UsageStored(
        source=source, added=outcome.added, replaced=outcome.replaced, unchanged=outcome.unchanged,
        repeated=outcome.repeated, rejected=outcome.error_count, errors=outcome.errors,
        new_customers=outcome.new_customers, late=outcome.late,
    )  # fmt: skip


def import_csv(
    ctx: Context, tenant: str, text: str, *, actor: Actor, source: str = DEFAULT_SOURCE, file: str | None = None
) -> UsageStored:
    """A CSV file's text, all rows or none (an error names the first bad row and column)."""
    view = refuse_if_rejected(
        import_file(ctx, tenant, io.BytesIO(text.encode("utf-8")), actor=actor, source=source, name=file)
    )
    return stored_of(view, file)


def stored_of(view: ImportView, file: str | None = None) -> UsageStored:
    return UsageStored(
        source=view.source, added=view.added, replaced=view.replaced, unchanged=view.unchanged, file=file,
        import_id=view.id, repeated=view.repeated,
        rejected=view.rejected, errors=view.errors, new_customers=view.new_customers, late=view.late,
    )  # fmt: skip


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
