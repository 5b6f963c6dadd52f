"""Pull usage from an HTTP JSON API: pages fetched one at a time, each item mapped to a Record.

A ``PullSpec`` says where (URL, extra query parameters, an auth header), how the API pages
(``none``; ``page``: a page number and a page size, until a short or empty page; ``cursor``: a
cursor from each answer sent back as a parameter; ``next_link``: a URL in each answer), where the
items are in an answer, and which path in an item holds each field (``account.id``; ``=GB`` for a
constant). A 5xx, a 429, a timeout or a refused connection is retried with backoff; anything else
(a 401, a 404, an answer that is not the JSON described) stops the pull with what to do.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple
from urllib.parse import urljoin, urlsplit

import httpx2

from meterbridge.redaction import redact
from meterbridge.sources.files import text_of
from meterbridge.sources.records import FIELDS, Bad, Record, SourceError

PAGING = ("none", "page", "cursor", "next_link")
#: The pages one pull reads at most: a source that never stops paging is an error, not a hang.
MAX_PAGES = 100_000


@dataclass(frozen=True)
class PullSpec:
    url: str
    mapping: Mapping[str, str]  # field -> path in an item ("account.id") or "=constant"
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    paging: str = "page"
    items: str = "data"  # where the list of items is in an answer ("" for an answer that is the list)
    page_param: str = "page"
    size_param: str = "page_size"
    page_size: int = 500
    cursor_param: str = "cursor"
    next: str = "next_cursor"  # cursor paging: the cursor's path; next_link paging: the next URL's path
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # field -> {source value: ours}
    timeout: float = 30.0
    retries: int = 3


class Page(NamedTuple):
    number: int
    url: str
    items: list[Any]


class PullError(SourceError):
    """A pull that could not be completed: which page, what the source answered, what to do."""


def fetch_pages(
    spec: PullSpec, client: httpx2.Client, *, sleep: Callable[[float], None], max_pages: int = MAX_PAGES
) -> Iterator[Page]:
    """The source's pages in order, each fetched (and retried) only when the one before is used."""
    params: dict[str, str] = dict(spec.params)
    if spec.paging != "none" and spec.size_param:
        params[spec.size_param] = str(spec.page_size)
    url: str | None = spec.url
    number = 1
    seen: set[str] = set()  # the cursors or links followed: one again is a loop, not more data
    previous: list[Any] | None = None
    while url is not None:
        if number > max_pages:
            raise PullError(f"page {number}: the source is still paging after {max_pages} pages; check its paging")
        if spec.paging == "page":
            params[spec.page_param] = str(number)
        body = _get(client, url, params if number == 1 or spec.paging != "next_link" else None, spec, number, sleep)
        items = _path(body, spec.items) if spec.items else body
        if not isinstance(items, list):
            raise PullError(
                f"page {number}: the answer has no list of items at {spec.items or 'its top'!r}; "
                "set the items path to where the list is"
            )
        if spec.paging == "page" and items and items == previous:
            raise PullError(
                f"page {number}: the same items as page {number - 1}: the source ignores {spec.page_param!r}; "
                "check the page parameter's name, or choose another paging"
            )
        yield Page(number, url, items)
        previous = items if spec.paging == "page" else None
        url = _next_url(spec, body, items, url, params)
        if url is not None and spec.paging in ("cursor", "next_link"):
            following = params.get(spec.cursor_param, "") if spec.paging == "cursor" else url
            if following in seen:
                raise PullError(f"page {number}: the source sent {following!r} again: its paging loops")
            seen.add(following)
        number += 1


def _next_url(spec: PullSpec, body: Any, items: list[Any], url: str, params: dict[str, str]) -> str | None:
    if spec.paging == "none":
        return None
    if spec.paging == "page":
        return url if items else None  # to an empty page: a source may answer fewer than asked for
    following = _path(body, spec.next)
    if following in (None, ""):
        return None
    if not isinstance(following, str):
        raise PullError(f"the answer's {spec.next!r} is {following!r}, not a cursor or URL")
    if spec.paging == "cursor":
        params[spec.cursor_param] = following
        return url
    link = urljoin(url, following)
    here, there = urlsplit(spec.url), urlsplit(link)
    if (there.scheme, there.netloc) != (here.scheme, here.netloc):
        raise PullError(
            f"the next link {link!r} leaves {here.scheme}://{here.netloc}: not followed (the auth header goes "
            "only to the source's own address)"
        )
    return link


