"""Usage sources meterbridge pulls: an HTTP JSON API per tenant (URL, an auth header, paging, a
field mapping), pulled by hand or hourly/daily by the scheduler, each pull recorded as an import.

A pull stores the good records and reports the bad (mode ``valid``): one odd record at a vendor
does not hold back everyone's usage. Its samples carry the source's name as their source, so a
pull that brings the same records again changes nothing. Customers it names with a name are
created; a customer it names without one is listed for linking; customers the source created
that a whole pull no longer lists are flagged as removed (``complete``). A pull that fails (the
source does not answer, answers 5xx after retries, or refuses us) is retried 1, 2, 4, 8, 16
minutes later, then given up until its next time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx2
from sqlalchemy.orm import Session

from meterbridge.domain.periods import Period
from meterbridge.domain.schedules import PULL_EVERY, next_pull, pull_slot
from meterbridge.outbound import GuardedTransport, header_refusal
from meterbridge.services.actors import Actor
from meterbridge.services.audit import audit
from meterbridge.services.context import Context
from meterbridge.services.errors import Conflict, InvalidInput, NotFound
from meterbridge.services.imports import run_import
from meterbridge.services.ingest import Mode, check_source
from meterbridge.services.scope import tenant_row
from meterbridge.services.validation import check_url
from meterbridge.services.views import ImportView, SourceView
from meterbridge.sources import REQUIRED
from meterbridge.sources.http import PAGING, Page, PullSpec, fetch_pages, records
from meterbridge.store.models import Tenant, UsageSourceRow
from meterbridge.store.repos import imports as repo

MAX_FAILURES = 6
OPTION_DEFAULTS: dict[str, Any] = {
    "paging": "page", "items": "data", "page_param": "page", "size_param": "page_size", "page_size": 500,
    "cursor_param": "cursor", "next": "next_cursor", "since_param": None, "timeout": 30.0, "retries": 3,
    "complete": True, "values": {}, "params": {},
}  # fmt: skip
OPTIONS = {*OPTION_DEFAULTS, "mapping"}


def save_source(
    ctx: Context,
    tenant: str,
    name: str,
    *,
    url: str,
    mapping: dict[str, str],
    actor: Actor,
    auth_header: str | None = None,
    auth_value: str | None = None,
    every: str = "manual",
    at_minute: int = 0,
    enabled: bool = True,
    options: dict[str, Any] | None = None,
) -> SourceView:
    """Add or change a pull source; every option is checked (a wrong one names itself)."""
    check_source(name)
    url = check_url(url, guard=ctx.outbound)
    if every not in PULL_EVERY:
        raise InvalidInput(f"every: {every!r} is not hourly, daily or manual", field="every")
    top = 59 if every == "hourly" else 1439
    if not 0 <= at_minute <= top:
        raise InvalidInput(
            f"at_minute: {at_minute} is not a minute "
            + ("past the hour (0-59)" if every == "hourly" else "of the day after midnight (0-1439)"),
            field="at_minute",
        )
    if auth_header and any(c in auth_header for c in ": \r\n"):
        raise InvalidInput(
            f"auth_header: {auth_header!r} is not a header name, e.g. Authorization", field="auth_header"
        )
    if auth_header and (refused := header_refusal(auth_header)) is not None:
        raise InvalidInput(f"auth_header: {refused}", field="auth_header")
    now = ctx.clock()
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        source = repo.source(session, row.id, name)
        # a change keeps what it does not name: the other options, and the stored auth value
        checked = _options({**_given(source.options if source else {}), **(options or {}), "mapping": mapping})
        if auth_header == "":  # asked to send no auth header any more
            auth_header = auth_value = None
        elif (
            auth_value is None
            and source is not None
            and source.auth_sealed is not None
            and auth_header in (None, source.auth_header)
        ):
            auth_header, auth_value = source.auth_header, ctx.box.open(source.auth_sealed)
        if (auth_header is None) != (auth_value is None):
            raise InvalidInput("auth_header: give both the header's name and its value, or neither",
                               field="auth_header")  # fmt: skip
        if source is None:
            source = UsageSourceRow(tenant_id=row.id, name=name, failures=0, created_at=now)
            session.add(source)
        source.url, source.options, source.every, source.at_minute, source.enabled = (
            url,
            checked,
            every,
            at_minute,
            enabled,
        )
        source.auth_header = auth_header
        source.auth_sealed = ctx.box.seal(auth_value) if auth_value is not None else None
        source.last_slot = pull_slot(every, at_minute, ZoneInfo(row.time_zone), now)  # due from its next time on
        source.failures, source.retry_at = 0, None
        session.flush()
        audit(session, ctx, row.id, actor, "source.save", {"name": name, "url": url, "every": every})
        return _view(session, source, ZoneInfo(row.time_zone), now)


def _given(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored source's options that differ from the defaults (what its user set)."""
    return {k: v for k, v in stored.items() if k != "mapping" and OPTION_DEFAULTS.get(k, object()) != v}


