"""The revenue-leak report: usage with no billing line, and billing lines with no usage.

Made from the plan a chunk of customers at a time (``planning.plan_in_chunks``), as a preview
is: each chunk's findings are kept and its plan let go. What can only be told once every chunk is
planned (whether an addition meterbridge does not own bills a backup product: a line of a later
chunk may adopt it, or map its product) is kept as a candidate and judged at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from meterbridge.connectwise.models import Addition
from meterbridge.domain.billing import BillMode
from meterbridge.domain.periods import Period
from meterbridge.domain.plan import ChangeKind
from meterbridge.services.context import Context
from meterbridge.services.desired import Inputs
from meterbridge.services.planning import Built, plan_in_chunks
from meterbridge.services.scope import open_tenant
from meterbridge.services.views import LeakKind, LeakView


def _leak(kind: str, customer: str, subject: str, detail: str) -> LeakView:
    return LeakView(kind=LeakKind(kind), customer=customer, subject=subject, detail=detail)


@dataclass
class LeakReport:
    period: str
    leaks: list[LeakView] = field(default_factory=list)


@dataclass
class _Found:
    """The report's sections, filled chunk by chunk, and what is judged once every chunk is in."""

    usage: list[LeakView] = field(default_factory=list)  # per (customer, product)
    doubled: list[LeakView] = field(default_factory=list)  # per customer
    idle: list[LeakView] = field(default_factory=list)  # in the plan's order
    mapped: set[str] = field(default_factory=set)  # ConnectWise products meterbridge bills (casefolded)
    adopted: set[int] = field(default_factory=set)  # additions the run's lines adopt (the owned are never kept)
    #: active additions read that meterbridge does not own (it may adopt some in a later chunk):
    #: addition -> (agreement, product)
    unowned: dict[int, tuple[int, str]] = field(default_factory=dict)
    #: agreement -> its company, of every chunk's agreements (a chunk may read the additions of an
    #: agreement another chunk read, for a line it owns there)
    companies: dict[int, int] = field(default_factory=dict)
    first_customer: dict[int, str] = field(default_factory=dict)  # company -> its first customer by external id

    def owner(self, agreement_id: int) -> str:
        company = self.companies.get(agreement_id)
        return self.first_customer.get(company, "?") if company is not None else "?"

    def report(self, period: Period) -> LeakReport:
        unmanaged = [
            _leak(
                "line-without-usage",
                self.owner(agreement_id),
                product,
                f"addition {addition_id} on agreement {agreement_id} bills a backup product meterbridge does "
                "not manage: adopt it (addition rule or pin) or end it, or it may bill twice",
            )
            for addition_id, (agreement_id, product) in sorted(self.unowned.items(), key=lambda item: item[1][0])
            if addition_id not in self.adopted and product.casefold() in self.mapped
        ]
        by_customer = sorted(self.usage, key=lambda leak: (leak.customer, leak.subject))
        doubled = sorted(self.doubled, key=lambda leak: leak.customer)
        return LeakReport(str(period), [*by_customer, *doubled, *self.idle, *unmanaged])


async def revenue_leaks(ctx: Context, tenant: str, period_text: str) -> LeakReport:
    scope = open_tenant(ctx, tenant)
    period, _open = scope.billing_period(period_text)  # a month that has not started is refused
    found = _Found()
    async with ctx.client(scope.connection()) as cw:
        async for built in plan_in_chunks(scope, period, cw):
            _chunk(built, period, found)
    return found.report(period)


def _chunk(built: Built, period: Period, found: _Found) -> None:
    inputs = built.inputs
    _usage(built, found)
    for customer, doubled in sorted(inputs.overlaps.items()):
        for entry in doubled:
            product, _, configs = entry.partition(": ")
            found.doubled.append(
                _leak(
                    "double-billing",
                    customer,
                    product,
                    f"billed by configurations {configs} (allow_overlap): the same usage is billed more than once",
                )
            )
    found.mapped |= {p.cw_product.casefold() for p in inputs.products.values() if p.cw_product}
    found.mapped |= {c.line.cw_product.casefold() for c in inputs.lines}
    for change in built.plan.changes:
        if change.kind is ChangeKind.NOOP and change.addition_id and change.reason == "no usage: left as it is":
            found.idle.append(
                _leak(
                    "line-without-usage",
                    change.customer,
                    change.cw_product,
                    f"addition {change.addition_id} still bills {change.old_amount}; there is no usage this period",
                )
            )
    found.adopted |= built.adoptions.keys()  # the identities are the tenant's: left out as additions are read
    for info in inputs.customers.values():
        company = info.cw_company_id
        if company and info.external_id < found.first_customer.get(company, "\uffff"):
            found.first_customer[company] = info.external_id
    for agreement_id, agreement in built.agreements.items():
        if agreement.company_id is not None:
            found.companies[agreement_id] = agreement.company_id
    for agreement_id, additions in sorted(built.additions.items()):
        for addition in additions:
            if addition.id is not None and addition.id not in inputs.identities and _active(addition, period):
                product = (addition.product.identifier or "") if addition.product else ""
                found.unowned.setdefault(addition.id, (agreement_id, product))


def _active(addition: Addition, period: Period) -> bool:
    return addition.cancelled_date is None or addition.cancelled_date.date() >= period.first_day


def _usage(built: Built, found: _Found) -> None:
    inputs = built.inputs
    lines_by_product: dict[tuple[str, str], list[str]] = {}
    for configured in inputs.lines:
        for product in _products_of(inputs, configured.configuration_id):
            lines_by_product.setdefault((configured.line.customer, product), []).append(str(configured.line.key))
    blocked = {c.key: c.reason for c in built.plan.changes if c.kind is ChangeKind.BLOCKED}
    do_not_bill = {str(c.line.key) for c in inputs.lines if c.line.bill_customer is BillMode.DO_NOT_BILL}
    for (customer, product), total in sorted(inputs.usage.items()):
        if total.quantity <= 0 or (customer, product) not in inputs.sampled:
            continue
        info = inputs.customers.get(customer)
        usage = f"{total.quantity} {total.unit.value}"
        if info is not None and not info.push_enabled:
            found.usage.append(
                _leak("usage-without-line", customer, product, f"{usage} used; push is disabled for this customer")
            )
            continue
        keys = lines_by_product.get((customer, product))
        if not keys:
            found.usage.append(
                _leak(
                    "usage-without-line",
                    customer,
                    product,
                    f"{usage} used; no billing configuration bills it (or it is DoNotBill)",
                )
            )
            continue
        not_invoiced = [k for k in keys if k in do_not_bill]
        if len(not_invoiced) == len(keys):
            found.usage.append(
                _leak(
                    "usage-not-invoiced",
                    customer,
                    product,
                    f"{usage} used; its configuration is DoNotBill: sent to the agreement, never invoiced",
                )
            )
            continue
        reasons = [blocked[k] for k in keys if k in blocked]
        if reasons and len(reasons) == len(keys):
            found.usage.append(
                _leak("usage-without-line", customer, product, f"{usage} used; its line is blocked: {reasons[0]}")
            )


def _products_of(inputs: Inputs, configuration_id: int) -> list[str]:
    return list(inputs.configuration_products.get(configuration_id, ()))
