"""Rules: the ConnectWise conditions language, parsed and evaluated here over agreements and additions.

Written independently of cwsim's implementation and checked against it by a differential test:
the same grammar and matching (docs/conditions.md): ``and`` before ``or``, keywords and field
names without case, SQL Server string matching (case-insensitive, ``%``/``*``/``_``/``[set]``
patterns), null failing every comparison but ``= null``, literal types checked against the
field's kind.

A :class:`Rule` is compiled once (syntax errors carry the position and a hint) and then tests
records: ConnectWise JSON objects (``{"type": {"name": ...}, "billStartDate": ...}``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from meterbridge.domain.errors import DomainError

Kind = Literal["string", "number", "boolean", "datetime"]
Record = Mapping[str, Any]

#: The fields rules may name, per record type, and their kinds (references as ``a/b``).
AGREEMENT_FIELDS: dict[str, Kind] = {
    "id": "number",
    "name": "string",
    "type/id": "number",
    "type/name": "string",
    "company/id": "number",
    "company/identifier": "string",
    "company/name": "string",
    "contact/id": "number",
    "contact/name": "string",
    "agreementStatus": "string",
    "cancelledFlag": "boolean",
    "startDate": "datetime",
    "endDate": "datetime",
    "billStartDate": "datetime",
    "noEndingDateFlag": "boolean",
    "prorateFlag": "boolean",
    "customerPO": "string",
    "parentAgreement/id": "number",
    "parentAgreement/name": "string",
    "billAmount": "number",
    "dateCancelled": "datetime",
    "workOrder": "string",
    "internalNotes": "string",
}
ADDITION_FIELDS: dict[str, Kind] = {
    "id": "number",
    "product/id": "number",
    "product/identifier": "string",
    "quantity": "number",
    "unitPrice": "number",
    "unitCost": "number",
    "billCustomer": "string",
    "effectiveDate": "datetime",
    "cancelledDate": "datetime",
    "invoiceDescription": "string",
    "description": "string",
    "agreementId": "number",
    "agreementStatus": "string",
    "serialNumber": "string",
    "taxableFlag": "boolean",
    "uom": "string",
}

HINT = (
    "Strings go in double or single quotes, datetimes in square brackets ([2026-10-01T00:00:00Z]), numbers as "
    "digits with an optional point and minus sign, booleans as true or false, and null as null; combine "
    "comparisons with and / or and parentheses."
)


class RuleError(DomainError):
    """A rule that cannot be read or does not fit the fields it names."""

    def __init__(self, message: str, text: str, position: int | None = None) -> None:
        self.text = text
        self.position = position
        pointer = ""
        if position is not None:
            pointer = f" at position {position}: {text[:position]}»{text[position:]}"
        super().__init__(f"{message}{pointer}. {HINT}")


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<datetime>\[[^\]]*\])
  | (?P<op><=|>=|!=|=|<|>)
  | (?P<punct>[(),])
  | (?P<number>-?(?:\d+(?:\.\d*)?|\.\d+)(?![A-Za-z0-9_]))
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*(?![/A-Za-z0-9_]))
    """,
    re.VERBOSE | re.DOTALL,
)
_DATE = re.compile(
    r"\s*(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,7}))?)?)?\s*(Z|z|[+-]\d\d:?\d\d)?\s*"
)
_KEYWORDS = {"and", "or", "not", "contains", "like", "in", "true", "false", "null"}


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    at: int


def _lex(text: str) -> list[_Tok]:
    tokens, at = [], 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None:
            raise RuleError(f"unexpected {text[at]!r}", text, at)
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(_Tok(kind, match.group(), at))
        at = match.end()
    tokens.append(_Tok("end", "", len(text)))
    return tokens


def _literal(token: _Tok, text: str) -> tuple[str, Any]:
    """(kind, value) of a literal token: kind string/number/boolean/datetime/null."""
    if token.kind == "string":
        return "string", re.sub(r"\\(.)", r"\1", token.text[1:-1], flags=re.DOTALL)
    if token.kind == "number":
        return "number", Decimal(token.text)
    if token.kind == "datetime":
        return "datetime", _parse_moment(token.text[1:-1], text, token.at)
    if token.kind == "word" and token.text.lower() in ("true", "false"):
        return "boolean", token.text.lower() == "true"
    if token.kind == "word" and token.text.lower() == "null":
        return "null", None
    found = "the end" if token.kind == "end" else repr(token.text)
    raise RuleError(f"expected a value, found {found}", text, token.at)


