"""Rules: parsing, errors with positions, evaluation, resolution, and agreement with cwsim's conditions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.depth import examples

from cwsim.conditions import ConditionsError, compile_predicate, parse
from cwsim.resources import BY_KEY
from meterbridge.domain.rules import ADDITION_FIELDS, AGREEMENT_FIELDS, Resolution, Rule, RuleError, resolve

AGREEMENTS: list[dict[str, Any]] = [
    {
        "id": 1,
        "name": "Managed Services - Backup",
        "type": {"id": 1, "name": "Managed Services"},
        "company": {"id": 7, "identifier": "Acme", "name": "Acme Inc"},
        "cancelledFlag": False,
        "billStartDate": "2026-01-01T00:00:00Z",
        "agreementStatus": "Active",
    },
    {
        "id": 2,
        "name": "Backup",
        "type": {"id": 2, "name": "Backup Services"},
        "company": {"id": 7, "identifier": "Acme", "name": "Acme Inc"},
        "cancelledFlag": False,
        "billStartDate": "2026-10-15T00:00:00Z",
        "agreementStatus": "Active",
    },
    {
        "id": 3,
        "name": "Backup (legacy)",
        "type": {"id": 2, "name": "Backup Services"},
        "company": {"id": 7, "identifier": "Acme", "name": "Acme Inc"},
        "cancelledFlag": True,
        "agreementStatus": "Cancelled",
    },
]


def ids(text: str) -> list[int]:
    rule = Rule.compile(text, AGREEMENT_FIELDS)
    return [a["id"] for a in AGREEMENTS if rule(a)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('type/name = "Managed Services" and name contains "Backup"', [1]),
        ("name like 'Backup%'", [2, 3]),  # starts with
        ("name like '%Backup'", [1, 2]),  # ends with
        ("name = 'backup'", [2]),  # case-insensitive
        ("type/name in ('Backup Services', 'Other')", [2, 3]),
        ("name not contains 'legacy' and cancelledFlag = false", [1, 2]),
        ("billStartDate > [2026-06-01]", [2]),
        ("billStartDate = null", [3]),
        ("id = 1 or id = 2 and cancelledFlag = true", [1]),  # and binds tighter
        ("(id = 1 or id = 2) and cancelledFlag = false", [1, 2]),
        ("NAME NOT LIKE '*legacy*' AND Type/Name != 'Managed Services'", [2]),
    ],
)
def test_rules_over_agreements(text: str, expected: list[int]) -> None:
    assert ids(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment", "position"),
    [
        ("name = ", "expected a value, found the end", 7),
        ("name == 'x'", "expected a value, found '='", 6),
        ("colour = 'red'", "unknown field 'colour'", 0),
        ("name = 'x' and", "expected a field name", 14),
        ("(name = 'x'", "expected ')'", 11),
        ("cancelledFlag = 1", "cancelledFlag holds boolean values, not numeric", 14),
        ("id contains 'x'", "contains works on text", 3),
        ("name ~ 'x'", "unexpected '~'", 5),
        ("", "cannot be empty", 0),
    ],
)
def test_rule_errors_point_at_the_position(text: str, fragment: str, position: int) -> None:
    with pytest.raises(RuleError) as refused:
        Rule.compile(text, AGREEMENT_FIELDS)
    assert fragment in str(refused.value)
    assert refused.value.position == position
    assert "Strings go in double or single quotes" in str(refused.value)


def test_resolution_never_guesses() -> None:
    backup = Rule.compile('type/name = "Backup Services"', AGREEMENT_FIELDS)
    ambiguous = resolve(backup, AGREEMENTS)
    assert ambiguous.outcome is Resolution.AMBIGUOUS
    assert [c["id"] for c in ambiguous.candidates] == [2, 3]
    assert "pin one or make the rule narrower" in ambiguous.reason
    narrow = Rule.compile('type/name = "Backup Services" and cancelledFlag = false', AGREEMENT_FIELDS)
    resolved = resolve(narrow, AGREEMENTS)
    assert resolved.outcome is Resolution.RESOLVED
    assert resolved.chosen is not None
    assert resolved.chosen["id"] == 2
    none = resolve(Rule.compile("name = 'Nope'", AGREEMENT_FIELDS), AGREEMENTS)
    assert none.outcome is Resolution.NONE
    assert "no agreement matches the rule" in none.reason
    pinned = resolve(backup, AGREEMENTS, pin=3)
    assert pinned.outcome is Resolution.PINNED
    assert pinned.chosen is not None
    assert pinned.chosen["id"] == 3  # a pin overrides the rule, even an ambiguous one
    assert resolve(backup, AGREEMENTS, pin=99).outcome is Resolution.NONE
    assert resolve(None, AGREEMENTS).reason == "no agreement rule and no pin"


def test_addition_rules() -> None:
    rule = Rule.compile("product/identifier like 'BACKUP-%' and cancelledDate = null", ADDITION_FIELDS)
    assert rule({"product": {"identifier": "BACKUP-GB"}})
    assert not rule({"product": {"identifier": "BACKUP-GB"}, "cancelledDate": "2026-10-31T00:00:00Z"})
    assert not rule({"product": {"identifier": "MANAGED"}})
    assert Rule.compile("quantity > 99.5", ADDITION_FIELDS)({"quantity": Decimal("100")})


# -- differential: meterbridge's rules agree with cwsim's conditions ---------------------------

COMMON = {
    "name": "string",
    "id": "number",
    "cancelledFlag": "boolean",
    "billStartDate": "datetime",
    "type/name": "string",
    "company/identifier": "string",
    "agreementStatus": "string",
    "billAmount": "number",
}
agreements = BY_KEY["agreements"]
assert all(agreements.lookup(tuple(p.lower() for p in name.split("/"))) for name in COMMON)

texts = st.sampled_from(
    [
        "Backup",
        "backup",
        "BACKUP%",
        "%up",
        "_ackup",
        "[Bb]ackup",
        "Back*",
        "a'b",
        'x"y',
        "",
        "100%",
        "[[]x",
        "Acme",
        "Active",
        "Cancelled",
    ]
)
numbers = st.sampled_from(["0", "1", "2", "-1", "2.5", "100", "1e3"])
dates = st.sampled_from(["[2026-01-01]", "[2026-10-15T00:00:00Z]", "[2026-10-15T02:00:00+02:00]", "[bad]"])
field_names = st.sampled_from([*COMMON, "colour", "type"])
operators = st.sampled_from(
    ["=", "!=", "<", "<=", ">", ">=", "contains", "not contains", "like", "not like", "in", "not in", "==", ""]
)


def quoted(text: str, quote: str) -> str:
    return quote + text.replace("\\", "\\\\").replace(quote, "\\" + quote) + quote


values = st.one_of(
    st.builds(quoted, texts, st.sampled_from(['"', "'"])),
    numbers,
    dates,
    st.sampled_from(["true", "false", "null", "TRUE", "Null", "bare"]),
)


@st.composite
def comparisons(draw: st.DrawFn) -> str:
    operator = draw(operators)
    if (operator.endswith("in") and operator != "in") or operator == "in":
        return f"{draw(field_names)} {operator} ({', '.join(draw(st.lists(values, min_size=1, max_size=3)))})"
    return f"{draw(field_names)} {operator} {draw(values)}"


VALUES_BY_KIND = {
    "string": st.builds(quoted, texts, st.sampled_from(['"', "'"])),
    "number": numbers.filter(lambda n: "e" not in n),
    "boolean": st.sampled_from(["true", "false", "True"]),
    "datetime": dates.filter(lambda d: d != "[bad]"),
}
OPERATORS_BY_KIND = {
    "string": ["=", "!=", "<", ">=", "contains", "not contains", "like", "not like", "in", "not in"],
    "number": ["=", "!=", "<", "<=", ">", ">=", "in", "not in"],
    "boolean": ["=", "!=", "in"],
    "datetime": ["=", "!=", "<", "<=", ">", ">="],
}


@st.composite
def typed_comparisons(draw: st.DrawFn) -> str:
    """Mostly well-typed comparisons, so most expressions compile and are evaluated by both."""
    name = draw(st.sampled_from(sorted(COMMON)))
    kind = COMMON[name]
    operator = draw(st.sampled_from(OPERATORS_BY_KIND[kind]))
    if draw(st.integers(0, 9)) == 0:
        return f"{name} {draw(st.sampled_from(['=', '!=']))} null"
    if operator.endswith("in"):
        return f"{name} {operator} ({', '.join(draw(st.lists(VALUES_BY_KIND[kind], min_size=1, max_size=3)))})"
    return f"{name} {operator} {draw(VALUES_BY_KIND[kind])}"


expressions = st.recursive(
    st.one_of(typed_comparisons(), typed_comparisons(), typed_comparisons(), comparisons()),
    lambda inner: st.one_of(
        st.builds(lambda a, b, j: f"{a} {j} {b}", inner, inner, st.sampled_from(["and", "or", "AND", "Or"])),
        st.builds(lambda a: f"({a})", inner),
    ),
    max_leaves=6,
)
records = st.fixed_dictionaries(
    {},
    optional={
        "id": st.integers(0, 3),
        "name": st.sampled_from(["Backup", "backup services", "Back up", "[x] 100% Backup_pro", "a'b", 'x"y']),
        "cancelledFlag": st.booleans(),
        "billStartDate": st.sampled_from(["2026-01-01T00:00:00Z", "2026-10-15T00:00:00Z", "2026-12-31T23:59:59Z"]),
        "type": st.fixed_dictionaries({}, optional={"name": st.sampled_from(["Backup Services", "Managed"])}),
        "company": st.fixed_dictionaries({}, optional={"identifier": st.sampled_from(["Acme", "ACME", "Globex"])}),
        "agreementStatus": st.sampled_from(["Active", "Cancelled"]),
        "billAmount": st.sampled_from([0, 2.5, 100, -1]),
    },
)


@given(expressions, st.lists(records, min_size=1, max_size=5))
@settings(max_examples=examples(1500), suppress_health_check=[HealthCheck.too_slow])
def test_rules_agree_with_cwsim_conditions(text: str, batch: list[dict[str, Any]]) -> None:
    try:
        theirs = compile_predicate(parse(text), agreements.lookup)
    except ConditionsError:
        theirs = None
    try:
        ours = Rule.compile(text, COMMON)  # type: ignore[arg-type]
    except RuleError:
        ours = None
    assert (theirs is None) == (ours is None), text
    if theirs is not None and ours is not None:
        for record in batch:
            assert ours(record) == theirs(record), (text, record)
