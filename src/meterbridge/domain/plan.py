"""The plan: desired lines against actual additions -> ordered, explained, checksummed changes.

Pure and deterministic, in the manner of octoDNS: changes are values (create, update with the
fields that change old -> new, cancel, noop, blocked with a reason in ConnectWise's terms and
what to do), sorted by line key, summed up by a checksum an approval carries, and judged by a
safety verdict (safety.py).

Rules applied here:
* only additions meterbridge owns or adopted (``owned_key``) are ever changed or cancelled;
* effective dates: per-period lines run from the period's first day to its last
  (``cancelledDate``); a running line starts on the first day of the period it was created in.
  An effective date before the agreement's billStartDate is clamped to it with a warning, or
  blocked; one in a period ConnectWise has already invoiced on a non-prorated agreement
  (before ``nextInvoiceDate``) is moved to the next invoice date with a warning, or blocked
  (policies, per tenant and per configuration); an agreement cancelled, or ended before the
  period, blocks its lines;
* one bill per period (DESIGN.md guarantee 7): a period already billed by a line's addition of
  the other strategy stays on it (a switch of strategy takes effect from the next period); a
  running addition that holds a later period is never given an older one; a running addition
  replaced by per-period lines ends the day before the first of them;
* zero usage: ``zero`` sends quantity 0, ``cancel`` ends the addition on the period's last day,
  ``leave`` changes nothing; nothing is created for zero usage;
* an owned addition whose line is gone (configuration removed) is cancelled;
* a line to a ConnectWise catalog item that is missing or inactive is blocked before any write;
* a company is written whole or not at all: one blocked line holds back the company's writes;
* drift: an owned addition edited in ConnectWise after our last write is reported, then
  overwritten, kept (no change) or held for a person, by policy.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from meterbridge.domain.billing import BillMode, DesiredLine, Strategy, ZeroPolicy
from meterbridge.domain.explanation import Explanation
from meterbridge.domain.money import ZERO, round_amount
from meterbridge.domain.periods import Period
from meterbridge.domain.policies import BillStartPolicy, DriftPolicy, InvoicedPolicy

__all__ = [
    "HELD_BACK",
    "ActualAddition",
    "AgreementView",
    "BillStartPolicy",
    "Change",
    "ChangeKind",
    "DriftPolicy",
    "FieldChange",
    "InvoicedPolicy",
    "Plan",
    "Target",
    "billed",
    "checksum",
    "plan",
]


class ChangeKind(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    CANCEL = "cancel"
    NOOP = "noop"
    BLOCKED = "blocked"


WRITES = (ChangeKind.CREATE, ChangeKind.UPDATE, ChangeKind.CANCEL)
HELD_BACK = "held back with the rest of the company, which is written whole or not at all"


@dataclass(frozen=True)
class AgreementView:
    """What the plan needs of the agreement a line resolved to."""

    id: int
    name: str
    bill_start: date | None = None
    end: date | None = None
    cancelled: bool = False
    next_invoice: date | None = None  # ConnectWise has invoiced the periods before it
    prorate: bool = False


@dataclass(frozen=True)
class Target:
    """A desired line and where it goes: an agreement, or why there is none."""

    line: DesiredLine
    agreement: AgreementView | None
    unresolved: str | None = None  # e.g. "2 agreements match the rule (12, 14): pin one ..."


@dataclass(frozen=True)
class ActualAddition:
    id: int
    agreement_id: int
    cw_product: str
    quantity: Decimal
    unit_price: Decimal | None
    unit_cost: Decimal | None
    bill_customer: str
    effective: date | None
    cancelled: date | None
    description: str | None = None
    owned_key: str | None = None  # the LineKey meterbridge created or adopted it for
    last_updated: datetime | None = None
    last_written: datetime | None = None  # when meterbridge last wrote it
    last_period: Period | None = None  # the latest period meterbridge pushed onto it


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    key: str
    customer: str
    cw_product: str
    agreement_id: int | None = None
    addition_id: int | None = None
    values: Mapping[str, Any] = field(default_factory=dict)  # the whole addition, for a create
    fields: tuple[FieldChange, ...] = ()  # what an update or a cancel changes
    reason: str = ""
    warnings: tuple[str, ...] = ()
    drift: bool = False
    old_amount: Decimal = ZERO  # what the invoice charges before (billed amounts, cents)
    new_amount: Decimal = ZERO  # and after the change
    explanation: Explanation = field(default_factory=Explanation)
    #: a blocked line holds back its company's other writes, unless it is only out of this
    #: period's reach (a running line that already holds a later period)
    holds_company: bool = True
    #: a cancel that hands the line over to another addition (a switch of strategy): the key of
    #: the line that bills on, and the quantity the ended addition had (safety compares the two)
    successor: str | None = None
    old_quantity: Decimal | None = None

    def canonical(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "key": self.key,
            "agreement": self.agreement_id,
            "addition": self.addition_id,
            "values": {k: _text(v) for k, v in sorted(self.values.items())},
            "fields": [[f.field, _text(f.old), _text(f.new)] for f in self.fields],
            "reason": self.reason,
        }

    def digest(self) -> str:
        """SHA-256 of this change's canonical content: an approved write is recognised by it."""
        return _sha256([self.canonical()])

    @property
    def is_write(self) -> bool:
        return self.kind in WRITES


