"""Print a syntax tree back to canonical conditions text (``parse(to_text(t)) == t``)."""

from __future__ import annotations

from datetime import UTC

from cwsim.conditions.nodes import (
    And,
    BoolValue,
    Comparison,
    Expression,
    NullValue,
    NumberValue,
    Or,
    StringValue,
    Value,
)


def value_text(value: Value) -> str:
    if isinstance(value, StringValue):
        escaped = value.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, NumberValue):
        text = format(value.value, "f")
        return text
    if isinstance(value, BoolValue):
        return "true" if value.value else "false"
    if isinstance(value, NullValue):
        return "null"
    moment = value.value.astimezone(UTC)
    fraction = f".{moment.microsecond:06d}" if moment.microsecond else ""
    return f"[{moment:%Y-%m-%dT%H:%M:%S}{fraction}Z]"


def to_text(expression: Expression) -> str:
    if isinstance(expression, Comparison):
        return _comparison_text(expression)
    if isinstance(expression, And):
        return " and ".join(
            f"({to_text(item)})" if isinstance(item, Or) else to_text(item) for item in expression.items
        )
    return " or ".join(to_text(item) for item in expression.items)


def _comparison_text(comparison: Comparison) -> str:
    operator = comparison.operator
    if comparison.negated:
        operator = f"not {operator}"
    if isinstance(comparison.value, tuple):
        rendered = "(" + ", ".join(value_text(v) for v in comparison.value) + ")"
    else:
        rendered = value_text(comparison.value)
    return f"{comparison.field} {operator} {rendered}"
