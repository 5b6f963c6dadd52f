"""The conditions builder: exact quoting (checked with cwsim's independent parser) and chunking."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support.depth import examples

from cwsim.conditions import Comparison, DateTimeValue, NumberValue, StringValue, compile_predicate, parse
from meterbridge.connectwise import F, Pattern, all_of, any_of, chunk_in, escape_like, quote
from meterbridge.connectwise.conditions import Condition

HOSTILE = [
    'He said "hi"',
    "it's",
    "back\\slash\\",
    '\\"',
    "100% sure",
    "snake_case_name",
    "star*name",
    "[bracketed]",
    "ünïcødé ☃ 漢字",
    "",
    "  padded  ",
    "a\nnew line",
    "(parens) and or not",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_strings_parse_back_exactly(value: str) -> None:
    tree = parse(str(F("name").eq(value)))
    assert tree == Comparison(parse("name = 1").field, "=", StringValue(value))  # type: ignore[union-attr]


@given(st.text(max_size=30))
def test_any_string_round_trips_through_equality(value: str) -> None:
    tree = parse(str(F("company/name").eq(value)))
    assert isinstance(tree, Comparison)
    assert tree.value == StringValue(value)


@given(st.text(max_size=20), st.text(max_size=10), st.text(max_size=10))
@settings(max_examples=examples(300))
def test_contains_and_like_match_literally(needle: str, before: str, after: str) -> None:
    lookup = lambda path: (path, "string")  # noqa: E731
    record = {"name": before + needle + after}
    assert compile_predicate(parse(str(F("name").contains(needle))), lookup)(record)
    assert compile_predicate(parse(str(F("name").like(record["name"]))), lookup)(record)
    assert compile_predicate(parse(str(F("name").starts_with(before + needle))), lookup)(record)
    assert compile_predicate(parse(str(F("name").ends_with(needle + after))), lookup)(record)


def test_wildcards_in_values_do_not_widen_matches() -> None:
    lookup = lambda path: (path, "string")  # noqa: E731
    predicate = compile_predicate(parse(str(F("name").contains("50%_off"))), lookup)
    assert predicate({"name": "get 50%_off now"})
    assert not predicate({"name": "get 50 percent off now"})  # % and _ were not wildcards
    assert escape_like("[a]%_*") == "[[]a][%][_][*]"
    wild = compile_predicate(parse(str(F("name").like(Pattern("Back%")))), lookup)
    assert wild({"name": "Backup"})


def test_literals() -> None:
    assert quote(None) == "null"
    assert quote(True) == "true"
    assert quote(False) == "false"
    assert quote(-12) == "-12"
    assert quote(Decimal("1E+3")) == "1000"
    assert quote(Decimal("0.000001")) == "0.000001"
    assert quote(datetime(2026, 10, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))) == "[2026-10-01T00:00:00Z]"
    assert quote(date(2026, 10, 1)) == "[2026-10-01T00:00:00Z]"
    with pytest.raises(ValueError, match="timezone-aware"):
        quote(datetime(2026, 10, 1))  # noqa: DTZ001 - the point of the test
    with pytest.raises(TypeError):
        quote(1.5)  # type: ignore[arg-type]  # floats are not exact: use Decimal


@given(st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-(10**12), max_value=10**12))
def test_numbers_parse_back_exactly(value: Decimal) -> None:
    tree = parse(str(F("quantity").eq(value)))
    assert isinstance(tree, Comparison)
    assert tree.value == NumberValue(value)


def test_datetimes_parse_back_exactly() -> None:
    moment = datetime(2026, 11, 22, 13, 14, 15, tzinfo=UTC)
    tree = parse(str(F("lastUpdated").gt(moment)))
    assert isinstance(tree, Comparison)
    assert tree.value == DateTimeValue(moment)


def test_in_lists_and_combinations() -> None:
    assert str(F("id").in_([1, 2, 3])) == "id in (1, 2, 3)"
    assert str(F("status/name").in_(["A", 'B"'], negate=True)) == 'status/name not in ("A", "B\\"")'
    combined = (F("a").eq(1) | F("b").eq(2)) & F("c").eq(3)
    assert str(combined) == "(a = 1 or b = 2) and c = 3"
    assert str(all_of(F("a").eq(1), any_of())) == "a = 1"
    with pytest.raises(ValueError, match="at least one value"):
        F("id").in_([])
    with pytest.raises(ValueError, match="not a ConnectWise field name"):
        F("name; drop")


@given(
    st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=400, unique=True),
    st.integers(min_value=80, max_value=600),
)
@settings(max_examples=examples(100))
def test_chunks_fit_cover_every_value_once_and_keep_order(values: list[int], limit: int) -> None:
    extra = F("cancelledFlag").eq(False)

    def fits(condition: object) -> bool:
        return len(str(condition)) <= limit

    chunks = list(chunk_in(F("company/id"), values, fits, extra=extra))
    assert all(fits(chunk) for chunk in chunks)
    seen: list[int] = []
    for chunk in chunks:
        tree = parse(str(chunk))
        assert tree is not None
        in_list = tree.items[0] if hasattr(tree, "items") else tree
        assert isinstance(in_list, Comparison)
        assert isinstance(in_list.value, tuple)
        seen.extend(int(v.value) for v in in_list.value)  # type: ignore[union-attr]
    assert seen == values
    # greedy: no two neighbouring chunks could have been one
    for first, second in itertools.pairwise(chunks):
        assert not fits(all_of(F("company/id").in_(_ids(first) + _ids(second)), extra))


def _ids(condition: object) -> list[int]:
    tree = parse(str(condition))
    in_list = tree.items[0] if hasattr(tree, "items") else tree  # type: ignore[union-attr]
    return [int(v.value) for v in in_list.value]  # type: ignore[union-attr]


def test_a_value_too_long_for_any_request_is_refused() -> None:
    with pytest.raises(ValueError, match="alone makes the request too long"):
        list(chunk_in(F("name"), ["x" * 100], lambda c: len(str(c)) < 50))


def test_forty_thousand_ids_are_chunked_with_short_probes_in_linear_time() -> None:
    """A probe of all the remaining ids would be a URL of hundreds of KiB (httpx2 refuses over 64 KiB)
    and re-rendering them on each probe is quadratic: each probe stays near one chunk's length."""
    ids = list(range(100_000, 140_000))
    probes: list[int] = []

    def fits(condition: Condition) -> bool:
        probes.append(len(str(condition)))
        return len(str(condition)) <= 1900

    chunks = list(chunk_in(F("company/id"), ids, fits))
    assert [int(v) for c in chunks for v in str(c).split("(")[1].rstrip(")").split(", ")] == ids
    assert max(probes) <= 2 * 1900 + 20
    rendered = sum(len(str(c)) for c in chunks)
    assert sum(probes) < 20 * rendered, "the probes render a few times the chunks' text, not all remaining ids each"
