"""Parse ConnectWise ``conditions`` text into a syntax tree.

Grammar (keywords and field names case-insensitive)::

    expression := and_group ( "or" and_group )*
    and_group  := primary ( "and" primary )*
    primary    := "(" expression ")" | comparison
    comparison := field ( compare value
                        | ["not"] ("contains" | "like") value
                        | ["not"] "in" "(" value ( "," value )* ")" )
    compare    := "=" | "!=" | "<" | "<=" | ">" | ">="
    field      := name ( "/" name )*          name := [A-Za-z_][A-Za-z0-9_]*
    value      := string | number | datetime | "true" | "false" | "null"
    string     := '"' ... '"' | "'" ... "'"   (a backslash makes the next character literal)
    number     := ["-"] digits ["." digits]   (or ["-"] "." digits)
    datetime   := "[" yyyy-mm-dd[Thh:mm[:ss[.fffffff]]][Z|+hh:mm] "]"

``and`` binds tighter than ``or``, as in SQL (ConnectWise turns conditions into a SQL WHERE
clause), so ``a or b and c`` means ``a or (b and c)``. See docs/conditions.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from cwsim.conditions.errors import ConditionsError
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

MAX_DEPTH = 64

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PATH_RE = re.compile(rf"{_NAME}(?:/{_NAME})*")
_NUMBER_RE = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)")
_OPERATOR_RE = re.compile(r"<=|>=|!=|=|<|>")
_DATETIME_RE = re.compile(
    r"\s*(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?"
    r"\s*(Z|z|[+-]\d{2}:?\d{2})?\s*"
)
KEYWORDS = frozenset({"and", "or", "not", "contains", "like", "in", "true", "false", "null"})


@dataclass(frozen=True)
class Token:
    kind: str  # "(" ")" "," "op" "word" "string" "number" "datetime" "end"
    text: str
    position: int
    value: object = None


def parse_datetime_literal(text: str, position: int = 0) -> datetime:
    """The datetime inside ``[...]``; without an offset it is taken as UTC."""
    match = _DATETIME_RE.fullmatch(text)
    if match is None:
        raise ConditionsError(f"Invalid DateTime value [{text}]", position)
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micro = int((fraction or "0").ljust(6, "0")[:6])
    tz: timezone = UTC
    if offset and offset.upper() != "Z":
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:])
        if hours > 23 or minutes > 59:
            raise ConditionsError(f"Invalid DateTime value [{text}]", position)
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        return datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micro, tz)
    except ValueError:
        raise ConditionsError(f"Invalid DateTime value [{text}]", position) from None


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "(),":
            tokens.append(Token(ch, ch, i))
            i += 1
        elif ch in "\"'":
            value, end = _read_string(text, i)
            tokens.append(Token("string", text[i:end], i, value))
            i = end
        elif ch == "[":
            close = text.find("]", i + 1)
            if close < 0:
                raise ConditionsError("Unterminated DateTime value, expected ']'", i)
            moment = parse_datetime_literal(text[i + 1 : close], i)
            tokens.append(Token("datetime", text[i : close + 1], i, moment))
            i = close + 1
        elif (match := _OPERATOR_RE.match(text, i)) is not None:
            tokens.append(Token("op", match.group(), i))
            i = match.end()
        elif (match := _NUMBER_RE.match(text, i)) is not None and (ch != "-" or match.end() > i + 1):
            end = match.end()
            if end < n and (text[end].isalnum() or text[end] == "_"):
                raise ConditionsError(f"Invalid number '{text[i : end + 1]}'", i)
            tokens.append(Token("number", match.group(), i, Decimal(match.group())))
            i = end
        elif (match := _PATH_RE.match(text, i)) is not None:
            end = match.end()
            if end < n and text[end] == "/":
                raise ConditionsError(f"Invalid field name '{text[i : end + 1]}'", i)
            tokens.append(Token("word", match.group(), i))
            i = end
        else:
            raise ConditionsError(f"Unexpected character {ch!r}", i)
    tokens.append(Token("end", "", n))
    return tokens


def _read_string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            if i + 1 >= len(text):
                break
            out.append(text[i + 1])
            i += 2
        elif ch == quote:
            return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    raise ConditionsError("Unterminated string value", start)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def keyword(self, *words: str) -> str | None:
        token = self.current
        if token.kind == "word" and token.text.lower() in words:
            self.advance()
            return token.text.lower()
        return None

    def expression(self) -> Expression:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ConditionsError(f"Conditions nested deeper than {MAX_DEPTH} levels", self.current.position)
        items = [self.and_group()]
        while self.keyword("or"):
            items.append(self.and_group())
        self.depth -= 1
        return _flatten(Or, items)

    def and_group(self) -> Expression:
        items = [self.primary()]
        while self.keyword("and"):
            items.append(self.primary())
        return _flatten(And, items)

    def primary(self) -> Expression:
        token = self.current
        if token.kind == "(":
            self.advance()
            inner = self.expression()
            if self.current.kind != ")":
                raise ConditionsError(_expected("')'", self.current), self.current.position)
            self.advance()
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        token = self.advance()
        if token.kind != "word" or token.text.lower() in KEYWORDS:
            raise ConditionsError(_expected("a field name", token), token.position)
        field = Field(tuple(token.text.split("/")))
        op_token = self.current
        if op_token.kind == "op":
            self.advance()
            return Comparison(field, op_token.text, self.value())
        negated = self.keyword("not") is not None
        word = self.keyword("contains", "like", "in")
        if word is None:
            what = "contains, like or in after 'not'" if negated else f"an operator after '{field}'"
            raise ConditionsError(_expected(what, self.current), self.current.position)
        if word == "in":
            return Comparison(field, "in", self.value_list(), negated)
        return Comparison(field, word, self.value(), negated)

    def value_list(self) -> tuple[Value, ...]:
        if self.current.kind != "(":
            raise ConditionsError(_expected("'(' after in", self.current), self.current.position)
        self.advance()
        values = [self.value()]
        while self.current.kind == ",":
            self.advance()
            values.append(self.value())
        if self.current.kind != ")":
            raise ConditionsError(_expected("',' or ')' in the in-list", self.current), self.current.position)
        self.advance()
        return tuple(values)

    def value(self) -> Value:
        token = self.advance()
        if token.kind == "string":
            assert isinstance(token.value, str)
            return StringValue(token.value)
        if token.kind == "number":
            assert isinstance(token.value, Decimal)
            return NumberValue(token.value)
        if token.kind == "datetime":
            assert isinstance(token.value, datetime)
            return DateTimeValue(token.value)
        if token.kind == "word":
            word = token.text.lower()
            if word in ("true", "false"):
                return BoolValue(word == "true")
            if word == "null":
                return NullValue()
        raise ConditionsError(_expected("a value", token), token.position)


def _expected(what: str, token: Token) -> str:
    found = "the end of the conditions" if token.kind == "end" else f"'{token.text}'"
    return f"Expected {what} but found {found}"


def _flatten(kind: type[And] | type[Or], items: list[Expression]) -> Expression:
    if len(items) == 1:
        return items[0]
    flat: list[Expression] = []
    for item in items:
        flat.extend(item.items if isinstance(item, kind) else (item,))
    return kind(tuple(flat))


def parse(text: str) -> Expression | None:
    """Parse conditions text; None for blank text (no filter). Raises ConditionsError."""
    if not text.strip():
        return None
    parser = _Parser(text)
    tree = parser.expression()
    if parser.current.kind != "end":
        raise ConditionsError(_expected("'and', 'or' or the end", parser.current), parser.current.position)
    return tree
