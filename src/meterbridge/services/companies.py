"""The ConnectWise company cache and the links between customers and companies.

Linking never guesses: a customer is linked automatically only when its external id equals a
company identifier, or else its name equals exactly one company's name (both without case).
Near matches are offered as suggestions with a score; a person links them by hand.
"""

from __future__ import annotations

import difflib
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from meterbridge.services.actors import Actor
from meterbridge.services.audit import audit
from meterbridge.services.context import Context
from meterbridge.services.customers import customer_row
from meterbridge.services.errors import NotFound
from meterbridge.services.scope import open_tenant, tenant_row
from meterbridge.services.views import CompanyView, Imported, LinkReportView, LinkView, SuggestionView
from meterbridge.store.models import Customer, CWCompany
from meterbridge.store.repos import customers

SUGGESTION_THRESHOLD = 0.6
SUGGESTION_LIMIT = 3  # suggestions offered per customer
SUGGESTION_KEPT = 10  # the most asked for (suggest --limit)
_NOISE = re.compile(r"\b(llc|inc|ltd|co|pc|gmbh|corp|the)\b\.?|[^a-z0-9]+")


def _normal(text: str) -> str:
    return " ".join(_NOISE.sub(" ", text.casefold()).split())


def similarity(a: str, b: str) -> float:
    """0..1: how alike two company names are once case, punctuation and legal suffixes are set aside."""
    return round(difflib.SequenceMatcher(None, _normal(a), _normal(b)).ratio(), 3)


async def import_companies(ctx: Context, tenant: str, *, actor: Actor) -> Imported:
    """Refresh the cache of ConnectWise companies (all of them, paged)."""
    scope = open_tenant(ctx, tenant)
    async with ctx.client(scope.connection()) as cw:
        found = [c for c in await cw.companies() if not c.deleted_flag]
    with ctx.db.session() as session:
        rows = [(c.id, c.identifier or "", c.name or "") for c in found if c.id is not None]
        customers.replace_companies(session, scope.id, rows, ctx.clock())
        audit(session, ctx, scope.id, actor, "companies.import", {"count": len(found)})
    return Imported(imported=len(found))


def _link_view(customer: Customer, cw_id: int | None, identifier: str | None, how: str) -> LinkView:
    return LinkView(
        external_id=customer.external_id, name=customer.name, cw_id=cw_id, cw_identifier=identifier, how=how
    )


def link_customers(ctx: Context, tenant: str, *, actor: Actor, suggestions: int = 3) -> LinkReportView:
    """Link every customer not linked yet (a person's "unset" is respected) by identifier, then exact name."""
    report = LinkReportView(linked=[], suggested=[], unmatched=[])
    now = ctx.clock()
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        companies = customers.companies(session, row.id)
        index = _index_of(ctx, session, row.id)
        by_identifier = {c.identifier.casefold(): c for c in companies}
        by_name: dict[str, list[CWCompany]] = {}
        for company in companies:
            by_name.setdefault(company.name.casefold(), []).append(company)
        links = customers.links_of(session, row.id)
        for customer in customers.all_of(session, row.id):
            if customer.id in links:
                continue
            match, how = by_identifier.get(customer.external_id.casefold()), "identifier"
            if match is None and len(by_name.get(customer.name.casefold(), [])) == 1:
                match, how = by_name[customer.name.casefold()][0], "name"
            if match is not None:
                customers.set_link(
                    session, customer.id, cw_id=match.cw_id, identifier=match.identifier, how=how, at=now
                )
                report.linked.append(_link_view(customer, match.cw_id, match.identifier, how))
                continue
            entry = _link_view(customer, None, None, "")
            entry.suggestions = _near(customer, index, suggestions)
            (report.suggested if entry.suggestions else report.unmatched).append(entry)
        audit(session, ctx, row.id, actor, "companies.link", {"linked": len(report.linked)})
    return report


@dataclass(frozen=True)
class _Known:
    """An imported company with its name and identifier as ``similarity`` compares them."""

    company: SuggestionView
    name: str
    identifier: str


class _Index:
    """A tenant's imported companies, normalized once, and the suggestions found so far.

    Kept per (tenant, companies version): an import makes a new version, so nothing stale is
    offered. The suggestions depend only on the customer's name and id, so a page that lists the
    same unlinked customers again reads them from here."""

    def __init__(self, companies: list[CWCompany]) -> None:
        self.known = [
            _Known(SuggestionView(cw_id=c.cw_id, identifier=c.identifier, name=c.name, score=0), _normal(c.name),
                   _normal(c.identifier))
            for c in companies
        ]  # fmt: skip
        self.found: dict[tuple[str, str], list[SuggestionView]] = {}


_KEPT = 16  # tenants whose index is kept


