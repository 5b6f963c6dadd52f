"""Read ConnectWise and plan a period: desired lines + actual additions -> a checksummed plan.

Reads in bulk: the agreements of every linked company in scope with chunked
``company/id in (...)``, the catalog items the lines name (chunked ``identifier in (...)``),
then the additions of each agreement a line resolved to (or that holds an addition meterbridge
owns), concurrently within the client's rate limit. A failed read of one agreement blocks that
agreement's lines with the reason; the others are planned as usual. A line to a catalog item
that is missing or inactive is blocked (the doctor can create it), and so is the rest of its
company, as it is for a configuration that cannot be billed.

The period is checked before (``TenantScope.billing_period``): a month that has not started is
refused, the current month is a provisional bill of the usage so far.

A big tenant is planned a chunk of customers at a time (``plan_in_chunks``): each chunk's rows
are read, priced, its ConnectWise objects read and its plan made, then handed on (to be stored)
and let go, so memory holds one chunk, not the tenant. Chunks go in line-key order (a customer's
keys all begin with its external id and a '/'), so the plans one after the other are the plan of
the whole, checksum and safety verdict alike (``results.Tally``). What the chunks share is in
``Across``: the tenant's rows read once for the run (``desired.TenantRows``: products, price
lists, rules and line identities, so every chunk is priced by one state of them and an addition
another customer owns is never adopted), the additions adopted so far, the catalog items read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from meterbridge.connectwise.client import ConnectWiseClient
from meterbridge.connectwise.conditions import F, chunk_in
from meterbridge.connectwise.errors import ConnectWiseError
from meterbridge.connectwise.models import Addition, Agreement, CatalogItem
from meterbridge.domain.billing import LineKey
from meterbridge.domain.periods import Period
from meterbridge.domain.plan import ActualAddition, AgreementView, ChangeKind, Plan, Target, plan
from meterbridge.domain.rules import ADDITION_FIELDS, AGREEMENT_FIELDS, Resolution, Rule, RuleError, resolve
from meterbridge.domain.units import Unit
from meterbridge.services.configuration_options import DEFAULT_AGREEMENT_RULE
from meterbridge.services.desired import ConfiguredLine, Identity, Inputs, TenantRows, load_inputs, read_tenant_rows
from meterbridge.services.phases import Phases
from meterbridge.services.pool import run_workers
from meterbridge.services.scope import TenantScope
from meterbridge.store.repos import customers as customer_rows

#: What planning reads of an agreement: what rules may test, and what the plan's dates need
#: (a partial response: ConnectWise's agreement schema has 83 fields, this reads 24 of them).
AGREEMENT_READ = (*AGREEMENT_FIELDS, "nextInvoiceDate")


@dataclass(frozen=True)
class ReadAgreement:
    """An agreement as planning keeps it: what rules test (``record``) and what the plan's dates
    need (``view``), both made once per agreement; the model read from ConnectWise is not kept
    (those models were a fifth of what a preview of 5,000 customers held)."""

    record: dict[str, Any]
    view: AgreementView

    @classmethod
    def of(cls, agreement: Agreement) -> ReadAgreement:
        return cls(record(agreement), agreement_view(agreement))

    @property
    def id(self) -> int:
        return self.view.id

    @property
    def company_id(self) -> int | None:
        company = self.record.get("company")
        return company.get("id") if isinstance(company, dict) else None


@dataclass
class Across:
    """What the chunks of one run share (``plan_in_chunks``)."""

    phases: Phases
    tenant: TenantRows | None = None  # read with the first chunk, or before it
    catalog: dict[str, CatalogItem] = field(default_factory=dict)  # identifier (casefolded) -> item
    catalog_asked: set[str] = field(default_factory=set)  # identifiers read already (found or not)
    #: additions an earlier chunk's lines adopt or take over: addition id -> line key (owned, for
    #: this run, by a line of another chunk: neither adopted again nor anyone's to bill beside)
    adopted: dict[int, str] = field(default_factory=dict)
    _owned: dict[str, list[Identity]] | None = field(default=None, repr=False)

    def owned_by_customer(self) -> dict[str, list[Identity]]:
        """The identities by the customer of their line (indexed once, looked up per chunk)."""
        if self._owned is None:
            self._owned = defaultdict(list)
            for identity in (self.tenant.identities if self.tenant else {}).values():
                self._owned[LineKey.customer_of(identity.line_key)].append(identity)
        return self._owned


@dataclass
class Built:
    inputs: Inputs
    plan: Plan
    scope: frozenset[str]
    agreements: dict[int, ReadAgreement]
    additions: dict[int, list[Addition]]
    adoptions: dict[int, str] = field(default_factory=dict)  # addition id -> line key, adopted by rule or pin
    read_failures: dict[str, list[str]] = field(default_factory=dict)  # customer -> reasons
    outcomes: dict[str, str] = field(default_factory=dict)  # line key -> resolved, pinned, ambiguous, none, unlinked
    catalog: dict[str, CatalogItem] = field(default_factory=dict)  # identifier (casefolded) -> item
    catalog_problems: dict[str, str] = field(default_factory=dict)  # identifier (casefolded) -> reason
    #: line key -> (the use case that fixes what blocks it, its parameters): front-ends show their way to it
    actions: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    phases: Phases = field(default_factory=Phases)  # where the run's time went, phase by phase
    _by_addition: dict[int, tuple[int, Addition]] | None = field(default=None, repr=False)

    def addition(self, addition_id: int) -> tuple[int, Addition]:
        """(the agreement it was read under, the addition); KeyError for one not read. Indexed on
        first use: adopting 100,000 additions looks each up once, not through every addition read."""
        if self._by_addition is None:
            self._by_addition = {
                addition.id: (agreement_id, addition)
                for agreement_id, additions in self.additions.items()
                for addition in additions
                if addition.id is not None
            }
        return self._by_addition[addition_id]

    def problems(self) -> dict[str, list[str]]:
        merged: dict[str, list[str]] = defaultdict(list)
        for source in (self.inputs.configuration_errors, self.read_failures):
            for customer, reasons in source.items():
                merged[customer].extend(reasons)
        return dict(merged)


def record(model: Agreement | Addition) -> dict[str, Any]:
    """A ConnectWise object as the rules see it (camelCase, nested references)."""
    return model.model_dump(by_alias=True, exclude_none=True)


def _day(text: str | None) -> date | None:
    """ConnectWise's nextInvoiceDate is a string (a date or a date-time); None when absent or unreadable."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        return None


