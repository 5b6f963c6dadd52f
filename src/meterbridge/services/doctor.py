"""The setup doctor: checks the ConnectWise side of a period's billing and, when asked, creates what is missing.

Checks: the connection; a catalog item for every mapped ConnectWise product; the agreement type
the doctor would use; per linked company with a configuration, an agreement its rule (or pin)
resolves to, not cancelled, not ended, billing from before the period's end. ``create=True``
adds missing catalog items and, for companies whose rule finds no agreement, an agreement of
the tenant's agreement type (its contact: the company's first contact).

The period's plan is made a chunk of customers at a time (``planning.plan_in_chunks``), as a
preview makes it: what the checks need of each chunk is kept (``_Facts``) and its plan let go;
the checks run once every chunk is in, in the same order as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from meterbridge.connectwise.client import ConnectWiseClient
from meterbridge.connectwise.conditions import F
from meterbridge.connectwise.errors import ConnectWiseError
from meterbridge.connectwise.models import CatalogItem
from meterbridge.domain.periods import Period
from meterbridge.domain.plan import HELD_BACK, ChangeKind
from meterbridge.services.actors import Actor
from meterbridge.services.audit import audit
from meterbridge.services.context import Context
from meterbridge.services.planning import Built, plan_in_chunks, read_catalog
from meterbridge.services.scope import open_tenant
from meterbridge.services.views import FindingView, Severity


@dataclass
class Diagnosis:
    findings: list[FindingView] = field(default_factory=list)
    #: told of each fix as it is made (the audit log has it even if a later check fails)
    on_fix: Callable[[FindingView], None] | None = None

    @property
    def errors(self) -> list[FindingView]:
        return [f for f in self.findings if f.severity is Severity.ERROR and not f.fixed]

    def add(
        self,
        severity: str,
        check: str,
        subject: str,
        message: str,
        *,
        fixed: bool = False,
        action: tuple[str, dict[str, str]] | None = None,
    ) -> None:
        finding = FindingView(
            severity=Severity(severity),
            check=check,
            subject=subject,
            message=message,
            fixed=fixed,
            action=action[0] if action else None,
            params=dict(action[1]) if action else {},
        )
        self.findings.append(finding)
        if fixed and self.on_fix is not None:
            self.on_fix(finding)


@dataclass
class _Facts:
    """What the catalog and agreement checks need of the plan, gathered chunk by chunk."""

    period: Period
    #: ConnectWise product identifier -> the name to give a catalog item meterbridge creates
    wanted: dict[str, str] = field(default_factory=dict)
    problems: dict[tuple[str, str], None] = field(default_factory=dict)  # (customer, reason), in the plan's order
    missing: dict[str, int] = field(default_factory=dict)  # customer -> company: no agreement the rule finds
    linked: set[str] = field(default_factory=set)  # customers in scope with a company
    blocked: set[str] = field(default_factory=set)  # customers with a blocked line

    def add(self, built: Built) -> None:
        for product in built.inputs.products.values():
            if product.cw_product:
                self.wanted.setdefault(product.cw_product, product.name)
        for configured in built.inputs.lines:
            self.wanted.setdefault(configured.line.cw_product, configured.line.cw_product)
        for change in built.plan.changes:
            if change.kind is not ChangeKind.BLOCKED:
                continue
            self.blocked.add(change.customer)
            if change.reason.startswith(HELD_BACK):
                continue  # a line held back with its company is not an agreement problem of its own
            if change.cw_product.casefold() in built.catalog_problems:
                continue  # the catalog check reports (or fixes) it
            info = built.inputs.customers.get(change.customer)
            if built.outcomes.get(change.key, "") == "none" and info is not None and info.cw_company_id is not None:
                self.missing[change.customer] = info.cw_company_id
            else:
                self.problems.setdefault((change.customer, change.reason))
        self.linked |= {c for c in built.scope if built.inputs.customers[c].cw_company_id is not None}


async def diagnose(ctx: Context, tenant: str, period_text: str, *, actor: Actor, create: bool = False) -> Diagnosis:
    """Check the ConnectWise side; with ``create``, fix what can be fixed (each fix audited as the actor's)."""
    scope = open_tenant(ctx, tenant)
    period, _open = scope.billing_period(period_text)  # a month that has not started is refused
    settings, connection = scope.settings, scope.connection()

    def record(fix: FindingView) -> None:
        with ctx.db.session() as session:
            detail = {"check": fix.check, "subject": fix.subject, "what": fix.message, "period": str(period)}
            audit(session, ctx, scope.id, actor, "doctor.create", detail)

    diagnosis = Diagnosis(on_fix=record)
    async with ctx.client(connection) as cw:
        try:
            codebase = await cw.codebase(refresh=True)
        except ConnectWiseError as error:
            diagnosis.add("error", "connection", connection.site, str(error))
            return diagnosis
        diagnosis.add("ok", "connection", connection.site, f"reachable (codebase {codebase})")
        facts = _Facts(period)
        async for built in plan_in_chunks(scope, period, cw):
            facts.add(built)
        await _check_catalog(cw, facts, diagnosis, create=create)
        types = {t.name.casefold(): t for t in await cw.agreement_types() if t.name}
        chosen_type = types.get(settings.agreement_type.casefold())
        if chosen_type is None or chosen_type.inactive_flag:
            diagnosis.add(
                "warning",
                "agreement type",
                settings.agreement_type,
                "the agreement type the doctor creates agreements with does not exist or is inactive: create it in "
                "ConnectWise (Setup Tables > Agreement Type) or change the tenant setting agreement_type",
            )
        else:
            diagnosis.add("ok", "agreement type", settings.agreement_type, "exists and is active")
        await _check_agreements(cw, facts, diagnosis, settings.agreement_type if chosen_type else None, create=create)
    return diagnosis


async def _check_catalog(cw: ConnectWiseClient, facts: _Facts, diagnosis: Diagnosis, *, create: bool) -> None:
    wanted = facts.wanted
    if not wanted:
        diagnosis.add("warning", "catalog", "-", "no product is mapped to a ConnectWise catalog item yet")
        return
    found = await read_catalog(cw, set(wanted))
    template: CatalogItem | None = next(iter(found.values()), None)
    for identifier, name in sorted(wanted.items()):
        existing = found.get(identifier.casefold())
        if existing is not None and not existing.inactive_flag:
            diagnosis.add("ok", "catalog", identifier, "catalog item exists")
            continue
        if existing is not None:
            diagnosis.add(
                "error",
                "catalog",
                identifier,
                "the catalog item is inactive: ConnectWise refuses additions "
                "of it; reactivate it in Procurement > Product Catalog",
            )
            continue
        if not create:
            diagnosis.add(
                "error",
                "catalog",
                identifier,
                "no catalog item with this identifier: create it in ConnectWise, or let the doctor create it",
                action=("doctor.create", {"period": str(facts.period)}),
            )
            continue
        body: dict[str, Any] = {
            "identifier": identifier,
            "description": name[:60],
            "customerDescription": name,
            "subcategory": template.subcategory.model_dump(exclude_none=True)
            if template and template.subcategory
            else {"name": "Backup"},
            "type": template.type.model_dump(exclude_none=True) if template and template.type else {"name": "Service"},
            "productClass": "Service",
        }
        try:
            await cw.create("procurement/catalog", body)
        except ConnectWiseError as error:
            diagnosis.add("error", "catalog", identifier, f"could not create the catalog item: {error}")
        else:
            diagnosis.add("ok", "catalog", identifier, "catalog item created", fixed=True)


async def _check_agreements(
    cw: ConnectWiseClient, facts: _Facts, diagnosis: Diagnosis, agreement_type: str | None, *, create: bool
) -> None:
    missing = facts.missing
    for customer, reason in facts.problems:
        diagnosis.add("error", "agreement", customer, reason)
    for customer, company_id in sorted(missing.items()):
        if not create or agreement_type is None:
            diagnosis.add(
                "error",
                "agreement",
                customer,
                f"company {company_id} has no agreement the rule resolves to: create one, pin one, or let the doctor "
                "create it",
                action=("doctor.create", {"period": str(facts.period)}),
            )
            continue
        try:
            contacts = await cw.contacts(F("company/id").eq(company_id))
            company = (await cw.companies(F("id").eq(company_id)))[0]
            if not contacts:
                raise ValueError(f"company {company_id} has no contact; ConnectWise needs one for an agreement")
            period = facts.period
            await cw.create(
                "finance/agreements",
                {
                    "name": f"Backup - {company.name}"[:100],
                    "type": {"name": agreement_type},
                    "company": {"id": company_id},
                    "contact": {"id": contacts[0].id},
                    "startDate": period.first_day,
                    "billStartDate": period.first_day,
                    "noEndingDateFlag": True,
                },
            )
        except (ConnectWiseError, ValueError) as error:
            diagnosis.add("error", "agreement", customer, f"could not create an agreement: {error}")
        else:
            diagnosis.add("ok", "agreement", customer, f"agreement created for company {company_id}", fixed=True)
    fine = sorted(facts.linked - facts.blocked - set(missing))
    if fine:
        diagnosis.add("ok", "agreement", f"{len(fine)} companies", "every line resolves to an agreement that can bill")