def _parse_moment(inner: str, text: str, at: int) -> datetime:
    match = _DATE.fullmatch(inner)
    if match is None:
        raise RuleError(f"[{inner}] is not a date or datetime", text, at)
    y, mo, d, h, mi, s, frac, off = match.groups()
    tz: timezone = UTC
    if off and off.upper() != "Z":
        digits = off[1:].replace(":", "")
        if int(digits[:2]) > 23 or int(digits[2:]) > 59:
            raise RuleError(f"[{inner}] has an impossible offset", text, at)
        delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        tz = timezone(-delta if off[0] == "-" else delta)
    try:
        return datetime(
            int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), int((frac or "").ljust(6, "0")[:6]), tz
        )
    except ValueError:
        raise RuleError(f"[{inner}] is not a valid date", text, at) from None


Test = Callable[[Record], bool]


class _Compiler:
    """Recursive descent straight to closures: parsing and type checking in one pass."""

    def __init__(self, text: str, fields: Mapping[str, Kind]) -> None:
        self.text = text
        self.tokens = _lex(text)
        self.at = 0
        self.fields = {name.lower(): (tuple(name.split("/")), kind) for name, kind in fields.items()}
        self.depth = 0

    def peek(self) -> _Tok:
        return self.tokens[self.at]

    def take(self) -> _Tok:
        token = self.tokens[self.at]
        self.at = min(self.at + 1, len(self.tokens) - 1)
        return token

    def word(self, *words: str) -> str | None:
        token = self.peek()
        if token.kind == "word" and token.text.lower() in words:
            self.take()
            return token.text.lower()
        return None

    def expression(self) -> Test:
        self.depth += 1
        if self.depth > 64:
            raise RuleError("parentheses nested too deeply", self.text, self.peek().at)
        alternatives = [self.conjunction()]
        while self.word("or"):
            alternatives.append(self.conjunction())
        self.depth -= 1
        if len(alternatives) == 1:
            return alternatives[0]
        return lambda record: any(test(record) for test in alternatives)

    def conjunction(self) -> Test:
        parts = [self.primary()]
        while self.word("and"):
            parts.append(self.primary())
        if len(parts) == 1:
            return parts[0]
        return lambda record: all(test(record) for test in parts)

    def primary(self) -> Test:
        if self.peek().kind == "punct" and self.peek().text == "(":
            self.take()
            inner = self.expression()
            closing = self.take()
            if closing.text != ")":
                raise RuleError("expected ')'", self.text, closing.at)
            return inner
        return self.comparison()

    def comparison(self) -> Test:
        token = self.take()
        if token.kind != "word" or token.text.lower() in _KEYWORDS:
            raise RuleError("expected a field name", self.text, token.at)
        found = self.fields.get(token.text.lower())
        if found is None:
            raise RuleError(
                f"unknown field {token.text!r}; rules can use {', '.join(sorted(self.fields))}", self.text, token.at
            )
        path, kind = found
        operator_token = self.peek()
        if operator_token.kind == "op":
            self.take()
            return _compare(
                path, kind, operator_token.text, [_literal(self.take(), self.text)], False, self.text, operator_token.at
            )
        negated = self.word("not") is not None
        operator = self.word("contains", "like", "in")
        if operator is None:
            wanted = "contains, like or in after not" if negated else f"an operator after {token.text}"
            raise RuleError(f"expected {wanted}", self.text, self.peek().at)
        if operator != "in":
            return _compare(
                path, kind, operator, [_literal(self.take(), self.text)], negated, self.text, operator_token.at
            )
        opening = self.take()
        if opening.text != "(":
            raise RuleError("expected '(' after in", self.text, opening.at)
        values = [_literal(self.take(), self.text)]
        while self.peek().text == ",":
            self.take()
            values.append(_literal(self.take(), self.text))
        closing = self.take()
        if closing.text != ")":
            raise RuleError("expected ',' or ')' in the in-list", self.text, closing.at)
        return _compare(path, kind, "in", values, negated, self.text, operator_token.at)


