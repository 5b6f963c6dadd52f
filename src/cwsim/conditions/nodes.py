"""The syntax tree of a ConnectWise ``conditions`` expression.

Nodes are frozen values: two parses of equivalent text compare equal, which is what the
print/parse round-trip property relies on. ``and``/``or`` are n-ary and flattened (they are
associative), so ``(a and b) and c`` and ``a and (b and c)`` give the same tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TypeAlias


@dataclass(frozen=True)
class StringValue:
    value: str


@dataclass(frozen=True)
class NumberValue:
    value: Decimal


@dataclass(frozen=True)
class BoolValue:
    value: bool


@dataclass(frozen=True)
class NullValue:
    pass


@dataclass(frozen=True)
class DateTimeValue:
    """A ``[datetime]`` literal, always timezone-aware (a literal without an offset is UTC)."""

    value: datetime


Value: TypeAlias = StringValue | NumberValue | BoolValue | NullValue | DateTimeValue

COMPARISON_OPERATORS = ("=", "!=", "<", "<=", ">", ">=")
WORD_OPERATORS = ("contains", "like", "in")
NEGATABLE_OPERATORS = WORD_OPERATORS


@dataclass(frozen=True)
class Field:
    """A field reference such as ``company/identifier``; matched case-insensitively."""

    path: tuple[str, ...]

    @property
    def key(self) -> tuple[str, ...]:
        return tuple(part.lower() for part in self.path)

    def __str__(self) -> str:
        return "/".join(self.path)


@dataclass(frozen=True)
class Comparison:
    field: Field
    operator: str  # one of COMPARISON_OPERATORS or WORD_OPERATORS
    value: Value | tuple[Value, ...]  # a tuple only for ``in``
    negated: bool = False  # only for contains / like / in


@dataclass(frozen=True)
class And:
    items: tuple[Expression, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Expression, ...]


Expression: TypeAlias = Comparison | And | Or
