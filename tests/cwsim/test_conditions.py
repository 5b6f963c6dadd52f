"""The conditions language: parser, printer and evaluator (unit and property tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.depth import examples

from cwsim.conditions import (
    GRAMMAR_HINT,
    And,
    BoolValue,
    Comparison,
    ConditionsError,
    DateTimeValue,
    Expression,
    Field,
    FieldKind,
    NullValue,
    NumberValue,
    Or,
    StringValue,
    Value,
    compile_predicate,
    parse,
    to_text,
)
from cwsim.resources import BY_KEY

FIELD_KINDS: dict[str, FieldKind] = {
    "name": "string",
    "identifier": "string",
    "id": "integer",
    "quantity": "number",
    "closedflag": "boolean",
    "lastupdated": "datetime",
}
CANONICAL = {
    "name": "name",
    "identifier": "identifier",
    "id": "id",
    "quantity": "quantity",
    "closedflag": "closedFlag",
    "lastupdated": "lastUpdated",
}


def lookup(path: tuple[str, ...]) -> tuple[tuple[str, ...], FieldKind] | None:
    if len(path) == 2 and path == ("company", "name"):
        return ("company", "name"), "string"
    if len(path) == 1 and path[0] in FIELD_KINDS:
        return (CANONICAL[path[0]],), FIELD_KINDS[path[0]]
    return None


def matches(text: str, record: dict[str, Any]) -> bool:
    return compile_predicate(parse(text), lookup)(record)


# -- parsing -------------------------------------------------------------------------------


def test_documented_example_parses_with_and_binding_tighter_than_or() -> None:
    text = (
        '(contact/name like "Fred%" and closedFlag = false) and dateEntered > [2015-12-23T05:53:27Z] '
        'or summary contains "test" AND  summary != "Some Summary"'
    )
    tree = parse(text)
    assert isinstance(tree, Or)
    left, right = tree.items
    assert isinstance(left, And) and len(left.items) == 3  # the parenthesised and is flattened
    assert isinstance(right, And) and len(right.items) == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Board/Id = 123", Comparison(Field(("Board", "Id")), "=", NumberValue(Decimal(123)))),
        ("a != -1.50", Comparison(Field(("a",)), "!=", NumberValue(Decimal("-1.5")))),
        ("a >= .5", Comparison(Field(("a",)), ">=", NumberValue(Decimal("0.5")))),
        ("ClosedFlag = True", Comparison(Field(("ClosedFlag",)), "=", BoolValue(True))),
        ("x = NULL", Comparison(Field(("x",)), "=", NullValue())),
        ("s = 'it''s'", None),  # SQL doubling is not an escape: two adjacent strings are an error
        (r"s = 'it\'s'", Comparison(Field(("s",)), "=", StringValue("it's"))),
        (r's = "a \"b\" \\ c"', Comparison(Field(("s",)), "=", StringValue('a "b" \\ c'))),
        (
            "status/id NOT IN (1,2, 3)",
            Comparison(Field(("status", "id")), "in", tuple(NumberValue(Decimal(n)) for n in (1, 2, 3)), True),
        ),
        (
            'Summary Not Contains "Low Priority"',
            Comparison(Field(("Summary",)), "contains", StringValue("Low Priority"), True),
        ),
        ("name not like 'A*'", Comparison(Field(("name",)), "like", StringValue("A*"), True)),
        (
            "lastUpdated>[2024-01-01T00:00:00]",
            Comparison(Field(("lastUpdated",)), ">", DateTimeValue(datetime(2024, 1, 1, tzinfo=UTC))),
        ),
        (
            "d < [2024-01-01T10:00:00+02:00]",
            Comparison(Field(("d",)), "<", DateTimeValue(datetime(2024, 1, 1, 8, tzinfo=UTC))),
        ),
        (
            "d = [2024-02-29]",
            Comparison(Field(("d",)), "=", DateTimeValue(datetime(2024, 2, 29, tzinfo=UTC))),
        ),
    ],
)
def test_literals_and_operators(text: str, expected: Expression | None) -> None:
    if expected is None:
        with pytest.raises(ConditionsError):
            parse(text)
    else:
        assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("name = ", 7, "Expected a value but found the end"),
        ("name = 'open", 7, "Unterminated string"),
        ("(name = 'a'", 11, "Expected ')'"),
        ("name = 'a')", 10, "Expected 'and', 'or' or the end"),
        ("name 'a'", 5, "Expected an operator after 'name'"),
        ("name not = 'a'", 9, "contains, like or in after 'not'"),
        ("name in 'a'", 8, "'(' after in"),
        ("name in ()", 9, "Expected a value"),
        ("d > [2024-13-01]", 4, "Invalid DateTime value"),
        ("d > [2024-01-01", 4, "Unterminated DateTime"),
        ("and = 1", 0, "Expected a field name"),
        ("a = 1 or", 8, "Expected a field name"),
        ("a = 12abc", 4, "Invalid number"),
        ("a = yes", 4, "Expected a value but found 'yes'"),
        ("a ~ 1", 2, "Unexpected character '~'"),
    ],
)
def test_syntax_errors_name_the_position_and_carry_connectwise_hint(text: str, position: int, fragment: str) -> None:
    with pytest.raises(ConditionsError) as caught:
        parse(text)
    assert caught.value.position == position
    assert fragment in caught.value.detail
    assert caught.value.message.endswith(GRAMMAR_HINT)


def test_blank_conditions_mean_no_filter() -> None:
    assert parse("") is None
    assert parse("   ") is None


def test_nesting_is_bounded() -> None:
    with pytest.raises(ConditionsError, match="nested deeper"):
        parse("(" * 200 + "a = 1" + ")" * 200)
    assert parse("(" * 30 + "a = 1" + ")" * 30) == Comparison(Field(("a",)), "=", NumberValue(Decimal(1)))


# -- evaluating ----------------------------------------------------------------------------

RECORD = {
    "id": 7,
    "name": "Acme [East] 100% Backup_Pro",
    "identifier": "ACME",
    "quantity": 12.5,
    "closedFlag": False,
    "lastUpdated": "2026-10-01T08:00:00Z",
    "company": {"name": "Ümlaut GmbH"},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("identifier = 'acme'", True),  # case-insensitive, like SQL Server's default collation
        ("identifier != 'ACME'", False),
        ("name like 'acme%'", True),
        ("name like 'acme*'", True),
        ("name like 'Acme'", False),
        ("name like '%[[]East]%'", True),
        ("name like '%100[%]%'", True),
        ("name like '%200[%]%'", False),
        ("name like '%Backup[_]Pro'", True),
        ("name like '%Backup_Pro'", True),
        ("name like 'A[a-d]me%'", True),
        ("name like 'A[^c]me%'", False),
        ("name contains 'east'", True),
        ("name not contains 'east'", False),
        ("company/name = 'ümlaut gmbh'", True),
        ("id in (1, 7, 9)", True),
        ("id not in (1, 9)", True),
        ("identifier in ('x', 'acme')", True),
        ("quantity > 12", True),
        ("quantity <= 12.5 and quantity >= 12.50", True),
        ("closedFlag = false", True),
        ("closedFlag != true", True),
        ("lastUpdated > [2026-10-01T07:59:59Z]", True),
        ("lastUpdated = [2026-10-01T10:00:00+02:00]", True),
        ("lastUpdated < [2026-10-01]", False),
        ("id = 1 or id = 7 and identifier = 'nope'", False),  # and first: 1 or (7 and nope)
        ("(id = 1 or id = 7) and identifier = 'acme'", True),
        ("name < 'b'", True),
    ],
)
def test_evaluation(text: str, expected: bool) -> None:
    assert matches(text, RECORD) is expected


def test_null_matches_only_is_null() -> None:
    record = {"id": 1}  # name absent = null
    assert matches("name = null", record) is True
    assert matches("name != null", record) is False
    for text in (
        "name = 'x'",
        "name != 'x'",
        "name not contains 'x'",
        "name not in ('x')",
        "name not like 'x'",
    ):
        assert matches(text, record) is False, text
    assert matches("id != null", record) is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("closedFlag = 1", "Expected a boolean value, not a numeric"),
        ("id = 'seven'", "Expected a numeric value, not a string"),
        ("name = 5", "Expected a string value, not a numeric"),
        ("lastUpdated > '2026-01-01'", "Expected a datetime value, not a string"),
        ("id contains '7'", "contains needs a string field"),
        ("closedFlag > false", "cannot be used with the boolean field"),
        ("name > null", "null can only be compared with = or !="),
        ("colour = 'red'", "Unknown field 'colour'"),
    ],
)
def test_type_errors_use_connectwise_wording(text: str, message: str) -> None:
    with pytest.raises(ConditionsError) as caught:
        compile_predicate(parse(text), lookup)
    assert message in caught.value.message.split(". String values")[0]


def test_documented_error_text_is_exact() -> None:
    with pytest.raises(ConditionsError) as caught:
        compile_predicate(parse("closedFlag = 1"), lookup)
    assert caught.value.message == (
        "Expected a boolean value, not a numeric. String values should be enclosed with double or single quotes; "
        "DateTime values should be enclosed in square brackets; numbers should consist of only digits, and "
        "optionally a decimal point and a negation sign; boolean values should be indicated with the keywords "
        "true or false; null values should be indicated by the keyword null."
    )


def test_resource_lookup_sees_references_and_info_fields() -> None:
    additions = BY_KEY["additions"]
    assert additions.lookup(("product", "identifier")) == (("product", "identifier"), "string")
    assert additions.lookup(("lastupdated",)) == (("_info", "lastUpdated"), "datetime")
    assert additions.lookup(("_info", "dateentered")) == (("_info", "dateEntered"), "datetime")
    assert additions.lookup(("product", "colour")) is None
    assert additions.lookup(("product",)) is None  # a whole object cannot be compared


# -- properties ----------------------------------------------------------------------------

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True).filter(
    lambda n: n.lower() not in {"and", "or", "not", "contains", "like", "in", "true", "false", "null"}
)
fields = st.lists(names, min_size=1, max_size=3).map(lambda parts: Field(tuple(parts)))
moments = st.datetimes(
    min_value=datetime(1900, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive by design
    max_value=datetime(2200, 1, 1),  # noqa: DTZ001
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]),
)
values: st.SearchStrategy[Value] = st.one_of(
    st.text(max_size=12).map(StringValue),
    st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-(10**9), max_value=10**9).map(NumberValue),
    st.booleans().map(BoolValue),
    st.just(NullValue()),
    moments.map(DateTimeValue),
)


@st.composite
def comparisons(draw: st.DrawFn) -> Comparison:
    field = draw(fields)
    operator = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "contains", "like", "in"]))
    if operator == "in":
        return Comparison(field, "in", tuple(draw(st.lists(values, min_size=1, max_size=4))), draw(st.booleans()))
    negated = draw(st.booleans()) if operator in ("contains", "like") else False
    return Comparison(field, operator, draw(values), negated)


expressions: st.SearchStrategy[Expression] = st.recursive(
    comparisons(),
    lambda children: st.one_of(
        st.lists(children, min_size=2, max_size=4).map(lambda items: _flat(And, items)),
        st.lists(children, min_size=2, max_size=4).map(lambda items: _flat(Or, items)),
    ),
    max_leaves=12,
)


def _flat(kind: type[And] | type[Or], items: list[Expression]) -> Expression:
    flat: list[Expression] = []
    for item in items:
        flat.extend(item.items if isinstance(item, kind) else (item,))
    return kind(tuple(flat))


@given(expressions)
@settings(max_examples=examples(400), suppress_health_check=[HealthCheck.too_slow])
def test_print_then_parse_round_trips(tree: Expression) -> None:
    text = to_text(tree)
    assert parse(text) == tree
    assert to_text(parse(text)) == text  # printing is canonical  # type: ignore[arg-type]


@given(st.lists(comparisons(), min_size=3, max_size=3))
def test_and_binds_tighter_than_or(items: list[Comparison]) -> None:
    a, b, c = (to_text(item) for item in items)
    assert parse(f"{a} or {b} and {c}") == Or((items[0], And((items[1], items[2]))))
    assert parse(f"{a} and {b} or {c}") == Or((And((items[0], items[1])), items[2]))
    assert parse(f"({a} or {b}) and {c}") == And((Or((items[0], items[1])), items[2]))


@given(st.text(max_size=40))
def test_any_string_survives_quoting(text: str) -> None:
    for quoted in (to_text(Comparison(Field(("s",)), "=", StringValue(text))),):
        assert parse(quoted) == Comparison(Field(("s",)), "=", StringValue(text))
    single = "s = '" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    assert parse(single) == Comparison(Field(("s",)), "=", StringValue(text))


@given(st.text(max_size=80))
@settings(max_examples=examples(1000))
def test_no_input_crashes_the_parser(text: str) -> None:
    try:
        parse(text)
    except ConditionsError as error:
        assert error.position is None or 0 <= error.position <= len(text)


condition_alphabet = st.sampled_from(
    [
        "a",
        "b/c",
        " ",
        "=",
        "!=",
        "<",
        ">=",
        "(",
        ")",
        ",",
        "'x'",
        '"y"',
        "1",
        "-2.5",
        "[2024-01-01]",
        "and",
        "or",
        "not",
        "in",
        "like",
        "contains",
        "true",
        "null",
        "\\",
        "'",
        '"',
        "[",
        "]",
    ]
)


@given(st.lists(condition_alphabet, max_size=20).map("".join))
@settings(max_examples=examples(1000))
def test_no_token_soup_crashes_parser_or_evaluator(text: str) -> None:
    try:
        tree = parse(text)
        compile_predicate(tree, lambda path: (path, "string"))({"a": "x", "b": {"c": "y"}})
    except ConditionsError:
        pass
