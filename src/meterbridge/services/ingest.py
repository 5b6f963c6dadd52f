"""Usage in, streaming: records from any reader (a file, an API batch, a pull) checked row by row,
staged in the database in batches and merged by sample identity, in one transaction.

Two modes: ``all`` (all rows or none: one bad row and nothing is stored, every bad row is
reported) and ``valid`` (the good rows are stored, the bad ones reported). Memory stays flat:
rows are held a batch at a time; what is kept whole is one entry per customer and per distinct
time, and at most ``MAX_REPORTED`` errors (the rest are counted).

A sample's identity is (source, customer, product, measured_at): the same value again changes
nothing (importing a file twice is harmless), another value replaces it (a correction), a
withdrawn one comes back. Customers a row names with a ``customer_name`` are created with it (a
known one with another name is renamed, and the rename kept); a customer neither known nor named
is listed for linking, never dropped silently. Rows that change a period already pushed are
reported as late, period by period.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from meterbridge.domain.errors import UnitError
from meterbridge.domain.periods import Period
from meterbridge.domain.units import Unit, convert
from meterbridge.services.errors import InvalidInput
from meterbridge.services.tiers import decimal_of
from meterbridge.services.views import LateView, RenameView, RowError
from meterbridge.sources import Bad, Record
from meterbridge.store.models import Tenant
from meterbridge.store.repos import catalog, runs
from meterbridge.store.repos import ingest as repo
from meterbridge.store.types import canonical_quantity


class Mode(StrEnum):
    ALL = "all"  # all rows or none
    VALID = "valid"  # store the good rows, report the bad


#: Errors kept word for word (an import of a million bad rows reports these and counts the rest).
MAX_REPORTED = 1000
#: Distinct unknown customers listed.
MAX_UNKNOWN = 1000
BATCH = 5000
#: How far ahead of the clock a sample may be measured (clocks differ a little); later is a mistake.
FUTURE_SKEW = timedelta(minutes=5)
MAX_QUANTITY = Decimal("1e15")
EARLIEST, LATEST = 2000, 2999  # the years a sample may be measured in
#: The months an import checks for lateness (the newest ones of its range).
LATE_MONTHS = 36


def mode_of(text: str) -> Mode:
    try:
        return Mode(text.strip().lower())
    except ValueError:
        raise InvalidInput(
            f"mode: {text!r} is not a mode; use all (all rows or none) or valid (store the good rows, report the bad)",
            field="mode",
        ) from None


def check_source(source: str) -> str:
    if not source.strip() or len(source) > 200:
        raise InvalidInput(
            "source: name the usage source (1 to 200 characters), e.g. the vendor's console", field="source"
        )
    return source


@dataclass
class Outcome:
    """What one ingest read, stored and refused."""

    rows: int = 0
    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    repeated: int = 0  # rows repeating an earlier row of the same input exactly (stored once)
    error_count: int = 0
    errors: list[RowError] = field(default_factory=list)
    new_customers: list[str] = field(default_factory=list)
    renamed: list[RenameView] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    late: list[LateView] = field(default_factory=list)
    stored: bool = False

    def counts(self) -> dict[str, int]:
        """What an import record and the audit log keep of it."""
        return {
            "rows": self.rows, "added": self.added, "replaced": self.replaced, "unchanged": self.unchanged,
            "repeated": self.repeated, "rejected": self.error_count,
        }  # fmt: skip


class Rejected(Exception):
    """All rows or none, and some were bad: raised out of the caller's transaction (so it rolls
    back whatever the import did), carrying what was wrong."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(f"{outcome.error_count} row(s) refused")
        self.outcome = outcome


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


class _Problem(str):
    """What is wrong with a value (a unit is a str too: this tells them apart)."""


