"""Customers, the ConnectWise company cache and the links between them.

Linking never guesses: a customer is linked automatically only when its external id equals a
company identifier, or else its name equals exactly one company's name (both without case).
Near matches are offered as suggestions with a score; a person links them by hand.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from meterbridge.services.connections import load_settings
from meterbridge.services.context import Context
from meterbridge.services.errors import InvalidInput, NotFound
from meterbridge.services.tenants import audit, tenant_row
from meterbridge.store.models import BillingConfigurationRow, Customer, CWCompany, Link

SUGGESTION_THRESHOLD = 0.6
_NOISE = re.compile(r"\b(llc|inc|ltd|co|pc|gmbh|corp|the)\b\.?|[^a-z0-9]+")


def _normal(text: str) -> str:
    return " ".join(_NOISE.sub(" ", text.casefold()).split())


def similarity(a: str, b: str) -> float:
    """0..1: how alike two company names are once case, punctuation and legal suffixes are set aside."""
    return round(difflib.SequenceMatcher(None, _normal(a), _normal(b)).ratio(), 3)


def add_customer(
    ctx: Context,
    tenant: str,
    external_id: str,
    name: str | None = None,
    *,
    managed_id: str | None = None,
    push_enabled: bool | None = None,
    actor: str = "cli",
) -> bool:
    """Create a customer, or change what is given of an existing one (None keeps the stored value;
    ``managed_id=""`` removes it). True when it was created."""
    if not external_id.strip():
        raise InvalidInput("external_id: a customer needs the id the usage source knows it by")
    if "/" in external_id:
        raise InvalidInput(f"external_id: {external_id!r} may not contain '/'")
    if managed_id is not None and managed_id and not managed_id.isdigit():
        raise InvalidInput(f"managed_id: {managed_id!r} must contain only digits (ConnectWise's Managed ID)")
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        customer = session.scalar(
            select(Customer).where(Customer.tenant_id == row.id, Customer.external_id == external_id)
        )
        created = customer is None
        if customer is None:
            if not name or not name.strip():
                raise InvalidInput(f"name: customer {external_id} is new: give its name")
            customer = Customer(tenant_id=row.id, external_id=external_id, push_enabled=True)
            session.add(customer)
        if name is not None:
            if not name.strip():
                raise InvalidInput("name: a customer's name cannot be empty")
            customer.name = name
        if managed_id is not None:
            customer.managed_id = managed_id or None
        if push_enabled is not None:
            customer.push_enabled = push_enabled
        audit(
            session,
            ctx,
            row.id,
            actor,
            "customer.create" if created else "customer.update",
            {
                "external_id": external_id,
                "name": customer.name,
                "managed_id": customer.managed_id,
                "push_enabled": customer.push_enabled,
            },
        )
        return created


def customer_row(session: Session, tenant_id: int, external_id: str) -> Customer:
    customer = session.scalar(
        select(Customer).where(Customer.tenant_id == tenant_id, Customer.external_id == external_id)
    )
    if customer is None:
        raise NotFound(f"customer {external_id!r} does not exist: add it or import usage that names it")
    return customer


async def import_companies(ctx: Context, tenant: str) -> int:
    """Refresh the cache of ConnectWise companies (all of them, paged). Returns how many."""

    settings = load_settings(ctx, tenant)
    async with ctx.client(settings) as cw:
        companies = [c for c in await cw.companies() if not c.deleted_flag]
    now = ctx.clock()
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        session.execute(delete(CWCompany).where(CWCompany.tenant_id == row.id))
        session.add_all(
            CWCompany(tenant_id=row.id, cw_id=c.id, identifier=c.identifier or "", name=c.name or "", fetched_at=now)
            for c in companies
            if c.id is not None
        )
        audit(session, ctx, row.id, "cli", "companies.import", {"count": len(companies)})
    return len(companies)


@dataclass(frozen=True)
class Suggestion:
    cw_id: int
    identifier: str
    name: str
    score: float


@dataclass(frozen=True)
class CustomerLink:
    external_id: str
    name: str
    cw_id: int | None
    cw_identifier: str | None
    how: str  # identifier, name, manual, unset, or "" (never linked)
    suggestions: tuple[Suggestion, ...] = ()


@dataclass(frozen=True)
class LinkReport:
    linked: list[CustomerLink]  # linked by this run
    suggested: list[CustomerLink]  # near matches for a person to confirm
    unmatched: list[CustomerLink]


def link_customers(ctx: Context, tenant: str, *, suggestions: int = 3) -> LinkReport:
    """Link every customer not linked yet (a person's "unset" is respected) by identifier, then exact name."""
    report = LinkReport([], [], [])
    now = ctx.clock()
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        companies = list(session.scalars(select(CWCompany).where(CWCompany.tenant_id == row.id)))
        by_identifier = {c.identifier.casefold(): c for c in companies}
        by_name: dict[str, list[CWCompany]] = {}
        for company in companies:
            by_name.setdefault(company.name.casefold(), []).append(company)
        linked_ids = set(session.scalars(select(Link.customer_id).join(Customer).where(Customer.tenant_id == row.id)))
        customers = session.scalars(select(Customer).where(Customer.tenant_id == row.id).order_by(Customer.external_id))
        for customer in customers:
            if customer.id in linked_ids:
                continue
            match, how = by_identifier.get(customer.external_id.casefold()), "identifier"
            if match is None and len(by_name.get(customer.name.casefold(), [])) == 1:
                match, how = by_name[customer.name.casefold()][0], "name"
            if match is not None:
                session.add(
                    Link(
                        customer_id=customer.id,
                        cw_company_id=match.cw_id,
                        cw_identifier=match.identifier,
                        how=how,
                        linked_at=now,
                    )
                )
                report.linked.append(
                    CustomerLink(customer.external_id, customer.name, match.cw_id, match.identifier, how)
                )
                continue
            near = _near(customer, companies, suggestions)
            entry = CustomerLink(customer.external_id, customer.name, None, None, "", near)
            (report.suggested if near else report.unmatched).append(entry)
        audit(session, ctx, row.id, "cli", "companies.link", {"linked": len(report.linked)})
    return report


def _near(customer: Customer, companies: list[CWCompany], limit: int) -> tuple[Suggestion, ...]:
    scored = []
    for company in companies:
        score = max(similarity(customer.name, company.name), similarity(customer.external_id, company.identifier))
        if score >= SUGGESTION_THRESHOLD:
            scored.append(Suggestion(company.cw_id, company.identifier, company.name, score))
    scored.sort(key=lambda s: (-s.score, s.identifier))
    return tuple(scored[:limit])


def set_link(ctx: Context, tenant: str, external_id: str, company: str | None, *, actor: str = "cli") -> CustomerLink:
    """Link by hand to a company (its identifier or id), or unlink ("not set") with None."""
    now = ctx.clock()
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        customer = customer_row(session, row.id, external_id)
        found = None
        if company is not None:
            query = select(CWCompany).where(CWCompany.tenant_id == row.id)
            query = query.where(
                CWCompany.cw_id == int(company) if company.isdigit() else CWCompany.identifier == company
            )
            found = session.scalar(query)
            if found is None:
                raise NotFound(
                    f"company {company!r} is not among the imported ConnectWise companies: "
                    "run `meterbridge companies import`, or check the identifier"
                )
        link = session.get(Link, customer.id)
        if link is None:
            link = Link(customer_id=customer.id)
            session.add(link)
        if found is None:
            link.cw_company_id, link.cw_identifier, link.how = None, None, "unset"
        else:
            link.cw_company_id, link.cw_identifier, link.how = found.cw_id, found.identifier, "manual"
        link.linked_at = now
        audit(session, ctx, row.id, actor, "customer.link", {"customer": external_id, "company": company})
        return CustomerLink(customer.external_id, customer.name, link.cw_company_id, link.cw_identifier, link.how)


def list_links(ctx: Context, tenant: str) -> list[CustomerLink]:
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        links = {
            link.customer_id: link
            for link in session.scalars(select(Link).join(Customer).where(Customer.tenant_id == row.id))
        }
        result = []
        for customer in session.scalars(
            select(Customer).where(Customer.tenant_id == row.id).order_by(Customer.external_id)
        ):
            link = links.get(customer.id)
            result.append(
                CustomerLink(
                    customer.external_id,
                    customer.name,
                    link.cw_company_id if link else None,
                    link.cw_identifier if link else None,
                    link.how if link else "",
                )
            )
        return result


@dataclass(frozen=True)
class CustomerView:
    external_id: str
    name: str
    managed_id: str | None
    push_enabled: bool
    cw_id: int | None
    cw_identifier: str | None
    how: str
    configurations: int


def list_customers(ctx: Context, tenant: str) -> list[CustomerView]:
    """Every customer with its link, Managed ID, push flag and number of billing configurations."""
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        counts = dict(
            session.execute(
                select(BillingConfigurationRow.customer_id, func.count())
                .where(BillingConfigurationRow.tenant_id == row.id)
                .group_by(BillingConfigurationRow.customer_id)
            ).all()
        )
        query = (
            select(Customer, Link)
            .outerjoin(Link, Link.customer_id == Customer.id)
            .where(Customer.tenant_id == row.id)
            .order_by(Customer.external_id)
        )
        return [
            CustomerView(
                customer.external_id,
                customer.name,
                customer.managed_id,
                customer.push_enabled,
                link.cw_company_id if link else None,
                link.cw_identifier if link else None,
                link.how if link else "",
                counts.get(customer.id, 0),
            )
            for customer, link in session.execute(query)
        ]
