"""Build ConnectWise ``conditions`` text with exact quoting, and split long in-lists.

Values are rendered so ConnectWise reads back exactly what was meant (docs/conditions.md):

* strings in double quotes, with ``\\`` and ``"`` escaped by a backslash; any Unicode as is;
* for ``like`` / ``contains``, the pattern characters ``%``, ``_``, ``*`` and ``[`` of the value
  are escaped as ``[%]``, ``[_]``, ``[*]`` and ``[[]`` so they match themselves (``like`` keeps
  the wildcards the caller writes on purpose when given a :class:`Pattern`);
* integers and Decimals in plain notation (never an exponent), booleans as ``true``/``false``,
  None as ``null``; datetimes as ``[yyyy-MM-ddTHH:mm:ssZ]`` in UTC, dates as midnight UTC.

Example: ``F("company/identifier").eq('Say "hi"') & F("id").in_([1, 2])`` gives
``company/identifier = "Say \\"hi\\"" and id in (1, 2)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TypeAlias

Scalar: TypeAlias = str | int | Decimal | bool | datetime | date | None

_LIKE_ESCAPES = {"%": "[%]", "_": "[_]", "*": "[*]", "[": "[[]"}


@dataclass(frozen=True)
class Pattern:
    """A ``like`` pattern whose ``%``/``*``/``_`` are meant as wildcards (no escaping)."""

    text: str


def quote(value: Scalar) -> str:
    """One literal, as ConnectWise reads it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot compare with {value}")
        return format(value, "f")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("datetimes in conditions must be timezone-aware")
        utc = value.astimezone(UTC)
        return f"[{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}Z]"
    if isinstance(value, date):
        return f"[{value.year:04d}-{value.month:02d}-{value.day:02d}T00:00:00Z]"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(f"cannot use a {type(value).__name__} in conditions")


def escape_like(text: str) -> str:
    """Make every character of ``text`` match itself inside a like/contains pattern."""
    return "".join(_LIKE_ESCAPES.get(ch, ch) for ch in text)


@dataclass(frozen=True)
class Condition:
    """Conditions text; combine with ``&`` and ``|`` (each side is parenthesised when needed)."""

    text: str
    kind: str = "comparison"  # "comparison", "and" or "or"

    def __and__(self, other: Condition) -> Condition:
        return all_of(self, other)

    def __or__(self, other: Condition) -> Condition:
        return any_of(self, other)

    def __str__(self) -> str:
        return self.text


def _join(kind: str, conditions: Sequence[Condition]) -> Condition:
    parts = [c for c in conditions if c.text]
    if not parts:
        return Condition("")
    if len(parts) == 1:
        return parts[0]
    rendered = [f"({c.text})" if kind == "and" and c.kind == "or" else c.text for c in parts]
    return Condition(f" {kind} ".join(rendered), kind)


def all_of(*conditions: Condition) -> Condition:
    return _join("and", conditions)


def any_of(*conditions: Condition) -> Condition:
    return _join("or", conditions)


@dataclass(frozen=True)
class F:
    """A field reference, ``F("type/name")``, with a method per operator."""

    name: str

    def __post_init__(self) -> None:
        parts = self.name.split("/")
        if not all(
            part and (part[0].isalpha() or part[0] == "_") and part.replace("_", "a").isalnum() for part in parts
        ):
            raise ValueError(f"not a ConnectWise field name: {self.name!r}")

    def _compare(self, operator: str, value: Scalar) -> Condition:
        return Condition(f"{self.name} {operator} {quote(value)}")

    def eq(self, value: Scalar) -> Condition:
        return self._compare("=", value)

    def ne(self, value: Scalar) -> Condition:
        return self._compare("!=", value)

    def lt(self, value: Scalar) -> Condition:
        return self._compare("<", value)

    def le(self, value: Scalar) -> Condition:
        return self._compare("<=", value)

    def gt(self, value: Scalar) -> Condition:
        return self._compare(">", value)

    def ge(self, value: Scalar) -> Condition:
        return self._compare(">=", value)

    def contains(self, text: str, *, negate: bool = False) -> Condition:
        operator = "not contains" if negate else "contains"
        return Condition(f"{self.name} {operator} {quote(escape_like(text))}")

    def like(self, pattern: str | Pattern, *, negate: bool = False) -> Condition:
        """A plain ``str`` matches literally; a :class:`Pattern` keeps its wildcards."""
        text = pattern.text if isinstance(pattern, Pattern) else escape_like(pattern)
        operator = "not like" if negate else "like"
        return Condition(f"{self.name} {operator} {quote(text)}")

    def starts_with(self, text: str) -> Condition:
        return Condition(f"{self.name} like {quote(escape_like(text) + '%')}")

    def ends_with(self, text: str) -> Condition:
        return Condition(f"{self.name} like {quote('%' + escape_like(text))}")

    def in_(self, values: Iterable[Scalar], *, negate: bool = False) -> Condition:
        rendered = [quote(v) for v in values]
        if not rendered:
            raise ValueError(f"an in-list for {self.name} needs at least one value")
        operator = "not in" if negate else "in"
        return Condition(f"{self.name} {operator} ({', '.join(rendered)})")

    def is_null(self) -> Condition:
        return Condition(f"{self.name} = null")

    def is_not_null(self) -> Condition:
        return Condition(f"{self.name} != null")


def chunk_in(
    field: F,
    values: Sequence[Scalar],
    fits: Callable[[Condition], bool],
    *,
    extra: Condition | None = None,
) -> Iterator[Condition]:
    """Split ``field in (values)`` (and ``extra``) into conditions that each ``fits``.

    ``fits`` says whether a whole request with those conditions is acceptable, typically that its
    URL stays within 2,000 characters. Values are packed greedily, in order, each exactly once.
    """
    extra = extra or Condition("")
    start = 0
    while start < len(values):
        if not fits(all_of(field.in_(values[start : start + 1]), extra)):
            raise ValueError(f"the value {values[start]!r} alone makes the request too long")
        # gallop: 1, 2, 4, ... values until one does not fit, so a probe is never much longer than
        # the chunk it finds (a URL of all the remaining ids can be megabytes), then bisect
        low, step = start + 1, 1
        high = low
        while high < len(values):
            high = min(len(values), start + 2 * step)
            if not fits(all_of(field.in_(values[start:high]), extra)):
                high -= 1
                break
            low, step = high, step * 2
        while low < high:  # the largest end index in [low, high] whose chunk still fits
            middle = (low + high + 1) // 2
            if fits(all_of(field.in_(values[start:middle]), extra)):
                low = middle
            else:
                high = middle - 1
        yield all_of(field.in_(values[start:low]), extra)
        start = low
