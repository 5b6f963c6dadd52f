"""Evaluate a conditions syntax tree against records (JSON objects as dicts).

Semantics follow SQL Server, which ConnectWise translates conditions into (docs/conditions.md):

* string comparisons are case-insensitive (the default collation);
* ``like`` patterns: ``%`` and ``*`` match any run of characters, ``_`` one character,
  ``[abc]`` / ``[a-c]`` / ``[^a]`` a character class, so ``[[]``, ``[%]``, ``[_]`` and ``[*]``
  are the literal characters; ``contains "x"`` is ``like "%x%"``;
* a field that is null satisfies only ``= null``; every other comparison with it is false,
  negated ones included (SQL's unknown);
* a literal must fit the field's type: comparing a boolean field with a number gives
  ConnectWise's "Expected a boolean value, not a numeric" error.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from cwsim.conditions.errors import ConditionsError
from cwsim.conditions.nodes import (
    And,
    BoolValue,
    Comparison,
    DateTimeValue,
    Expression,
    NullValue,
    NumberValue,
    Or,
    StringValue,
    Value,
)

FieldKind = Literal["string", "integer", "number", "boolean", "datetime"]
#: Given a field path (lower-cased parts), its canonical key path in the record and its kind,
#: or None when the resource has no such field.
FieldLookup = Callable[[tuple[str, ...]], tuple[tuple[str, ...], FieldKind] | None]
Predicate = Callable[[Mapping[str, Any]], bool]

_KIND_NAMES: dict[str, str] = {
    "string": "string",
    "integer": "numeric",
    "number": "numeric",
    "boolean": "boolean",
    "datetime": "datetime",
}


def _literal_name(value: Value) -> str:
    if isinstance(value, StringValue):
        return "string"
    if isinstance(value, NumberValue):
        return "numeric"
    if isinstance(value, BoolValue):
        return "boolean"
    if isinstance(value, DateTimeValue):
        return "datetime"
    return "null"


@functools.lru_cache(maxsize=4096)
def like_regex(pattern: str) -> re.Pattern[str]:
    """Compile a SQL Server LIKE pattern (with ``*`` as a second any-run wildcard)."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch in "%*":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        elif ch == "[":
            close = pattern.find("]", i + 2)
            if close < 0:
                out.append(re.escape(ch))
            else:
                out.append(_char_class(pattern[i + 1 : close]))
                i = close
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def _char_class(body: str) -> str:
    negate = body.startswith("^") and len(body) > 1
    if negate:
        body = body[1:]
    parts: list[str] = []
    i = 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-" and body[i] <= body[i + 2]:
            parts.append(f"{re.escape(body[i])}-{re.escape(body[i + 2])}")
            i += 3
        else:
            parts.append(re.escape(body[i]))
            i += 1
    return ("[^" if negate else "[") + "".join(parts) + "]"


def _as_datetime(raw: Any) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _as_decimal(raw: Any) -> Decimal | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float | Decimal):
        return None
    try:
        return Decimal(str(raw))
    except InvalidOperation:
        return None


def _ordered(op: str, left: Any, right: Any) -> bool:
    if op == "=":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def _get(record: Mapping[str, Any], path: Sequence[str]) -> Any:
    current: Any = record
    for part in path:
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
    return current


def _compile_comparison(node: Comparison, lookup: FieldLookup) -> Predicate:
    found = lookup(node.field.key)
    if found is None:
        raise ConditionsError(f"Unknown field '{node.field}'")
    path, kind = found
    values = node.value if isinstance(node.value, tuple) else (node.value,)

    if any(isinstance(v, NullValue) for v in values):
        if node.operator not in ("=", "!="):
            raise ConditionsError(f"null can only be compared with = or != (field '{node.field}')")
        is_null = node.operator == "="
        return lambda record: (_get(record, path) is None) == is_null

    operator, negated = node.operator, node.negated
    if operator in ("contains", "like") and kind != "string":
        raise ConditionsError(f"{operator} needs a string field, '{node.field}' is {_KIND_NAMES[kind]}")
    expected: type[Value]
    convert: Callable[[Any], Any]
    if kind == "string":
        expected, convert = StringValue, lambda raw: raw.casefold() if isinstance(raw, str) else None
    elif kind in ("integer", "number"):
        expected, convert = NumberValue, _as_decimal
    elif kind == "boolean":
        expected, convert = BoolValue, lambda raw: raw if isinstance(raw, bool) else None
    else:
        expected, convert = DateTimeValue, _as_datetime
    for value in values:
        if not isinstance(value, expected):
            raise ConditionsError(f"Expected a {_KIND_NAMES[kind]} value, not a {_literal_name(value)}")

    if operator in ("contains", "like"):
        literal = values[0]
        assert isinstance(literal, StringValue)
        pattern = f"%{literal.value}%" if operator == "contains" else literal.value
        regex = like_regex(pattern)

        def match_like(record: Mapping[str, Any]) -> bool:
            raw = _get(record, path)
            if not isinstance(raw, str):
                return False
            return (regex.fullmatch(raw) is not None) != negated

        return match_like

    if kind == "boolean" and operator not in ("=", "!=", "in"):
        raise ConditionsError(f"Operator {operator} cannot be used with the boolean field '{node.field}'")
    literals = [convert(_literal_payload(v)) for v in values]

    if operator == "in":
        members = set(literals)

        def match_in(record: Mapping[str, Any]) -> bool:
            current = convert(_get(record, path))
            if current is None:
                return False
            return (current in members) != negated

        return match_in

    right = literals[0]

    def match_compare(record: Mapping[str, Any]) -> bool:
        current = convert(_get(record, path))
        if current is None:
            return False
        return _ordered(operator, current, right)

    return match_compare


def _literal_payload(value: Value) -> Any:
    if isinstance(value, StringValue):
        return value.value
    if isinstance(value, NumberValue):
        return value.value
    if isinstance(value, BoolValue):
        return value.value
    if isinstance(value, DateTimeValue):
        return value.value.isoformat()
    return None


def compile_predicate(expression: Expression | None, lookup: FieldLookup) -> Predicate:
    """Type-check ``expression`` against the fields ``lookup`` knows and return a record test."""
    if expression is None:
        return lambda record: True
    if isinstance(expression, Comparison):
        return _compile_comparison(expression, lookup)
    parts = [compile_predicate(item, lookup) for item in expression.items]
    if isinstance(expression, And):
        return lambda record: all(part(record) for part in parts)
    assert isinstance(expression, Or)
    return lambda record: any(part(record) for part in parts)