def _index_of(ctx: Context, session: Session, tenant_id: int) -> _Index:
    key = (tenant_id, *customers.companies_version(session, tenant_id))
    with ctx.memo_lock:
        indexes: OrderedDict[Any, _Index] = ctx.memo.setdefault("companies.index", OrderedDict())
        index = indexes.get(key)
    if index is None:
        index = _Index(customers.companies(session, tenant_id))
    with ctx.memo_lock:
        index = indexes.setdefault(key, index)
        indexes.move_to_end(key)
        while len(indexes) > _KEPT:
            indexes.popitem(last=False)
    return index


def _near(customer: Customer, index: _Index, limit: int) -> list[SuggestionView]:
    """The companies whose name (or identifier) is at least SUGGESTION_THRESHOLD alike, best first.
    Each comparison first checks the matcher's cheap upper bounds, so most companies cost little."""
    wanted = (customer.name, customer.external_id)
    if wanted not in index.found:
        name, external = difflib.SequenceMatcher(None), difflib.SequenceMatcher(None)
        name.set_seq2(_normal(customer.name))
        external.set_seq2(_normal(customer.external_id))
        scored = []
        for known in index.known:
            score = max(_alike(name, known.name), _alike(external, known.identifier))
            if score >= SUGGESTION_THRESHOLD:
                scored.append(known.company.model_copy(update={"score": score}))
        scored.sort(key=lambda s: (-s.score, s.identifier))
        index.found[wanted] = scored[:SUGGESTION_KEPT]
    return index.found[wanted][:limit]


def _alike(matcher: difflib.SequenceMatcher[str], text: str) -> float:
    """``similarity`` of the matcher's text and ``text`` (both normalized), or 0 when it cannot
    reach the threshold."""
    matcher.set_seq1(text)
    reach = SUGGESTION_THRESHOLD - 0.0005  # a ratio that rounds to the threshold still counts
    if matcher.real_quick_ratio() < reach or matcher.quick_ratio() < reach:
        return 0.0
    return round(matcher.ratio(), 3)


def suggestions_for(
    ctx: Context, tenant: str, external_ids: list[str], *, limit: int = 3
) -> dict[str, list[SuggestionView]]:
    """Suggestions for several customers at once (the companies are read once)."""
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        index = _index_of(ctx, session, row.id)
        found = {c.external_id: c for c in customers.all_of(session, row.id)}
        return {e: _near(found[e], index, limit) for e in external_ids if e in found}


def set_link(ctx: Context, tenant: str, external_id: str, company: str | None, *, actor: Actor) -> LinkView:
    """Link by hand to a company (its identifier or id), or unlink ("not set") with None."""
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        customer = customer_row(session, row.id, external_id)
        found = None
        if company is not None:
            found = (
                customers.company(session, row.id, cw_id=int(company))
                if company.isdigit()
                else customers.company(session, row.id, identifier=company)
            )
            if found is None:
                raise NotFound(
                    f"company {company!r} is not among the imported ConnectWise companies",
                    hint="import the companies again, or check the identifier",
                    action="companies.import",
                    field="company",
                )
        old = customers.link_of(session, customer.id)
        before = {"company": old.cw_identifier, "cw_id": old.cw_company_id, "how": old.how} if old else None
        if found is None:
            link = customers.set_link(session, customer.id, cw_id=None, identifier=None, how="unset", at=ctx.clock())
        else:
            link = customers.set_link(
                session, customer.id, cw_id=found.cw_id, identifier=found.identifier, how="manual", at=ctx.clock()
            )
        after = {"customer": external_id, "company": link.cw_identifier, "cw_id": link.cw_company_id, "how": link.how}
        audit(session, ctx, row.id, actor, "customer.link", after, before=before)
        return _link_view(customer, link.cw_company_id, link.cw_identifier, link.how)


def list_links(ctx: Context, tenant: str) -> list[LinkView]:
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        return [
            _link_view(
                c, link.cw_company_id if link else None, link.cw_identifier if link else None, link.how if link else ""
            )
            for c, link in customers.with_links(session, row.id)
        ]


def list_companies(ctx: Context, tenant: str, *, search: str | None = None, limit: int = 100) -> list[CompanyView]:
    """The imported ConnectWise companies (a type-ahead picks from these)."""
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        return [
            CompanyView(cw_id=c.cw_id, identifier=c.identifier, name=c.name)
            for c in customers.companies(session, row.id, search=search, limit=limit)
        ]


def suggestions(ctx: Context, tenant: str, external_id: str, *, limit: int = 5) -> list[SuggestionView]:
    """The companies a customer's name or id resembles, best first, with their scores."""
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        customer = customer_row(session, row.id, external_id)
        return _near(customer, _index_of(ctx, session, row.id), limit)
