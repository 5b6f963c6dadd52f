"""List queries: conditions, orderBy, fields and the two kinds of paging.

Navigable paging (``page``/``pageSize``, default 25, at most 1,000) answers with an RFC 5988
``Link`` header carrying first/prev/next/last, where ``prev``/``first`` are left out on the first
page and ``next``/``last`` on the last one. Forward-only paging (header ``pagination-type:
forward-only`` and ``pageId``) orders by id, ignores ``page``, rejects ``orderBy`` and links to
the next ``pageId``; past the last record its ``Link`` header is present and empty. Link URLs keep
the request's other parameters and end with ``pageSize`` then ``page`` (or ``pageId``), as in
ConnectWise's own example (``...?pageSize=50&page=2>; rel="next"``); some clients rely on it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cwsim.conditions import (
    And,
    Comparison,
    ConditionsError,
    Expression,
    NumberValue,
    Predicate,
    compile_predicate,
    parse,
)
from cwsim.errors import BadRequest
from cwsim.resources import Resource

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 1000

LinkBuilder = Callable[[dict[str, int]], str]


class ConditionsRejected(BadRequest):
    """A malformed ``conditions`` parameter; the message is ConnectWise's."""

    code = "InvalidObject"


@functools.lru_cache(maxsize=64)
def _parsed(conditions: str) -> Expression | None:
    return parse(conditions)


def predicate_for(resource: Resource, conditions: str | None) -> Predicate:
    try:
        return compile_predicate(_parsed(conditions or ""), resource.lookup)
    except ConditionsError as error:
        raise ConditionsRejected(error.message) from None


def narrowing(resource: Resource, params: Mapping[str, str]) -> tuple[tuple[str, ...], frozenset[int]] | None:
    """A whole-number field the request's conditions require to be one of some values (``id in (...)``,
    ``company/id = 7``, alone or and-ed with others): the record path and the values, so a list
    reads those records from an index instead of testing every record. None when there is none."""
    try:
        expression = _parsed(_param(params, "conditions") or "")
    except ConditionsError:
        return None  # the predicate names the error
    terms = expression.items if isinstance(expression, And) else (expression,)
    for term in terms:
        if not isinstance(term, Comparison) or term.negated or term.operator not in ("=", "in"):
            continue
        values = term.value if isinstance(term.value, tuple) else (term.value,)
        if not values or not all(isinstance(v, NumberValue) and v.value == v.value.to_integral_value() for v in values):
            continue
        found = resource.lookup(term.field.key)
        if found is not None and found[1] == "integer":
            return found[0], frozenset(int(v.value) for v in values if isinstance(v, NumberValue))
    return None


def parse_int(params: Mapping[str, str], name: str) -> int | None:
    raw = _param(params, name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, not '{raw[:40]}'.") from None


def _param(params: Mapping[str, str], name: str) -> str | None:
    """Query parameter names are case-insensitive in ConnectWise (``childconditions`` works)."""
    lowered = name.lower()
    for key, value in params.items():
        if key.lower() == lowered:
            return value
    return None


def order_key(resource: Resource, order_by: str) -> list[tuple[tuple[str, ...], bool]]:
    keys = []
    for part in order_by.split(","):
        words = part.split()
        if not words:
            continue
        if len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise BadRequest(f"orderBy '{part.strip()}' must be a field name followed by asc or desc.")
        found = resource.lookup(tuple(p.lower() for p in words[0].split("/")))
        if found is None:
            raise BadRequest(f"orderBy names an unknown field '{words[0]}'.")
        keys.append((found[0], len(words) == 2 and words[1].lower() == "desc"))
    return keys


def _sort_value(record: Mapping[str, Any], path: Sequence[str]) -> tuple[int, Any]:
    value: Any = record
    for part in path:
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        return (0, 0)
    if isinstance(value, str):
        return (1, value.casefold())
    return (1, value)


def sort_records(records: list[dict[str, Any]], keys: list[tuple[tuple[str, ...], bool]]) -> list[dict[str, Any]]:
    for path, descending in reversed(keys):
        records.sort(key=lambda r, p=path: _sort_value(r, p), reverse=descending)  # type: ignore[misc]
    return records


def project(record: Mapping[str, Any], fields: list[tuple[str, ...]]) -> dict[str, Any]:
    """Keep only the named fields (``id,name,company/id``); names are case-insensitive."""
    out: dict[str, Any] = {}
    for path in fields:
        source: Any = record
        target = out
        for depth, part in enumerate(path):
            if not isinstance(source, Mapping):
                break
            key = next((k for k in source if k.lower() == part.lower()), None)
            if key is None:
                break
            if depth == len(path) - 1:
                target[key] = source[key]
            else:
                source = source[key]
                existing = target.get(key)
                target = target.setdefault(key, {}) if isinstance(existing, dict) or existing is None else {}
    return out


def parse_fields(raw: str | None) -> list[tuple[str, ...]] | None:
    if not raw or not raw.strip():
        return None
    return [tuple(part.strip().split("/")) for part in raw.split(",") if part.strip()]


@dataclass
class Page:
    rows: list[dict[str, Any]]
    link: str | None  # None: no Link header at all


def list_page(
    resource: Resource,
    records: Iterable[dict[str, Any]],
    params: Mapping[str, str],
    *,
    forward_only: bool,
    link_to: LinkBuilder,
) -> Page:
    predicate = predicate_for(resource, _param(params, "conditions"))
    order_by = _param(params, "orderBy")
    page_size = parse_int(params, "pageSize")
    if page_size is None:
        page_size = DEFAULT_PAGE_SIZE
    if page_size < 1:
        raise BadRequest("pageSize must be at least 1.")
    page_size = min(page_size, MAX_PAGE_SIZE)

    if forward_only:
        if order_by and order_by.strip():
            raise BadRequest("orderBy cannot be used with forward-only pagination: records come ordered by id.")
        page_id = parse_int(params, "pageId") or 0
        rows: list[dict[str, Any]] = []
        more = False
        for record in records:  # records come in id order
            if record["id"] <= page_id or not predicate(record):
                continue
            if len(rows) == page_size:
                more = True
                break
            rows.append(record)
        link = f'<{link_to({"pageSize": page_size, "pageId": rows[-1]["id"]})}>; rel="next"' if more else ""
        return Page(rows, link)

    page = parse_int(params, "page")
    if page is None:
        page = 1
    if page < 1:
        raise BadRequest("page must be at least 1.")
    matching = [record for record in records if predicate(record)]
    if order_by and order_by.strip():
        matching = sort_records(matching, order_key(resource, order_by))
    last = max(1, math.ceil(len(matching) / page_size))
    start = (page - 1) * page_size
    rows = matching[start : start + page_size]
    links = []
    if page > 1:
        links.append(f'<{link_to({"pageSize": page_size, "page": 1})}>; rel="first"')
        links.append(f'<{link_to({"pageSize": page_size, "page": min(page - 1, last)})}>; rel="prev"')
    if page < last:
        links.append(f'<{link_to({"pageSize": page_size, "page": page + 1})}>; rel="next"')
        links.append(f'<{link_to({"pageSize": page_size, "page": last})}>; rel="last"')
    return Page(rows, ", ".join(links) if links else None)


def count(resource: Resource, records: Iterable[dict[str, Any]], params: Mapping[str, str]) -> int:
    predicate = predicate_for(resource, _param(params, "conditions"))
    return sum(1 for record in records if predicate(record))