def _options(given: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(given) - OPTIONS)
    if unknown:
        raise InvalidInput(
            f"{unknown[0]}: not an option of a pull source; the options are {', '.join(sorted(OPTIONS))}",
            field=unknown[0],
        )
    options = {**OPTION_DEFAULTS, **given}
    mapping = options["mapping"]
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise InvalidInput("mapping: give each field's path as text, e.g. customer=account.id", field="mapping")
    missing = [f for f in REQUIRED if not (mapping.get(f) or "").strip()]
    if missing:
        raise InvalidInput(
            f"mapping: no path for {', '.join(missing)}; map each of {', '.join(REQUIRED)} (a constant: =GB)",
            field="mapping",
        )
    extra = sorted(set(mapping) - {*REQUIRED, "customer_name"})
    if extra:
        raise InvalidInput(f"mapping: {extra[0]!r} is not a field of a usage record", field="mapping")
    if options["paging"] not in PAGING:
        raise InvalidInput(f"paging: {options['paging']!r} is not one of {', '.join(PAGING)}", field="paging")
    for key in ("items", "next", "page_param", "size_param", "cursor_param"):
        if not isinstance(options[key], str):
            raise InvalidInput(f"{key}: {options[key]!r} is not text (a path or a parameter's name)", field=key)
    if options["since_param"] is not None and not isinstance(options["since_param"], str):
        raise InvalidInput(f"since_param: {options['since_param']!r} is not a parameter's name", field="since_param")
    if not isinstance(options["complete"], bool):
        raise InvalidInput(f"complete: {options['complete']!r} is not true or false", field="complete")
    params, values = options["params"], options["values"]
    if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
        raise InvalidInput('params: give each parameter\'s value as text, e.g. {"region": "eu"}', field="params")
    if not isinstance(values, dict) or not all(
        isinstance(m, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in m.items())
        for m in values.values()
    ):
        raise InvalidInput('values: give {"field": {"theirs": "ours"}}, e.g. {"product": {"licenses": "server"}}',
                           field="values")  # fmt: skip
    unused = {"none": {"next", "cursor_param", "page_param", "size_param"}, "page": {"next", "cursor_param"},
              "cursor": {"page_param"}, "next_link": {"page_param", "cursor_param"}}[options["paging"]]  # fmt: skip
    for key in sorted(unused & set(given)):
        if given[key] != OPTION_DEFAULTS[key]:
            raise InvalidInput(f"{key}: paging {options['paging']} does not use it; leave it out", field=key)
    for key, low, high in (("page_size", 1, 10_000), ("retries", 0, 10)):
        value = options[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidInput(f"{key}: {value!r} is not a whole number from {low} to {high}", field=key)
    timeout = options["timeout"]
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0.1 <= timeout <= 300:
        raise InvalidInput(f"timeout: {timeout!r} is not a number of seconds from 0.1 to 300", field="timeout")
    return options


def _spec(ctx: Context, source: UsageSourceRow, zone: ZoneInfo, now: datetime) -> PullSpec:
    options = source.options
    params = dict(options.get("params") or {})
    if options.get("since_param"):
        params[options["since_param"]] = Period.containing(now, zone).previous().start(zone).date().isoformat()
    headers = (
        {source.auth_header: ctx.box.open(source.auth_sealed)} if source.auth_header and source.auth_sealed else {}
    )
    return PullSpec(
        url=source.url, mapping=options["mapping"], headers=headers, params=params, paging=options["paging"],
        items=options["items"], page_param=options["page_param"], size_param=options["size_param"],
        page_size=options["page_size"], cursor_param=options["cursor_param"], next=options["next"],
        values=options.get("values") or {}, timeout=float(options["timeout"]), retries=int(options["retries"]),
    )  # fmt: skip


def pull(
    ctx: Context,
    tenant: str,
    name: str,
    *,
    actor: Actor,
    sleep: Callable[[float], None] = time.sleep,
) -> ImportView:
    """Pull the source now: every page, recorded as an import; its state says how it went."""
    now = ctx.clock()
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        source = _source(session, row.id, name)
        zone = ZoneInfo(row.time_zone)
        spec, source_id, complete = _spec(ctx, source, zone, now), source.id, bool(source.options.get("complete"))
    pages: list[int] = []

    def counted(page: Page) -> None:
        pages.append(page.number)

    transport = GuardedTransport(httpx2.HTTPTransport(verify=ctx.verify), ctx.outbound)  # checked as it connects
    with httpx2.Client(transport=transport, follow_redirects=False) as client:
        view = run_import(
            ctx, tenant, lambda: records(spec, fetch_pages(spec, client, sleep=sleep), on_page=counted), actor=actor,
            source=name, name=spec.url, mode=Mode.VALID, origin="pull", label="record", complete=complete,
            source_id=source_id, pages=lambda: len(pages),
        )  # fmt: skip
    _settle(ctx, source_id, view)
    return view


def _settle(ctx: Context, source_id: int, view: ImportView) -> None:
    now = ctx.clock()
    with ctx.db.session() as session:
        source = session.get(UsageSourceRow, source_id)
        if source is None:
            return
        source.last_import_id, source.last_status = view.id, view.status
        if view.status == "failed":
            source.failures += 1
            source.last_error = view.message
            source.retry_at = (
                now + timedelta(minutes=2 ** (source.failures - 1)) if source.failures < MAX_FAILURES else None
            )
            if source.failures >= MAX_FAILURES:
                source.failures = 0  # given up until its next time
        else:
            source.failures, source.retry_at, source.last_error = 0, None, None


def _source(session: Session, tenant_id: int, name: str) -> UsageSourceRow:
    source = repo.source(session, tenant_id, name)
    if source is None:
        raise NotFound(f"no usage source {name!r}", hint="add it first", field="source")
    return source


@dataclass(frozen=True)
class PullDue:
    tenant: str
    tenant_id: int
    source_id: int
    name: str
    slot: datetime
    retry: bool = False  # a failed pull tried again (not a new occurrence)


def due_pulls(ctx: Context) -> list[PullDue]:
    """Sources whose time has come (a new slot), or whose failed pull is to be retried now."""
    now = ctx.clock()
    due = []
    with ctx.db.session() as session:
        for source in repo.all_sources(session):
            tenant = session.get(Tenant, source.tenant_id)
            if tenant is None:
                continue
            slot = pull_slot(source.every, source.at_minute, ZoneInfo(tenant.time_zone), now)
            fresh = slot is not None and (source.last_slot is None or slot > source.last_slot)
            retry = source.every != "manual" and source.retry_at is not None and source.retry_at <= now
            if fresh or retry:
                when = slot if slot is not None and fresh else source.retry_at
                assert when is not None
                due.append(PullDue(tenant.key, tenant.id, source.id, source.name, when, retry and not fresh))
    return due


def run_due_pull(ctx: Context, due: PullDue, *, sleep: Callable[[float], None] = time.sleep) -> ImportView | None:
    """Pull one due source, once: the slot (or the retry) is claimed by compare-and-set first, so
    two workers never pull the same occurrence."""
    with ctx.db.session() as session:
        source = session.get(UsageSourceRow, due.source_id, with_for_update=True)
        if source is None or not source.enabled:
            return None
        if due.retry:
            if source.retry_at is None or source.retry_at > ctx.clock():
                return None  # another worker took this retry
        elif source.last_slot is not None and due.slot <= source.last_slot:
            return None  # another worker took this occurrence
        else:
            source.last_slot, source.failures = due.slot, 0
        source.retry_at = None
    return pull(ctx, due.tenant, due.name, actor=Actor.schedule(f"pull {due.name}"), sleep=sleep)


def list_sources(ctx: Context, tenant: str) -> list[SourceView]:
    now = ctx.clock()
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        return [_view(session, s, ZoneInfo(row.time_zone), now) for s in repo.sources(session, row.id)]


def show_source(ctx: Context, tenant: str, name: str) -> SourceView:
    now = ctx.clock()
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        return _view(session, _source(session, row.id, name), ZoneInfo(row.time_zone), now)


def remove_source(ctx: Context, tenant: str, name: str, *, actor: Actor) -> SourceView:
    """Remove a source (its samples and imports stay, for the record)."""
    now = ctx.clock()
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        source = _source(session, row.id, name)
        view = _view(session, source, ZoneInfo(row.time_zone), now)
        session.delete(source)
        audit(session, ctx, row.id, actor, "source.remove", {"name": name})
        return view


def set_enabled(ctx: Context, tenant: str, name: str, enabled: bool, *, actor: Actor) -> SourceView:
    now = ctx.clock()
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        source = _source(session, row.id, name)
        if source.enabled == enabled:
            raise Conflict(f"source {name!r} is already {'enabled' if enabled else 'disabled'}", field="source")
        source.enabled = enabled
        if enabled:
            source.last_slot = pull_slot(source.every, source.at_minute, ZoneInfo(row.time_zone), now)
        audit(session, ctx, row.id, actor, "source.enable" if enabled else "source.disable", {"name": name})
        return _view(session, source, ZoneInfo(row.time_zone), now)


def _view(session: Session, source: UsageSourceRow, zone: ZoneInfo, now: datetime) -> SourceView:
    shown = {"mapping": source.options["mapping"], **{k: v for k, v in source.options.items() if k != "mapping"}}
    last = repo.get(session, source.tenant_id, source.last_import_id) if source.last_import_id else None
    upcoming = source.retry_at or next_pull(source.every, source.at_minute, zone, now)
    return SourceView(
        name=source.name, url=source.url, auth_header=source.auth_header, options=shown, every=source.every,
        at_minute=source.at_minute, enabled=source.enabled, last_pull_at=last.started_at if last else None,
        last_status=source.last_status, last_error=source.last_error, last_import=source.last_import_id,
        failures=source.failures, next_pull_at=upcoming if source.enabled else None,
    )  # fmt: skip