def _text(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value else str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class Plan:
    period: Period
    changes: tuple[Change, ...]
    checksum: str
    provisional: bool = False  # the period is not over: a provisional bill of the usage so far

    def of_kind(self, kind: ChangeKind) -> list[Change]:
        return [change for change in self.changes if change.kind is kind]

    @property
    def writes(self) -> list[Change]:
        return [c for c in self.changes if c.is_write]

    def counts(self) -> dict[str, int]:
        return {kind.value: len(self.of_kind(kind)) for kind in ChangeKind}


_KIND_ORDER = {
    ChangeKind.BLOCKED: 0,
    ChangeKind.CANCEL: 1,
    ChangeKind.UPDATE: 2,
    ChangeKind.CREATE: 3,
    ChangeKind.NOOP: 4,
}


def _sha256(payload: list[dict[str, Any]]) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def checksum(changes: Sequence[Change]) -> str:
    """SHA-256 over the canonical content of the changes: an approval names exactly this plan."""
    return _sha256([c.canonical() for c in changes])


def billed(quantity: Decimal, unit_price: Decimal | None, bill_customer: str) -> Decimal:
    """What an addition charges on the invoice: its extended price when Billable, else nothing."""
    if unit_price is None or bill_customer != BillMode.BILLABLE.value:
        return ZERO
    return round_amount(quantity * unit_price)


def _covers(addition: ActualAddition, period: Period) -> bool:
    """The addition bills (part of) the period: it starts by the period's end and has not ended before it."""
    started = addition.effective is None or addition.effective <= period.last_day
    return started and (addition.cancelled is None or addition.cancelled >= period.first_day)


def _as_strategy(line: DesiredLine, strategy: Strategy, period: Period) -> DesiredLine:
    key = replace(line.key, period=str(period) if strategy is Strategy.PER_PERIOD else "running")
    zero = ZeroPolicy.ZERO if strategy is Strategy.PER_PERIOD and line.zero_policy is ZeroPolicy.CANCEL else None
    return replace(line, key=key, strategy=strategy, zero_policy=zero or line.zero_policy)


@dataclass(frozen=True)
class _Settled:
    """How a line bills this period once the additions of its other strategy are taken into account."""

    line: DesiredLine
    notes: tuple[str, ...] = ()
    blocked: str | None = None
    end_running: ActualAddition | None = None  # a running addition to end the day before the period
    keep_end: bool = False  # kept on an addition of the other strategy: its end date stays as it is


def _settle(
    line: DesiredLine, period: Period, others: Mapping[str, ActualAddition], history: Sequence[ActualAddition]
) -> _Settled:
    """``others``: per period key ("running", "2026-10", ...) of the line, the addition that counts for
    ``period``; ``history``: every addition of the line, whatever its key."""
    running = others.get("running")
    dated = others.get(str(period))
    if line.strategy is Strategy.RUNNING:
        if dated is not None and _covers(dated, period):
            return _Settled(
                _as_strategy(line, Strategy.PER_PERIOD, period),
                (
                    f"{period} is already billed by its own addition {dated.id}: it stays on it, and the switch to "
                    f"a running addition takes effect from {period.next()}",
                ),
            )
        if running is not None and running.last_period is not None and running.last_period > period:
            return _Settled(line, blocked=_older_period(running, period))
        if running is not None and not _covers(running, period) and _starts_after(running, period):
            return _Settled(
                line,
                blocked=(
                    f"the running addition {running.id} bills from {running.effective}, after {period}: a running "
                    f"addition from {period} would bill those months a second time. Bill {period} by hand in "
                    "ConnectWise, or push a period from "
                    f"{running.effective:%Y-%m} on"
                ),
            )
        if running is not None and _covers(running, period) and running.cancelled is not None:
            after = [a for a in history if a.id != running.id and _starts_after(a, running.cancelled)]
            if after:  # reopening it would bill the later months twice
                return _Settled(
                    line,
                    (
                        f"the running addition {running.id} ends on {running.cancelled}, before months billed by "
                        f"addition(s) {', '.join(str(a.id) for a in after)}: {period} is corrected on it, and it "
                        "stays ended",
                    ),
                    keep_end=True,
                )
        later = sorted(
            (key, addition)
            for key, addition in others.items()
            if key != "running" and key > str(period) and _covers(addition, Period.parse(key))
        )
        if later:
            key, addition = later[0]
            return _Settled(
                line,
                blocked=(
                    f"{key}, a later period, already has its own addition {addition.id}: a running addition "
                    f"from {period} would bill {key} a second time. The switch to a running addition starts "
                    f"with the latest period billed on its own: push {later[-1][0]} or later"
                ),
            )
        return _Settled(line)
    if running is None or not _covers(running, period):
        return _Settled(line)
    if running.last_period is not None and running.last_period > period:
        return _Settled(line, blocked=_older_period(running, period))
    if running.last_period == period or (running.effective is not None and running.effective >= period.first_day):
        return _Settled(
            _as_strategy(line, Strategy.RUNNING, period),
            (
                f"{period} is already billed by the running addition {running.id}: it stays on it, and the switch "
                f"to one addition per period takes effect from {period.next()}",
            ),
            keep_end=True,  # it may already end before a later month billed on its own
        )
    last = period.first_day - timedelta(days=1)
    return _Settled(
        line,
        (f"the running addition {running.id} ends on {last}: from {period} this line is billed per period",),
        end_running=running,
    )


def _starts_after(addition: ActualAddition, day: Period | date) -> bool:
    last = day.last_day if isinstance(day, Period) else day
    return addition.effective is not None and addition.effective > last


def _older_period(running: ActualAddition, period: Period) -> str:
    return (
        f"the running addition {running.id} already bills {running.last_period}, a later period: pushing {period} "
        f"onto it would replace {running.last_period}'s quantities with {period}'s. A running addition takes only "
        f"its latest period; correct {period} by hand in ConnectWise, or push {running.last_period} or later"
    )


def _effective_date(line: DesiredLine, period: Period, existing: ActualAddition | None) -> date:
    if line.strategy is Strategy.RUNNING and existing is not None and existing.effective is not None:
        return existing.effective
    return period.first_day


@dataclass(frozen=True)
class _Policies:
    bill_start: BillStartPolicy
    invoiced: InvoicedPolicy


def _decide_dates(
    line: DesiredLine, agreement: AgreementView, period: Period, existing: ActualAddition | None, policies: _Policies
) -> tuple[date | None, date | None, list[str], str | None]:
    """(effective, cancelled, warnings, blocked reason) for a line on its agreement."""
    if agreement.cancelled:
        return (
            None,
            None,
            [],
            (
                f"agreement {agreement.id} ({agreement.name}) is cancelled: ConnectWise refuses additions on a "
                "cancelled agreement; pin another agreement or reopen it"
            ),
        )
    if agreement.end is not None and agreement.end < period.first_day:
        return (
            None,
            None,
            [],
            (
                f"agreement {agreement.id} ({agreement.name}) ended on {agreement.end}, before {period}: extend its "
                "end date or pin another agreement"
            ),
        )
    effective = _effective_date(line, period, existing)
    cancelled = period.last_day if line.strategy is Strategy.PER_PERIOD else None
    warnings: list[str] = []
    if agreement.bill_start is not None and effective < agreement.bill_start:
        if agreement.bill_start > period.last_day:
            return (
                None,
                None,
                [],
                (
                    f"agreement {agreement.id} starts billing on {agreement.bill_start}, after {period}: ConnectWise "
                    "would refuse the addition (effectiveDate cannot be less than the agreement billing start date)"
                ),
            )
        if policies.bill_start is BillStartPolicy.BLOCK:
            return (
                None,
                None,
                [],
                (
                    f"effectiveDate {effective} is before agreement {agreement.id}'s billStartDate "
                    f"{agreement.bill_start}: ConnectWise refuses it (effectiveDate cannot be less than the agreement "
                    "billing start date); set the agreement's billing start date earlier or allow clamping "
                    "(bill_start_policy clamp)"
                ),
            )
        warnings.append(f"effectiveDate moved from {effective} to the agreement's billStartDate {agreement.bill_start}")
        effective = agreement.bill_start
    invoiced = agreement.next_invoice
    if existing is None and invoiced is not None and not agreement.prorate and effective < invoiced:
        said = (
            f"ConnectWise has already invoiced agreement {agreement.id} up to its next invoice date {invoiced} and "
            "the agreement is not prorated, so it refuses an addition dated before it (Since this period has "
            "already been invoiced ...)"
        )
        if cancelled is not None and invoiced > cancelled:
            return (
                None,
                None,
                [],
                f"{said}; {period} is invoiced already: turn on Prorate Agreement in ConnectWise, or bill {period} "
                "by hand",
            )
        if policies.invoiced is InvoicedPolicy.BLOCK:
            return (
                None,
                None,
                [],
                f"{said}; turn on Prorate Agreement in ConnectWise, or allow moving the effective date "
                "(invoiced_policy move)",
            )
        warnings.append(f"effectiveDate moved from {effective} to the next invoice date {invoiced}: {said}")
        effective = invoiced
    return effective, cancelled, warnings, None


def _values(line: DesiredLine, agreement_id: int, effective: date, cancelled: date | None) -> dict[str, Any]:
    values: dict[str, Any] = {
        "agreementId": agreement_id,
        "product": line.cw_product,
        "quantity": line.quantity,
        "billCustomer": line.bill_customer.value,
        "effectiveDate": effective,
    }
    if line.unit_price is not None:
        values["unitPrice"] = line.unit_price
    if line.unit_cost is not None:
        values["unitCost"] = line.unit_cost
    if cancelled is not None:
        values["cancelledDate"] = cancelled
    if line.description is not None:
        values["invoiceDescription"] = line.description
    return values


def _diff(line: DesiredLine, actual: ActualAddition, cancelled: date | None) -> list[FieldChange]:
    changes = []
    if actual.quantity != line.quantity:
        changes.append(FieldChange("quantity", actual.quantity, line.quantity))
    if line.unit_price is not None and actual.unit_price != line.unit_price:
        changes.append(FieldChange("unitPrice", actual.unit_price, line.unit_price))
    if line.unit_cost is not None and actual.unit_cost != line.unit_cost:
        changes.append(FieldChange("unitCost", actual.unit_cost, line.unit_cost))
    if actual.bill_customer != line.bill_customer.value:
        changes.append(FieldChange("billCustomer", actual.bill_customer, line.bill_customer.value))
    if line.description is not None and actual.description != line.description:
        changes.append(FieldChange("invoiceDescription", actual.description, line.description))
    if actual.cancelled != cancelled:
        changes.append(FieldChange("cancelledDate", actual.cancelled, cancelled))
    return changes


def _drifted(actual: ActualAddition) -> bool:
    return (
        actual.last_written is not None
        and actual.last_updated is not None
        and actual.last_updated > actual.last_written
    )


def _for_period(actual: Sequence[ActualAddition], period: Period) -> dict[str, ActualAddition]:
    """Per line key, the addition a line of ``period`` goes on: the one that bills (part of) the
    period, else the current one. A key can have several additions over time (a running line
    ended by a switch of strategy, started again later): a correction of an older period lands
    on the addition that billed it, never on a new one."""
    chosen: dict[str, ActualAddition] = {}

    def rank(addition: ActualAddition) -> tuple[bool, bool, int]:
        ongoing = addition.cancelled is None or addition.cancelled >= period.first_day
        return (_covers(addition, period), ongoing, addition.id)

    for addition in actual:
        if addition.owned_key is None:
            continue
        best = chosen.get(addition.owned_key)
        if best is None or rank(addition) > rank(best):
            chosen[addition.owned_key] = addition
    return chosen


def _current_owned(actual: Sequence[ActualAddition], period: Period) -> dict[str, ActualAddition]:
    """Per line key, the addition that counts now: one still running in (or after) the period
    first, else the newest; an addition ended in an earlier period is history."""
    current: dict[str, ActualAddition] = {}
    for addition in actual:
        if addition.owned_key is None:
            continue
        best = current.get(addition.owned_key)
        rank = (addition.cancelled is None or addition.cancelled >= period.first_day, addition.id)
        if best is None or rank > (best.cancelled is None or best.cancelled >= period.first_day, best.id):
            current[addition.owned_key] = addition
    return current


def plan(
    period: Period,
    targets: Sequence[Target],
    actual: Sequence[ActualAddition],
    *,
    bill_start_policy: BillStartPolicy = BillStartPolicy.CLAMP,
    invoiced_policy: InvoicedPolicy = InvoicedPolicy.MOVE,
    drift_policy: DriftPolicy = DriftPolicy.HOLD,
    scope_customers: frozenset[str] | None = None,
    catalog_problems: Mapping[str, str] | None = None,
    held_customers: Mapping[str, str] | None = None,
    provisional: bool = False,
) -> Plan:
    """Compare what ConnectWise should hold with what it holds (only what meterbridge owns).

    ``scope_customers`` limits which owned additions without a desired line are cancelled (a
    push of some companies must not cancel the others' lines); None: every customer in
    ``targets`` and ``actual``. ``catalog_problems``: ConnectWise product identifier (casefolded)
    -> why ConnectWise would refuse a line to it. ``held_customers``: customer -> why none of its
    writes may go ahead (for example a configuration that cannot be billed).
    """
    owned = _for_period(actual, period)
    by_prefix: dict[str, dict[str, ActualAddition]] = defaultdict(dict)
    for owned_key, addition in owned.items():
        prefix, _, period_key = owned_key.rpartition("/")
        by_prefix[prefix][period_key] = addition
    history: dict[str, list[ActualAddition]] = defaultdict(list)
    for addition in actual:
        if addition.owned_key is not None:
            history[addition.owned_key.rpartition("/")[0]].append(addition)
    changes: list[Change] = []
    seen_prefixes: set[str] = set()
    for target in targets:
        seen_prefixes.add(target.line.key.prefix)
        changes.extend(
            _plan_line(
                target,
                period,
                owned,
                by_prefix[target.line.key.prefix],
                history[target.line.key.prefix],
                _Policies(
                    target.line.bill_start_policy or bill_start_policy, target.line.invoiced_policy or invoiced_policy
                ),
                drift_policy,
            )
        )
    customers = (
        scope_customers
        if scope_customers is not None
        else ({t.line.customer for t in targets} | {a.owned_key.split("/")[0] for a in actual if a.owned_key})
    )
    for key, existing in _current_owned(actual, period).items():
        prefix, _, period_key = key.rpartition("/")
        if prefix in seen_prefixes or key.split("/")[0] not in customers:
            continue
        if period_key not in ("running", str(period)):
            continue  # another period's line: not this plan's business
        if existing.effective is not None and existing.effective > period.last_day:
            continue  # it starts after this period
        if existing.last_period is not None and existing.last_period > period:
            continue  # it holds a later period: an older period's plan does not end it
        changes.append(_end(key, existing, period.last_day, "its billing configuration no longer produces this line"))
    changes = _hold(changes, catalog_problems or {}, held_customers or {})
    ordered = tuple(sorted(changes, key=lambda c: (c.key, _KIND_ORDER[c.kind])))
    return Plan(period, ordered, checksum(ordered), provisional)


def _end(key: str, existing: ActualAddition, last_day: date, reason: str, successor: str | None = None) -> Change:
    """Cancel an owned addition on ``last_day`` (a noop when it already ends by then)."""
    base = Change(
        ChangeKind.NOOP,
        key=key,
        customer=key.split("/")[0],
        cw_product=existing.cw_product,
        agreement_id=existing.agreement_id,
        addition_id=existing.id,
        old_amount=billed(existing.quantity, existing.unit_price, existing.bill_customer),
        successor=successor,
        old_quantity=existing.quantity,
    )
    if existing.cancelled is not None and existing.cancelled <= last_day:
        return replace(base, reason="already cancelled", new_amount=base.old_amount)
    return replace(
        base,
        kind=ChangeKind.CANCEL,
        fields=(FieldChange("cancelledDate", existing.cancelled, last_day),),
        reason=reason,
        new_amount=base.old_amount,
    )


def _plan_line(
    target: Target,
    period: Period,
    owned: Mapping[str, ActualAddition],
    others: Mapping[str, ActualAddition],
    history: Sequence[ActualAddition],
    policies: _Policies,
    drift_policy: DriftPolicy,
) -> list[Change]:
    settled = _settle(target.line, period, others, history)
    line = settled.line
    key = str(line.key)
    base = Change(
        ChangeKind.NOOP,
        key=key,
        customer=line.customer,
        cw_product=line.cw_product,
        explanation=line.explanation,
        warnings=settled.notes,
    )
    if target.agreement is None:
        return [replace(base, kind=ChangeKind.BLOCKED, reason=target.unresolved or "no agreement")]
    if settled.blocked is not None:
        refused = replace(base, kind=ChangeKind.BLOCKED, reason=settled.blocked, agreement_id=target.agreement.id)
        return [replace(refused, holds_company=False)]
    extra: list[Change] = []
    if settled.end_running is not None:
        ending = settled.end_running
        assert ending.owned_key is not None
        extra.append(
            _end(
                ending.owned_key,
                ending,
                period.first_day - timedelta(days=1),
                f"replaced by one addition per period from {period}",
                successor=key,
            )
        )
    existing = owned.get(key)
    if existing is not None and existing.cancelled is not None and existing.cancelled < period.first_day:
        existing = None  # ended in an earlier period: history stays, a new addition starts
    base = replace(base, agreement_id=target.agreement.id)
    effective, cancelled, warnings, blocked = _decide_dates(line, target.agreement, period, existing, policies)
    if blocked is not None:
        return [replace(base, kind=ChangeKind.BLOCKED, reason=blocked), *extra]
    assert effective is not None
    if settled.keep_end and existing is not None:
        cancelled = existing.cancelled
    warnings = [*settled.notes, *warnings]
    if existing is None:
        if line.quantity == 0:
            return [replace(base, reason="no usage: nothing to create"), *extra]
        values = _values(line, target.agreement.id, effective, cancelled)
        new_amount = billed(line.quantity, line.unit_price, line.bill_customer.value)
        create = replace(base, kind=ChangeKind.CREATE, warnings=tuple(warnings), new_amount=new_amount, values=values)
        return [create, *extra]
    drift = _drifted(existing)
    old_amount = billed(existing.quantity, existing.unit_price, existing.bill_customer)
    price = line.unit_price if line.unit_price is not None else existing.unit_price  # quantity only: CW's price
    new_amount = billed(line.quantity, price, line.bill_customer.value)
    base = replace(
        base,
        agreement_id=existing.agreement_id,
        addition_id=existing.id,
        drift=drift,
        old_amount=old_amount,
        new_amount=new_amount,
    )
    drift_note = (
        (
            f"addition {existing.id} was edited in ConnectWise on {existing.last_updated:%Y-%m-%d %H:%M} "
            "after meterbridge last wrote it"
        )
        if drift
        else ""
    )
    if line.quantity == 0 and line.zero_policy is not ZeroPolicy.ZERO:
        if line.zero_policy is ZeroPolicy.LEAVE or existing.cancelled is not None:
            return [replace(base, reason="no usage: left as it is", new_amount=old_amount), *extra]
        cancel = replace(
            base,
            kind=ChangeKind.CANCEL,
            reason="no usage: cancelled at the end of the period",
            fields=(FieldChange("cancelledDate", None, period.last_day),),
            warnings=(*settled.notes, drift_note) if drift else settled.notes,
            new_amount=old_amount,
        )
        return [cancel, *extra]
    diff = _diff(line, existing, cancelled)
    if not diff:
        return [base, *extra]
    if drift and drift_policy is DriftPolicy.KEEP_THEIRS:
        kept = replace(base, reason=f"{drift_note}; kept theirs (drift policy)", new_amount=old_amount)
        return [kept, *extra]
    update = replace(
        base,
        kind=ChangeKind.UPDATE,
        fields=tuple(diff),
        warnings=tuple([*warnings, drift_note] if drift else warnings),
    )
    return [update, *extra]


def _hold(changes: list[Change], catalog: Mapping[str, str], held: Mapping[str, str]) -> list[Change]:
    """Block writes ConnectWise would refuse (catalog), then hold back the other writes of every
    company with a blocked line, so a company is written whole or not at all."""
    checked = []
    for change in changes:
        problem = catalog.get(change.cw_product.casefold())
        if problem is not None and change.kind in (ChangeKind.CREATE, ChangeKind.UPDATE):
            change = replace(change, kind=ChangeKind.BLOCKED, reason=problem)
        checked.append(change)
    reasons: dict[str, str] = dict(held)
    for change in checked:
        if change.kind is ChangeKind.BLOCKED and change.holds_company:
            reasons.setdefault(change.customer, f"{change.cw_product}: {change.reason}")
    out = []
    for change in checked:
        reason = reasons.get(change.customer)
        if reason is not None and change.is_write:
            change = replace(
                change,
                kind=ChangeKind.BLOCKED,
                reason=f"{HELD_BACK}: {reason}",
            )
        out.append(change)
    return out
