"""The ConnectWise ``conditions`` query language: parse, print and evaluate.

See docs/conditions.md for the grammar, the precedence and the matching rules.
"""

from cwsim.conditions.errors import GRAMMAR_HINT, ConditionsError
from cwsim.conditions.evaluate import FieldKind, FieldLookup, Predicate, compile_predicate, like_regex
from cwsim.conditions.nodes import (
    And,
    BoolValue,
    Comparison,
    DateTimeValue,
    Expression,
    Field,
    NullValue,
    NumberValue,
    Or,
    StringValue,
    Value,
)
from cwsim.conditions.parser import parse, parse_datetime_literal
from cwsim.conditions.printer import to_text, value_text

__all__ = [
    "GRAMMAR_HINT",
    "And",
    "BoolValue",
    "Comparison",
    "ConditionsError",
    "DateTimeValue",
    "Expression",
    "Field",
    "FieldKind",
    "FieldLookup",
    "NullValue",
    "NumberValue",
    "Or",
    "Predicate",
    "StringValue",
    "Value",
    "compile_predicate",
    "like_regex",
    "parse",
    "parse_datetime_literal",
    "to_text",
    "value_text",
]