class _Checker:
    """Checks one record at a time against the tenant's products and customers; what it learns
    (times, units, customers) is cached, so a row costs a few dictionary look-ups."""

    def __init__(self, session: Session, tenant: Tenant, staging: repo.Staging, now: datetime, label: str) -> None:
        self.products = {p.key: (p.id, Unit(p.unit)) for p in catalog.products(session, tenant.id)}
        self.customers = repo.customer_names(session, tenant.id)
        self.staging = staging
        self.now = now
        self.label = label
        self.times: dict[str, tuple[datetime, object] | str] = {}
        self.units: dict[tuple[str, str], Unit | _Problem] = {}
        self.new: dict[str, str] = {}
        self.renames: dict[str, tuple[str, str]] = {}
        self.unknown: dict[str, None] = {}
        self.seen: set[str] = set()
        self.first: datetime | None = None
        self.last: datetime | None = None

    def check(self, record: Record) -> repo.Staged | RowError:
        where = f"{self.label} {record.row}"
        customer = (record.customer or "").strip()
        product_key = (record.product or "").strip()
        for column, value in (("customer", customer), ("product", product_key)):
            if not value:
                return RowError(
                    row=record.row, column=column, value="", message=f"{where}, column {column}: empty; every row "
                    f"needs a {column}",
                )  # fmt: skip
        product = self.products.get(product_key)
        if product is None:
            known = ", ".join(sorted(self.products)[:10]) or "none yet"
            return RowError(
                row=record.row, column="product", value=product_key,
                message=f"{where}, column product: product {product_key!r} does not exist; add it first "
                f"(products: {known})",
            )  # fmt: skip
        moment = self._time(record.measured_at or "")
        if isinstance(moment, str):
            return RowError(
                row=record.row, column="measured_at", value=record.measured_at, message=f"{where}, column {moment}"
            )
        unit = self._unit(record.unit or "", product_key, product[1])
        if isinstance(unit, _Problem):
            return RowError(row=record.row, column="unit", value=record.unit, message=f"{where}, column unit: {unit}")
        quantity = self._quantity(record.quantity or "", unit)
        if isinstance(quantity, RowError):
            return quantity.model_copy(update={"row": record.row, "message": f"{where}, column {quantity.message}"})
        name = (record.customer_name or "").strip() or None
        problem = self._customer(customer, name)
        if problem is not None:
            return RowError(row=record.row, column="customer", value=customer, message=f"{where}: {problem}")
        self.seen.add(customer)
        at = moment[0]
        if self.first is None or at < self.first:
            self.first = at
        if self.last is None or at > self.last:
            self.last = at
        return (record.row, customer, product[0], moment[1], quantity, unit.value)

    def _time(self, text: str) -> tuple[datetime, object] | str:
        cached = self.times.get(text)
        if cached is not None:
            return cached
        result: tuple[datetime, object] | str
        try:
            if not text.strip():
                raise InvalidInput("measured_at: empty; every row needs a measured_at", field="measured_at")
            moment = parse_time("measured_at", text)
            if not EARLIEST <= moment.year <= LATEST:  # checked first: year 1 at +01:00 is before UTC's year 1
                raise InvalidInput(
                    f"measured_at: {moment.date()} is not a time meterbridge bills (years {EARLIEST} to {LATEST})"
                )
            moment = moment.astimezone(UTC)
            if moment > self.now + FUTURE_SKEW:
                raise InvalidInput(
                    f"measured_at: {moment.isoformat()} is in the future (it is {self.now:%Y-%m-%d %H:%M} UTC); "
                    "check the time and its zone"
                )
            result = (moment, self.staging.moment(moment))
        except InvalidInput as error:
            result = error.message
        if len(self.times) < 100_000:
            self.times[text] = result
        return result

    def _unit(self, text: str, product: str, unit: Unit) -> Unit | _Problem:
        key = (text, product)
        cached = self.units.get(key)
        if cached is not None:
            return cached
        result: Unit | _Problem
        try:
            if not text.strip():
                result = _Problem("empty; every row needs a unit")
            else:
                result = Unit.parse(text.strip())
                convert(Decimal(1), result, unit)
        except UnitError as error:
            result = _Problem(f"{error} (product {product} is measured in {unit.value})")
        self.units[key] = result
        return result

    def _quantity(self, text: str, unit: Unit) -> str | RowError:
        try:
            if not text.strip():
                raise InvalidInput("quantity: empty; every row needs a quantity")
            value = decimal_of("quantity", text, exponent=True)
        except InvalidInput as error:
            return RowError(column="quantity", value=text, message=error.message)
        if value < 0:
            return RowError(column="quantity", value=text, message=f"quantity: {text.strip()} cannot be negative")
        if value > MAX_QUANTITY:
            return RowError(column="quantity", value=text, message=f"quantity: {value} is more than any usage can be")
        text_form = canonical_quantity(value)
        if len(text_form) > 40:
            return RowError(
                column="quantity", value=text[:200], message=f"quantity: {text.strip()[:40]} has more digits than "
                "any usage is measured in (at most 40, e.g. 12 decimals)",
            )  # fmt: skip
        if unit is Unit.COUNT and value != value.to_integral_value():
            return RowError(
                column="quantity", value=text, message=f"quantity: {value} {unit.value} is not a whole number; "
                "licenses and devices are counted in whole units",
            )  # fmt: skip
        return text_form

    def _customer(self, customer: str, name: str | None) -> str | None:
        known = self.customers.get(customer)
        if known is not None:
            if name is not None and name != known[0] and len(name) <= 200:
                self.renames[customer] = (known[0], name)
            return None
        if customer in self.new:
            return None
        if name is None:
            if len(self.unknown) < MAX_UNKNOWN:
                self.unknown[customer] = None
            return f"customer {customer!r} does not exist: add it, or give a customer_name"
        if "/" in customer or len(customer) > 200:
            return f"customer: {customer!r} may not contain '/' or be longer than 200 characters"
        if len(name) > 200:
            return f"customer_name: {name[:40]!r}... is longer than 200 characters"
        self.new[customer] = name
        return None