def agreement_view(agreement: Agreement) -> AgreementView:
    assert agreement.id is not None
    return AgreementView(
        id=agreement.id,
        name=agreement.name or "",
        bill_start=agreement.bill_start_date.date() if agreement.bill_start_date else None,
        end=agreement.end_date.date() if agreement.end_date and not agreement.no_ending_date_flag else None,
        cancelled=bool(agreement.cancelled_flag),
        next_invoice=_day(agreement.next_invoice_date),
        prorate=bool(agreement.prorate_flag),
    )


async def read_catalog(cw: ConnectWiseClient, identifiers: set[str]) -> dict[str, CatalogItem]:
    """Catalog items by identifier (casefolded), in chunked ``identifier in (...)`` reads."""
    found: dict[str, CatalogItem] = {}
    for condition in chunk_in(F("identifier"), sorted(identifiers), lambda c: len(str(c)) < 1500):
        for item in await cw.catalog_items(condition):
            if item.identifier:
                found[item.identifier.casefold()] = item
    return found


def catalog_problems(identifiers: set[str], found: dict[str, CatalogItem], period: Period) -> dict[str, str]:
    problems = {}
    for identifier in sorted(identifiers):
        item = found.get(identifier.casefold())
        if item is None:
            problems[identifier.casefold()] = (
                f"ConnectWise has no catalog item {identifier}, so it would refuse the addition: create it in "
                "Procurement > Product Catalog, or let the doctor create it"
            )
        elif item.inactive_flag:
            problems[identifier.casefold()] = (
                f"the catalog item {identifier} is inactive, so ConnectWise would refuse the addition: reactivate it "
                "in Procurement > Product Catalog"
            )
    return problems


def actual_addition(
    addition: Addition, agreement_id: int, owned_key: str | None, last_written: Any, last_period: Period | None = None
) -> ActualAddition:
    """An addition as the plan sees it, on the agreement it was read under."""
    assert addition.id is not None
    return ActualAddition(
        id=addition.id,
        agreement_id=agreement_id,
        cw_product=(addition.product.identifier or "") if addition.product else "",
        quantity=addition.quantity if addition.quantity is not None else 0,  # type: ignore[arg-type]
        unit_price=addition.unit_price,
        unit_cost=addition.unit_cost,
        bill_customer=addition.bill_customer or "",
        effective=addition.effective_date.date() if addition.effective_date else None,
        cancelled=addition.cancelled_date.date() if addition.cancelled_date else None,
        description=addition.invoice_description,
        owned_key=owned_key,
        last_updated=addition.info.last_updated if addition.info else None,
        last_written=last_written,
        last_period=last_period,
    )


