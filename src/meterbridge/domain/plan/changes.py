"""The plan's values: what a line goes to, what ConnectWise holds, and the changes between them.

Changes are values (create, update with the fields that change old -> new, cancel, noop,
blocked with a reason in ConnectWise's terms and what to do); the checksum over their canonical
content is what an approval carries, and each change's digest recognises an approved write.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from json.encoder import encode_basestring_ascii as _string
from typing import Any

from meterbridge.domain.billing import BillMode, DesiredLine
from meterbridge.domain.explanation import Explanation
from meterbridge.domain.money import ZERO, round_amount
from meterbridge.domain.periods import Period


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
    #: the ConnectWise product's own invoice text: what an addition says when the line has no description
    default_description: str | None = None
    #: why the line is left as it is this time (a provisional period without samples yet)
    waiting: str | None = None
    #: additions nobody owns that the line may bill beside, acknowledged (the configuration's ``beside``)
    beside: frozenset[int] = frozenset()
    #: what people call the line (its products: "storage") and the unit of its quantity ("GB",
    #: "blocks"): the reasons a safety hold gives name the line by them
    label: str = ""
    unit: str = ""


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
class LastMonth:
    """The latest month pushed for a line up to the plan's period, as its addition bills it: the
    jump guard (safety.py) weighs the line's quantity and amount now against it."""

    period: str  # 2026-09
    quantity: Decimal
    amount: Decimal  # what ConnectWise invoices for that month from the addition (domain/invoice.py)
    unit_price: Decimal | None = None  # its quantity's price: quantities at another price are other units


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
    #: what ConnectWise will invoice for the addition in the plan's period before the change and
    #: after it (domain/invoice.py applied to the addition as read and as the change leaves it)
    old_amount: Decimal = ZERO
    new_amount: Decimal = ZERO
    explanation: Explanation = field(default_factory=Explanation)
    #: a blocked line holds back its company's other writes, unless it is only out of this
    #: period's reach (a running line that already holds a later period)
    holds_company: bool = True
    #: a cancel that hands the line over to another addition (a switch of strategy): the key of
    #: the line that bills on, and the quantity the ended addition had (safety compares the two)
    successor: str | None = None
    old_quantity: Decimal | None = None
    #: the agreement prorates (the invoice model's amounts depend on it; a write's answer is checked by it)
    prorated: bool = False
    #: the period is invoiced on the agreement: what the write changes is not invoiced (corrections are)
    invoiced: bool = False
    #: the line's name and unit (``Target.label``, ``Target.unit``), for the reasons that name it
    label: str = ""
    unit: str = ""
    #: the latest month pushed for the line up to this period (None: never pushed); not part of the
    #: change's canonical content (an approval names the writes, not what they are compared with)
    last: LastMonth | None = None
    #: what the line bills for the period by the rules (quantity x price, Billable): what a blocked
    #: line would bill once written, instead of the nothing it bills while blocked
    would_bill: Decimal | None = None

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

    def canonical_json(self) -> str:
        """``canonical()`` as ``sha256_of`` writes it (sorted keys, no spaces, ASCII), without
        ``json.dumps``' generic walk: the checksum and the digest of every change are made of it."""
        values = ",".join(f"{_string(k)}:{_json(_text(v))}" for k, v in sorted(self.values.items()))
        fields = ",".join(f"[{_string(f.field)},{_json(_text(f.old))},{_json(_text(f.new))}]" for f in self.fields)
        return (
            f'{{"addition":{_json(self.addition_id)},"agreement":{_json(self.agreement_id)},"fields":[{fields}],'
            f'"key":{_string(self.key)},"kind":{_string(self.kind.value)},"reason":{_string(self.reason)},'
            f'"values":{{{values}}}}}'
        )

    def digest(self) -> str:
        """SHA-256 of this change's canonical content: an approved write is recognised by it."""
        return hashlib.sha256(f"[{self.canonical_json()}]".encode()).hexdigest()

    @property
    def is_write(self) -> bool:
        return self.kind in WRITES


def _json(value: Any) -> str:
    """One value as ``json.dumps`` writes it: the common kinds directly, anything else by it."""
    if isinstance(value, str):
        return _string(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


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
    #: additions of lines no longer desired that a desired line took over: addition id -> its key
    #: (recorded as the line's own when the plan is pushed)
    handovers: Mapping[int, str] = field(default_factory=dict)

    def of_kind(self, kind: ChangeKind) -> list[Change]:
        return [change for change in self.changes if change.kind is kind]

    @property
    def writes(self) -> list[Change]:
        return [c for c in self.changes if c.is_write]

    def counts(self) -> dict[str, int]:
        return {kind.value: len(self.of_kind(kind)) for kind in ChangeKind}


KIND_ORDER = {
    ChangeKind.BLOCKED: 0,
    ChangeKind.CANCEL: 1,
    ChangeKind.UPDATE: 2,
    ChangeKind.CREATE: 3,
    ChangeKind.NOOP: 4,
}


def sha256_of(payload: list[dict[str, Any]]) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def checksum(changes: Sequence[Change]) -> str:
    """SHA-256 over the canonical content of the changes: an approval names exactly this plan."""
    whole = Checksum()
    whole.add(changes)
    return whole.hexdigest()


class Checksum:
    """``checksum`` of changes given a part at a time, in order: the same digest as over all of
    them at once (the JSON list written piece by piece into the hash), so a plan made chunk by
    chunk is approved by the checksum of the whole."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256(b"[")
        self._first = True

    def add(self, changes: Sequence[Change]) -> None:
        for change in changes:
            text = change.canonical_json()
            self._hash.update(text.encode("utf-8") if self._first else b"," + text.encode("utf-8"))
            self._first = False

    def hexdigest(self) -> str:
        done = self._hash.copy()
        done.update(b"]")
        return done.hexdigest()


def billed(quantity: Decimal, unit_price: Decimal | None, bill_customer: str) -> Decimal:
    """What an addition charges on the invoice: its extended price when Billable, else nothing."""
    if unit_price is None or bill_customer != BillMode.BILLABLE.value:
        return ZERO
    return round_amount(quantity * unit_price)