def ingest(
    session: Session,
    tenant: Tenant,
    records: Iterable[Record | Bad],
    *,
    source: str,
    mode: Mode,
    now: datetime,
    label: str = "row",
    complete: bool = False,
    on_row: Callable[[int], None] | None = None,
) -> Outcome:
    """Check, stage and merge ``records`` in ``session`` (the caller's transaction). In mode
    ``all`` a bad row raises ``Rejected`` after every row was read: the caller's transaction rolls
    back, nothing is stored, the outcome lists what was wrong. ``complete``: the records are all
    the source has, so customers it created that are not among them are flagged as removed."""
    outcome = Outcome()
    _ingest(session, tenant, records, outcome, source=source, mode=mode, now=now, label=label,
            complete=complete, on_row=on_row)  # fmt: skip
    if mode is Mode.ALL and outcome.error_count:
        raise Rejected(outcome)
    outcome.stored = True
    return outcome


def _ingest(
    session: Session,
    tenant: Tenant,
    records: Iterable[Record | Bad],
    outcome: Outcome,
    *,
    source: str,
    mode: Mode,
    now: datetime,
    label: str,
    complete: bool,
    on_row: Callable[[int], None] | None,
) -> None:
    repo.lock_tenant(session, tenant.id)  # one import of a tenant at a time (customers and samples it adds)
    staging = repo.Staging(session)
    try:
        checker = _Checker(session, tenant, staging, now, label)
        batch: list[repo.Staged] = []
        staged = 0
        for record in records:
            outcome.rows += 1
            checked = checker.check(record) if isinstance(record, Record) else _bad(record)
            if isinstance(checked, RowError):
                _report(outcome, checked)
            elif not (mode is Mode.ALL and outcome.error_count):
                batch.append(checked)
                if len(batch) >= BATCH:
                    staging.add(batch)
                    staged += len(batch)
                    batch = []
                    if on_row is not None:
                        on_row(outcome.rows)
        staging.add(batch)
        staged += len(batch)
        outcome.unknown = list(checker.unknown)
        if mode is Mode.ALL and outcome.error_count:
            staging.close()
            return
        staging.index()
        dropped, repeated = _drop_repeats(staging, outcome, mode, label)
        staged -= dropped
        if mode is Mode.ALL and outcome.error_count:
            staging.close()
            return
        repo.add_customers(session, tenant.id, checker.new, source)
        repo.rename_customers(session, tenant.id, checker.renames, source, now)
        if checker.first is not None and checker.last is not None:
            outcome.late = _late(session, tenant, staging, source, checker.first, checker.last)
        outcome.added, outcome.replaced = staging.merge(tenant.id, source, now, staged=staged)
        outcome.unchanged = staged - outcome.added - outcome.replaced
        outcome.repeated = repeated
        outcome.new_customers = sorted(checker.new)
        outcome.renamed = [
            RenameView(customer=k, old_name=o, new_name=n) for k, (o, n) in sorted(checker.renames.items())
        ]
        if complete:
            outcome.removed = repo.flag_missing(session, tenant.id, source, checker.seen, now)
    except BaseException:
        raise  # the transaction rolls back, and the staging table with it (or the next import drops it)
    else:
        staging.close()


def _bad(bad: Bad) -> RowError:
    return RowError(row=bad.row, column=bad.column, value=bad.value, message=bad.message)


def _report(outcome: Outcome, error: RowError) -> None:
    outcome.error_count += 1
    if len(outcome.errors) < MAX_REPORTED:
        outcome.errors.append(error)


def _drop_repeats(staging: repo.Staging, outcome: Outcome, mode: Mode, label: str) -> tuple[int, int]:
    """Rows repeating an earlier row's identity: the same value is dropped quietly (a sample is
    stored once), another value is an error (the earlier row is kept in mode valid). How many rows
    left the staging table, and how many of them repeated an earlier row exactly."""
    dropped: list[int] = []
    repeated = 0
    for row, first, quantity, unit, first_quantity, first_unit in staging.repeats():
        dropped.append(row)
        if (quantity, unit) == (first_quantity, first_unit):
            repeated += 1
        else:
            _report(
                outcome,
                RowError(
                    row=row, column="quantity", value=quantity,
                    message=f"{label} {row}: repeats {label} {first} (the same customer, product and measured_at) "
                    f"with another value ({first_quantity} {first_unit}, now {quantity} {unit}); a sample is one "
                    f"measurement: keep one of them" + ("" if mode is Mode.ALL else f" ({label} {first} was stored)"),
                ),
            )  # fmt: skip
    staging.drop_rows(dropped)
    return len(dropped), repeated


def _late(
    session: Session, tenant: Tenant, staging: repo.Staging, source: str, first: datetime, last: datetime
) -> list[LateView]:
    zone = ZoneInfo(tenant.time_zone)
    period, end = Period.containing(last, zone), Period.containing(first, zone)
    late = []
    for _ in range(LATE_MONTHS):
        pushed_at = runs.first_write_of(session, tenant.id, str(period))
        if pushed_at is not None:
            changed = staging.changed_between(tenant.id, source, period.start(zone), period.end(zone))
            if changed:
                late.append(LateView(period=str(period), samples=changed, pushed_at=pushed_at))
        if period == end:
            break
        period = period.previous()
    return sorted(late, key=lambda view: view.period)