class _Rules:
    """Compiled once per text; a rule that does not compile explains itself on every line using it."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], Rule | str] = {}

    def get(self, named: tuple[str, str] | None, target: str) -> Rule | str | None:
        if named is None:
            return None
        key = (named[1], target)
        if key not in self._cache:
            try:
                self._cache[key] = Rule.compile(
                    named[1], AGREEMENT_FIELDS if target == "agreement" else ADDITION_FIELDS
                )
            except RuleError as error:
                self._cache[key] = f"the {target} rule {named[0]!r} cannot be used: {error}"
        return self._cache[key]


async def read_additions(
    cw: ConnectWiseClient, agreement_ids: set[int]
) -> tuple[dict[int, list[Addition]], dict[int, str]]:
    """Additions per agreement, concurrently; a ConnectWise error fails only its agreement (id -> reason).

    As many reads are under way as the connection has calls in flight, by a pool of that many
    readers taking the agreements in order: a task per agreement (100,000 of them waiting on the
    client's limit) would hold memory in proportion to the tenant."""
    ids = iter(sorted(agreement_ids))
    additions: dict[int, list[Addition]] = {}
    failures: dict[int, str] = {}

    async def reader() -> None:
        for agreement_id in ids:
            try:
                additions[agreement_id] = await cw.additions(agreement_id)
            except ConnectWiseError as error:
                failures[agreement_id] = str(error)

    await run_workers(min(len(agreement_ids), cw.settings.max_concurrency), reader)
    return dict(sorted(additions.items())), failures


def chunk_order(external_id: str) -> str:
    """Where a customer's lines sort among the plan's (line keys are ``customer/...``)."""
    return external_id + "/"


async def plan_in_chunks(
    scope: TenantScope,
    period: Period,
    cw: ConnectWiseClient,
    *,
    only: frozenset[str] | None = None,
    provisional: bool = False,
) -> AsyncIterator[Built]:
    """The plan of the customers in scope, a chunk of ``Context.plan_chunk`` customers at a time,
    in line-key order (a tenant without customers: one empty chunk)."""
    size = max(1, scope.ctx.plan_chunk)
    across = Across(Phases(scope.ctx.monotonic))
    with across.phases.timing("read database"), scope.ctx.db.session() as session:
        names = sorted(
            (n for n in customer_rows.external_ids(session, scope.id) if only is None or n in only), key=chunk_order
        )
        across.tenant = read_tenant_rows(session, scope.id, period)
    for start in range(0, max(len(names), 1), size):
        chunk = frozenset(names[start : start + size])
        yield await build_plan(scope, period, cw, only=chunk, provisional=provisional, across=across)


async def build_plan(
    scope: TenantScope,
    period: Period,
    cw: ConnectWiseClient,
    *,
    only: frozenset[str] | None = None,
    provisional: bool = False,
    across: Across | None = None,
) -> Built:
    """The plan of the customers in scope (``only``: those), in one piece; ``across``: a chunk of
    ``plan_in_chunks``."""
    across = across or Across(Phases(scope.ctx.monotonic))
    phases = across.phases
    with phases.timing("read database"), scope.ctx.db.session() as session:
        across.tenant = across.tenant or read_tenant_rows(session, scope.id, period)
        inputs = load_inputs(session, scope, period, only=only, phases=phases, tenant=across.tenant)
    reading = phases.clock()
    in_scope = frozenset(c.external_id for c in inputs.customers.values() if c.push_enabled)
    company_ids = {c.cw_company_id for c in inputs.customers.values() if c.external_id in in_scope and c.cw_company_id}
    agreements = await cw.agreements_of_companies(company_ids, fields=AGREEMENT_READ)
    by_id = {a.id: ReadAgreement.of(a) for a in agreements if a.id is not None}
    del agreements  # the models: only what planning uses of them is kept
    by_company: dict[int, list[ReadAgreement]] = defaultdict(list)
    for read in by_id.values():
        if read.company_id is not None:
            by_company[read.company_id].append(read)
    products = {configured.line.cw_product for configured in inputs.lines}
    unread = products - across.catalog_asked
    if unread:
        across.catalog.update(await read_catalog(cw, unread))
        across.catalog_asked |= unread
    catalog = across.catalog
    phases.add("read ConnectWise", phases.clock() - reading)

    planning = phases.clock()
    rules = _Rules()
    chosen: dict[str, ReadAgreement | str] = {}  # line key -> agreement or the reason there is none
    outcomes: dict[str, str] = {}
    for configured in inputs.lines:
        key = str(configured.line.key)
        chosen[key], outcomes[key] = _choose_agreement(configured, inputs, by_company, rules)

    owned = across.owned_by_customer()
    owned_agreements = {identity.agreement_id for customer in in_scope for identity in owned.get(customer, ())}
    wanted = {a.id for a in chosen.values() if isinstance(a, ReadAgreement)} | owned_agreements
    phases.add("plan", phases.clock() - planning)
    with phases.timing("read ConnectWise"):
        additions, failed = await read_additions(cw, wanted)

    planning = phases.clock()
    built = Built(inputs, None, in_scope, by_id, additions, outcomes=outcomes, catalog=catalog, phases=phases)  # type: ignore[arg-type]
    owned_keys = {identity.line_key for customer in inputs.customers for identity in owned.get(customer, ())}
    products_of: dict[int, set[str]] = defaultdict(set)  # configuration -> the ConnectWise products it bills
    for configured in inputs.lines:
        products_of[configured.configuration_id].add(configured.line.cw_product)
    targets = []
    # in line-key order: where two lines could adopt one addition, the first in the plan's order
    # does, whether the two are planned in one chunk or apart
    for configured in sorted(inputs.lines, key=lambda c: str(c.line.key)):
        line = configured.line
        key = str(line.key)
        label, unit = line_label(configured, inputs, several=len(products_of[configured.configuration_id]) > 1)
        picked = chosen[key]
        if isinstance(picked, str):
            targets.append(Target(line, None, picked, label=label, unit=unit))
            continue
        agreement = picked
        if agreement.id in failed:
            reason = f"could not read the additions of agreement {agreement.id}: {failed[agreement.id]}"
            built.read_failures.setdefault(line.customer, []).append(reason)
            targets.append(Target(line, None, reason, label=label, unit=unit))
            continue
        if key not in owned_keys and (configured.addition_rule or configured.addition_pin):
            blocked = _adopt(configured, additions.get(agreement.id, []), inputs, built, rules, across.adopted)
            if blocked:
                targets.append(Target(line, None, blocked, label=label, unit=unit))
                continue
        targets.append(
            Target(
                line,
                agreement.view,
                default_description=_catalog_text(catalog, line.cw_product),
                waiting=_waiting(inputs, configured, period) if provisional else None,
                beside=configured.beside,
                label=label,
                unit=unit,
            )
        )

    settings = inputs.settings
    built.catalog_problems = catalog_problems(products, catalog, period)
    built.plan = plan(
        period,
        targets,
        _actual(built, inputs.identities, across.adopted),
        bill_start_policy=settings.bill_start_policy,
        invoiced_policy=settings.invoiced_policy,
        drift_policy=settings.drift_policy,
        scope_customers=in_scope,
        catalog_problems=built.catalog_problems,
        held_customers={c: "; ".join(errors) for c, errors in inputs.configuration_errors.items() if c in in_scope},
        provisional=provisional,
        agreements={agreement_id: read.view for agreement_id, read in by_id.items()},
        catalog_prices={key: item.price for key, item in catalog.items() if item.price is not None},
    )
    built.adoptions.update(built.plan.handovers)  # the lines that took them over own them once pushed
    built.actions = _actions(built, period)
    across.adopted.update(built.adoptions)
    phases.add("plan", phases.clock() - planning)
    return built


def line_label(configured: ConfiguredLine, inputs: Inputs, *, several: bool) -> tuple[str, str]:
    """What a person calls a line (its products' names, with its ConnectWise product when its
    configuration bills several) and the unit of its quantity ("GB"; "blocks" when it is billed in
    blocks; none for a count, or for a total sent as quantity 1)."""
    line = configured.line
    known = [
        inputs.products[key]
        for key in inputs.configuration_products.get(configured.configuration_id, ())
        if key in inputs.products
    ]
    label = " + ".join(product.name for product in known) or line.configuration
    if several:
        label = f"{label} ({line.cw_product})"
    steps = line.explanation.steps
    units = {product.unit for product in known}
    if any(step.name == "blocks" for step in steps):
        return label, "blocks"
    if any(step.name == "data mode" and step.detail.startswith("total") for step in steps) or len(units) != 1:
        return label, ""
    unit = units.pop()
    return label, "" if unit is Unit.COUNT else unit.value


def _catalog_text(catalog: dict[str, CatalogItem], cw_product: str) -> str | None:
    """What ConnectWise's invoice says for a product of its catalog (its customer description)."""
    item = catalog.get(cw_product.casefold())
    return (item.customer_description or item.description) if item else None


def _waiting(inputs: Inputs, configured: ConfiguredLine, period: Period) -> str | None:
    """A provisional period whose usage has not arrived yet for the line: it is left as it is, not
    billed at zero (early in the month every running line would drop to nothing)."""
    products = inputs.configuration_products.get(configured.configuration_id, ())
    customer = configured.line.customer
    if any((customer, product) in inputs.sampled for product in products):
        return None
    return (
        f"{period} is not over and has no usage samples for {customer} yet: the line is left as it is until they arrive"
    )


def _actions(built: Built, period: Period) -> dict[str, tuple[str, dict[str, str]]]:
    """What fixes each blocked line, as a use case a front-end can lead to."""
    actions: dict[str, tuple[str, dict[str, str]]] = {}
    for change in built.plan.of_kind(ChangeKind.BLOCKED):
        outcome = built.outcomes.get(change.key)
        problem = built.catalog_problems.get(change.cw_product.casefold(), "")
        if problem.startswith("ConnectWise has no catalog item") and change.reason == problem:
            actions[change.key] = ("doctor.create", {"period": str(period)})
        elif outcome == "unlinked":
            actions[change.key] = ("companies.link", {"customer": change.customer})
        elif outcome == "rule" and change.reason.startswith("no agreement rule"):
            actions[change.key] = ("rules.set", {"name": DEFAULT_AGREEMENT_RULE})
        elif outcome == "none":
            actions[change.key] = ("doctor.create", {"period": str(period)})
    return actions


def _actual(built: Built, identities: dict[int, Identity], elsewhere: Mapping[int, str]) -> list[ActualAddition]:
    """The additions read, as the plan sees them; ``elsewhere``: those an earlier chunk's lines
    adopted (owned, as in a plan of the whole)."""
    actual = []
    for agreement_id, agreement_additions in built.additions.items():
        for addition in agreement_additions:
            identity = identities.get(addition.id or 0)
            adopted = built.adoptions.get(addition.id or 0) or elsewhere.get(addition.id or 0)
            owned = identity.line_key if identity else adopted
            actual.append(
                actual_addition(
                    addition,
                    agreement_id,
                    owned,
                    identity.last_written if identity else None,
                    identity.last_period if identity else None,
                )
            )
    return actual


def _choose_agreement(
    configured: ConfiguredLine, inputs: Inputs, by_company: dict[int, list[ReadAgreement]], rules: _Rules
) -> tuple[ReadAgreement | str, str]:
    """The agreement a line goes to, or why there is none; and the outcome (resolved, pinned,
    ambiguous, none, unlinked, rule)."""
    customer = inputs.customers[configured.line.customer]
    if customer.cw_company_id is None:
        how = "unlinked by hand" if customer.link_how == "unset" else "not linked"
        return (
            f"customer {customer.external_id} ({customer.name}) is {how} to a ConnectWise company: link it to its "
            "company"
        ), "unlinked"
    rule = rules.get(configured.agreement_rule, "agreement")
    if isinstance(rule, str):
        return rule, "rule"
    if rule is None and configured.agreement_pin is None:
        return (
            f"no agreement rule and no pin: add the rule {DEFAULT_AGREEMENT_RULE} (or the configuration's own rule), "
            "or pin an agreement to the configuration"
        ), "rule"
    candidates = [a.record for a in by_company.get(customer.cw_company_id, [])]
    resolved = resolve(rule, candidates, pin=configured.agreement_pin)
    if resolved.chosen is None:
        return f"company {customer.cw_company_id}: {resolved.reason}", resolved.outcome.value
    chosen = next(a for a in by_company[customer.cw_company_id] if a.id == resolved.chosen.get("id"))
    return chosen, resolved.outcome.value


def _adopt(
    configured: ConfiguredLine,
    additions: list[Addition],
    inputs: Inputs,
    built: Built,
    rules: _Rules,
    adopted: Mapping[int, str],
) -> str | None:
    """Adopt the existing addition the addition rule or pin picks for this line; a reason when it cannot."""
    line = configured.line
    rule = rules.get(configured.addition_rule, "addition")
    if isinstance(rule, str):
        return rule
    period_start = inputs.period.first_day
    candidates = [
        record(a)
        for a in additions
        if a.id not in inputs.identities
        and a.id not in built.adoptions
        and a.id not in adopted
        and a.product is not None
        and (a.product.identifier or "").casefold() == line.cw_product.casefold()
        and (a.cancelled_date is None or a.cancelled_date.date() >= period_start)
    ]
    resolved = resolve(rule, candidates, pin=configured.addition_pin, what="addition")
    if resolved.outcome is Resolution.AMBIGUOUS or (configured.addition_pin and resolved.chosen is None):
        return f"adopting an existing addition: {resolved.reason}"
    if resolved.chosen is not None:
        built.adoptions[int(resolved.chosen["id"])] = str(line.key)
    return None  # nothing to adopt: meterbridge creates its own
