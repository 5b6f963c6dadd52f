"""The companies page: customers with their links, filtered (linked, unlinked, suggested, push
disabled, failed in the last push) and searched, a page at a time; the unlinked ones on the page
come with the companies they resemble, for linking them in bulk."""

from __future__ import annotations

from collections.abc import Callable

from meterbridge.services.companies import SUGGESTION_LIMIT, suggestions_for
from meterbridge.services.context import Context
from meterbridge.services.customers import list_customers
from meterbridge.services.errors import InvalidInput
from meterbridge.services.scope import tenant_row
from meterbridge.services.views import CompanyRow, CustomerView
from meterbridge.services.views.console import CompanyList
from meterbridge.store.repos import runs

FILTERS = ("all", "linked", "unlinked", "suggested", "push-disabled", "failed")
TROUBLE = ("blocked", "partial", "failed", "mismatch")


def _linked(view: CustomerView) -> bool:
    return view.cw_id is not None


def _last_push(ctx: Context, tenant: str) -> tuple[int | None, dict[str, str]]:
    """The newest push that planned (its run id) and each company's status in it."""
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        for run in runs.newest(session, row.id, limit=20, kind="push"):
            companies = (run.summary or {}).get("companies")
            if companies:
                return run.id, {c: str(r.get("status", "ok")) for c, r in companies.items()}
    return None, {}


def company_list(
    ctx: Context, tenant: str, *, show: str = "all", search: str | None = None, offset: int = 0, limit: int = 50
) -> CompanyList:
    if show not in FILTERS:
        raise InvalidInput(f"show: {show!r} is not one of {', '.join(FILTERS)}", field="show")
    if not 1 <= limit <= 500 or offset < 0:
        raise InvalidInput("limit: 1 to 500 customers a page, from an offset of 0 or more", field="limit")
    views = list_customers(ctx, tenant)
    run_id, statuses = _last_push(ctx, tenant)
    # "suggested" needs the suggestions of every unlinked customer a person has not set aside
    candidates = [v.external_id for v in views if not _linked(v) and v.how != "unset"]
    suggested = suggestions_for(ctx, tenant, candidates, limit=SUGGESTION_LIMIT) if show == "suggested" else {}
    tests: dict[str, Callable[[CustomerView], bool]] = {
        "all": lambda v: True,
        "linked": _linked,
        "unlinked": lambda v: not _linked(v),
        "suggested": lambda v: bool(suggested.get(v.external_id)),
        "push-disabled": lambda v: not v.push_enabled,
        "failed": lambda v: statuses.get(v.external_id) in TROUBLE,
    }
    wanted = (search or "").strip().casefold()
    matching = [
        v
        for v in views
        if tests[show](v) and (not wanted or wanted in v.external_id.casefold() or wanted in v.name.casefold())
    ]
    page = matching[offset : offset + limit]
    if show != "suggested":
        suggested = suggestions_for(
            ctx, tenant, [v.external_id for v in page if v.external_id in set(candidates)], limit=SUGGESTION_LIMIT
        )
    rows = [
        CompanyRow(
            **v.model_dump(),
            suggestions=suggested.get(v.external_id, []),
            last_push=statuses.get(v.external_id),
            last_push_run=run_id if v.external_id in statuses else None,
        )
        for v in page
    ]
    counts = {name: sum(1 for v in views if test(v)) for name, test in tests.items() if name != "suggested"}
    if show == "suggested":
        counts["suggested"] = sum(1 for v in views if suggested.get(v.external_id))
    return CompanyList(rows=rows, matching=len(matching), offset=offset, limit=limit, counts=counts)