def _field_value(record: Record, path: Sequence[str]) -> Any:
    value: Any = record
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _normal(kind: Kind, raw: Any) -> Any:
    """A record's raw JSON value as comparable Python, or None."""
    if raw is None:
        return None
    if kind == "string":
        return raw.casefold() if isinstance(raw, str) else None
    if kind == "number":
        return Decimal(str(raw)) if isinstance(raw, int | float | Decimal) and not isinstance(raw, bool) else None
    if kind == "boolean":
        return raw if isinstance(raw, bool) else None
    if isinstance(raw, datetime):
        return raw if raw.tzinfo else raw.replace(tzinfo=UTC)
    if isinstance(raw, str):
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def like_pattern(pattern: str) -> re.Pattern[str]:
    """SQL Server LIKE (``%``, ``_``, ``[set]``, ``[^set]``) plus ``*``, case-insensitive, whole value."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        close = pattern.find("]", i + 2) if ch == "[" else -1
        if ch in "%*":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        elif ch == "[" and close >= 0:
            body = pattern[i + 1 : close]
            negated = len(body) > 1 and body[0] == "^"
            members = body[1:] if negated else body
            parts, j = [], 0
            while j < len(members):
                if j + 2 < len(members) and members[j + 1] == "-" and members[j] <= members[j + 2]:
                    parts.append(re.escape(members[j]) + "-" + re.escape(members[j + 2]))
                    j += 3
                else:
                    parts.append(re.escape(members[j]))
                    j += 1
            out.append(("[^" if negated else "[") + "".join(parts) + "]")
            i = close
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


_NAMES = {"string": "string", "number": "numeric", "boolean": "boolean", "datetime": "datetime", "null": "null"}


def _compare(
    path: tuple[str, ...],
    kind: Kind,
    operator: str,
    values: list[tuple[str, Any]],
    negated: bool,
    text: str,
    at: int,
) -> Test:
    if any(value_kind == "null" for value_kind, _ in values):
        if operator not in ("=", "!="):
            raise RuleError("null can only be compared with = or !=", text, at)
        wanted_null = operator == "="
        return lambda record: (_field_value(record, path) is None) == wanted_null
    if operator in ("contains", "like") and kind != "string":
        raise RuleError(f"{operator} works on text, and {'/'.join(path)} is {_NAMES[kind]}", text, at)
    for value_kind, _ in values:
        if value_kind != kind:
            raise RuleError(f"{'/'.join(path)} holds {_NAMES[kind]} values, not {_NAMES[value_kind]}", text, at)
    if kind == "boolean" and operator not in ("=", "!=", "in"):
        raise RuleError(f"{operator} cannot compare true/false", text, at)
    literals = [value.casefold() if kind == "string" else value for _, value in values]

    if operator in ("contains", "like"):
        regex = like_pattern(f"%{values[0][1]}%" if operator == "contains" else values[0][1])

        def matches(record: Record) -> bool:
            raw = _field_value(record, path)
            return isinstance(raw, str) and (regex.fullmatch(raw) is not None) != negated

        return matches
    if operator == "in":
        members = set(literals)

        def within(record: Record) -> bool:
            current = _normal(kind, _field_value(record, path))
            return current is not None and (current in members) != negated

        return within
    target = literals[0]
    compare: Callable[[Any, Any], bool] = {
        "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }[operator]

    def compared(record: Record) -> bool:
        current = _normal(kind, _field_value(record, path))
        return current is not None and compare(current, target)

    return compared


@dataclass(frozen=True)
class Rule:
    """A compiled rule; ``Rule.compile(text, AGREEMENT_FIELDS)`` raises RuleError when it cannot be."""

    text: str
    test: Test

    @classmethod
    def compile(cls, text: str, fields: Mapping[str, Kind]) -> Rule:
        if not text.strip():
            raise RuleError("a rule cannot be empty", text, 0)
        compiler = _Compiler(text, fields)
        test = compiler.expression()
        rest = compiler.peek()
        if rest.kind != "end":
            raise RuleError("expected and, or or the end of the rule", text, rest.at)
        return cls(text, test)

    def __call__(self, record: Record) -> bool:
        return self.test(record)


class Resolution(StrEnum):
    RESOLVED = "resolved"
    AMBIGUOUS = "ambiguous"
    NONE = "none"
    PINNED = "pinned"


@dataclass(frozen=True)
class Resolved:
    """Which record a rule (or a pin) picks among candidates: one, several (ambiguous) or none."""

    outcome: Resolution
    chosen: Record | None
    candidates: tuple[Record, ...]
    reason: str


def resolve(
    rule: Rule | None, candidates: Sequence[Record], *, pin: int | None = None, what: str = "agreement"
) -> Resolved:
    """Never guesses: a pin wins; else exactly one match resolves, several are ambiguous."""
    if pin is not None:
        for record in candidates:
            if record.get("id") == pin:
                return Resolved(Resolution.PINNED, record, (record,), f"{what} {pin} pinned by hand")
        return Resolved(Resolution.NONE, None, (), f"the pinned {what} {pin} is not among this company's")
    if rule is None:
        return Resolved(Resolution.NONE, None, (), f"no {what} rule and no pin")
    matches = tuple(record for record in candidates if rule(record))
    if len(matches) == 1:
        return Resolved(Resolution.RESOLVED, matches[0], matches, f"the rule matches {what} {matches[0].get('id')}")
    if not matches:
        return Resolved(Resolution.NONE, None, (), f"no {what} matches the rule {rule.text!r}")
    ids = ", ".join(str(record.get("id")) for record in matches)
    return Resolved(
        Resolution.AMBIGUOUS,
        None,
        matches,
        f"{len(matches)} {what}s match the rule ({ids}): pin one or make the rule narrower",
    )
