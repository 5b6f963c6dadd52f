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
  blocked (policy); an agreement cancelled, or ended before the period, blocks its lines;
* zero usage: ``zero`` sends quantity 0, ``cancel`` ends the addition on the period's last day,
  ``leave`` changes nothing; nothing is created for zero usage;
* an owned addition whose line is gone (configuration removed) is cancelled;
* drift: an owned addition edited in ConnectWise after our last write is reported, then
  overwritten, kept (no change) or held for a person, by policy.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from meterbridge.domain.billing import DesiredLine, Strategy, ZeroPolicy
from meterbridge.domain.explanation import Explanation
from meterbridge.domain.periods import Period


class ChangeKind(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    CANCEL = "cancel"
    NOOP = "noop"
    BLOCKED = "blocked"


class BillStartPolicy(StrEnum):
    CLAMP = "clamp"  # move effectiveDate to billStartDate, with a warning
    BLOCK = "block"  # refuse the line, with the reason


class DriftPolicy(StrEnum):
    OVERWRITE = "overwrite"
    KEEP_THEIRS = "keep"
    HOLD = "hold"


@dataclass(frozen=True)
class AgreementView:
    """What the plan needs of the agreement a line resolved to."""

    id: int
    name: str
    bill_start: date | None = None
    end: date | None = None
    cancelled: bool = False


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
    fields: tuple[FieldChange, ...] = ()  # what an update changes
    reason: str = ""
    warnings: tuple[str, ...] = ()
    drift: bool = False
    old_amount: Decimal = Decimal(0)
    new_amount: Decimal = Decimal(0)
    explanation: Explanation = field(default_factory=Explanation)

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

    def of_kind(self, kind: ChangeKind) -> list[Change]:
        return [change for change in self.changes if change.kind is kind]

    @property
    def writes(self) -> list[Change]:
        return [c for c in self.changes if c.kind in (ChangeKind.CREATE, ChangeKind.UPDATE, ChangeKind.CANCEL)]

    def counts(self) -> dict[str, int]:
        return {kind.value: len(self.of_kind(kind)) for kind in ChangeKind}


_KIND_ORDER = {
    ChangeKind.BLOCKED: 0,
    ChangeKind.CANCEL: 1,
    ChangeKind.UPDATE: 2,
    ChangeKind.CREATE: 3,
    ChangeKind.NOOP: 4,
}


def checksum(changes: Sequence[Change]) -> str:
    """SHA-256 over the canonical content of the changes: an approval names exactly this plan."""
    payload = json.dumps([c.canonical() for c in changes], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _effective_date(line: DesiredLine, period: Period, existing: ActualAddition | None) -> date:
    if line.strategy is Strategy.RUNNING and existing is not None and existing.effective is not None:
        return existing.effective
    return period.first_day


def _decide_dates(
    target: Target, period: Period, existing: ActualAddition | None, policy: BillStartPolicy
) -> tuple[date | None, date | None, list[str], str | None]:
    """(effective, cancelled, warnings, blocked reason) for a line on its agreement."""
    agreement = target.agreement
    assert agreement is not None
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
    effective = _effective_date(target.line, period, existing)
    cancelled = period.last_day if target.line.strategy is Strategy.PER_PERIOD else None
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
        if policy is BillStartPolicy.BLOCK:
            return (
                None,
                None,
                [],
                (
                    f"effectiveDate {effective} is before agreement {agreement.id}'s billStartDate "
                    f"{agreement.bill_start}: ConnectWise refuses it (effectiveDate cannot be less than the agreement "
                    "billing start date); set the agreement's billing start date earlier or allow clamping"
                ),
            )
        warnings.append(f"effectiveDate moved from {effective} to the agreement's billStartDate {agreement.bill_start}")
        effective = agreement.bill_start
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


def _amount(quantity: Decimal, unit_price: Decimal | None) -> Decimal:
    return (quantity * unit_price).quantize(Decimal("0.01")) if unit_price is not None else Decimal(0)


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
    drift_policy: DriftPolicy = DriftPolicy.HOLD,
    scope_customers: frozenset[str] | None = None,
) -> Plan:
    """Compare what ConnectWise should hold with what it holds (only what meterbridge owns).

    ``scope_customers`` limits which owned additions without a desired line are cancelled (a
    push of some companies must not cancel the others' lines); None: every customer in
    ``targets`` and ``actual``.
    """
    owned = _current_owned(actual, period)
    changes: list[Change] = []
    seen: set[str] = set()
    for target in targets:
        line = target.line
        key = str(line.key)
        seen.add(key)
        existing = owned.get(key)
        if existing is not None and existing.cancelled is not None and existing.cancelled < period.first_day:
            existing = None  # ended in an earlier period: history stays, a new addition starts
        base = Change(
            ChangeKind.NOOP, key=key, customer=line.customer, cw_product=line.cw_product, explanation=line.explanation
        )
        if target.agreement is None:
            changes.append(replace(base, kind=ChangeKind.BLOCKED, reason=target.unresolved or "no agreement"))
            continue
        base = replace(base, agreement_id=target.agreement.id)
        effective, cancelled, warnings, blocked = _decide_dates(target, period, existing, bill_start_policy)
        if blocked is not None:
            changes.append(replace(base, kind=ChangeKind.BLOCKED, reason=blocked))
            continue
        assert effective is not None
        new_amount = _amount(line.quantity, line.unit_price)
        if existing is None:
            if line.quantity == 0:
                changes.append(replace(base, reason="no usage: nothing to create"))
            else:
                changes.append(
                    replace(
                        base,
                        kind=ChangeKind.CREATE,
                        warnings=tuple(warnings),
                        new_amount=new_amount,
                        values=_values(line, target.agreement.id, effective, cancelled),
                    )
                )
            continue
        drift = _drifted(existing)
        base = replace(
            base,
            agreement_id=existing.agreement_id,
            addition_id=existing.id,
            drift=drift,
            old_amount=_amount(existing.quantity, existing.unit_price),
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
                changes.append(replace(base, reason="no usage: left as it is", new_amount=base.old_amount))
            else:
                changes.append(
                    replace(
                        base,
                        kind=ChangeKind.CANCEL,
                        reason="no usage: cancelled at the end of the period",
                        fields=(FieldChange("cancelledDate", None, period.last_day),),
                        warnings=(drift_note,) if drift else (),
                    )
                )
            continue
        diff = _diff(line, existing, cancelled)
        if not diff:
            changes.append(replace(base, new_amount=new_amount))
        elif drift and drift_policy is DriftPolicy.KEEP_THEIRS:
            changes.append(
                replace(base, reason=f"{drift_note}; kept theirs (drift policy)", new_amount=base.old_amount)
            )
        else:
            changes.append(
                replace(
                    base,
                    kind=ChangeKind.UPDATE,
                    fields=tuple(diff),
                    new_amount=new_amount,
                    warnings=tuple([*warnings, drift_note] if drift else warnings),
                )
            )

    customers = (
        scope_customers
        if scope_customers is not None
        else ({t.line.customer for t in targets} | {a.owned_key.split("/")[0] for a in actual if a.owned_key})
    )
    for key, existing in owned.items():
        if key in seen or key.split("/")[0] not in customers:
            continue
        if key.rsplit("/", 1)[-1] not in ("running", str(period)):
            continue  # another period's line: not this plan's business
        base = Change(
            ChangeKind.NOOP,
            key=key,
            customer=key.split("/")[0],
            cw_product=existing.cw_product,
            agreement_id=existing.agreement_id,
            addition_id=existing.id,
            old_amount=_amount(existing.quantity, existing.unit_price),
        )
        if existing.cancelled is not None and existing.cancelled <= period.last_day:
            changes.append(replace(base, reason="already cancelled"))
        else:
            changes.append(
                replace(
                    base,
                    kind=ChangeKind.CANCEL,
                    fields=(FieldChange("cancelledDate", existing.cancelled, period.last_day),),
                    reason="its billing configuration no longer produces this line",
                )
            )
    ordered = tuple(sorted(changes, key=lambda c: (c.key, _KIND_ORDER[c.kind])))
    return Plan(period, ordered, checksum(ordered))