def _get(
    client: httpx2.Client,
    url: str,
    params: Mapping[str, str] | None,
    spec: PullSpec,
    number: int,
    sleep: Callable[[float], None],
) -> Any:
    problem = ""
    for attempt in range(spec.retries + 1):
        if attempt:
            sleep(min(30.0, 0.5 * 2 ** (attempt - 1)))
        try:
            # a next link carries its own query: no params, or they would replace it
            answer = client.get(url, params=dict(params) if params else None, headers=dict(spec.headers),
                                timeout=spec.timeout)  # fmt: skip
        except httpx2.InvalidURL as error:  # nothing was sent: the address is refused (the outbound guard)
            raise PullError(f"page {number}: {error}") from None
        except httpx2.TimeoutException:
            problem = f"no answer within {spec.timeout:g} s"
            continue
        except httpx2.TransportError as error:
            problem = f"could not connect ({error.__class__.__name__}: {error})"
            continue
        if answer.status_code >= 500 or answer.status_code == 429:
            problem = f"HTTP {answer.status_code} {_said(answer, spec)}"
            retry_after = answer.headers.get("Retry-After", "")
            if retry_after.isdigit() and attempt < spec.retries:
                sleep(max(0.0, min(60.0, float(retry_after)) - min(30.0, 0.5 * 2**attempt)))  # with the backoff
            continue
        if answer.status_code >= 400:
            hint = (
                "check the auth header and its value"
                if answer.status_code in (401, 403)
                else "check the URL and its parameters"
            )
            status = f"HTTP {answer.status_code} {_said(answer, spec)}"
            raise PullError(f"page {number}: {_shown(answer.request.url)} answered {status}; {hint}")
        try:
            return json.loads(answer.content, parse_float=Decimal)  # its bytes: JSON is UTF-8, whatever its charset
        except ValueError:
            raise PullError(f"page {number}: {_shown(answer.request.url)} did not answer JSON; check the URL") from None
    raise PullError(f"page {number}: {_shown(url)}: {problem}, {spec.retries + 1} attempts; the next pull tries again")


def _shown(url: object) -> str:
    """A URL without its query (which may carry a key) for a message."""
    parts = urlsplit(str(url))
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _said(answer: httpx2.Response, spec: PullSpec) -> str:
    """What the source answered, for a message: short, and with nothing of what we sent it (a
    source that echoes its request would put the auth header's value in the import's error)."""
    body = answer.content.decode("utf-8", "replace")  # not its charset: a source may name any codec there
    text = redact(body, spec.headers.values()).strip().replace("\n", " ")
    return f"({text[:200]})" if text else ""


def _path(item: Any, path: str) -> Any:
    value = item
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def map_item(item: Any, spec: PullSpec, row: int) -> Record | Bad:
    """One item as a Record by the spec's mapping (and value translations), or what is wrong with it."""
    if not isinstance(item, dict):
        return Bad(row, None, str(item)[:200], f"record {row}: not a JSON object")
    values: list[str | None] = []
    for name in FIELDS:
        path = spec.mapping.get(name)
        if path is None:
            values.append(None)
            continue
        raw = path[1:] if path.startswith("=") else _path(item, path)
        text, problem = text_of(raw)
        if problem:
            return Bad(row, name, str(raw)[:200], f"record {row}, field {name} ({path}): {problem}")
        translated = spec.values.get(name, {})
        values.append(translated.get(text, text) if text is not None else None)
    return Record(row, *values)


def records(
    spec: PullSpec, pages: Iterator[Page], on_page: Callable[[Page], None] | None = None
) -> Iterator[Record | Bad]:
    """Every item of every page as a record, numbered from 1 across the pull."""
    row = 0
    for page in pages:
        if on_page is not None:
            on_page(page)
        for item in page.items:
            row += 1
            yield map_item(item, spec, row)
