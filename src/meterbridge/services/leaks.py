"""The revenue-leak report: usage with no billing line, and billing lines with no usage."""

from __future__ import annotations

from dataclasses import dataclass, field

from meterbridge.domain.billing import BillMode
from meterbridge.domain.plan import ChangeKind
from meterbridge.services.context import Context
from meterbridge.services.desired import Inputs
from meterbridge.services.planning import build_plan
from meterbridge.services.scope import open_tenant
from meterbridge.services.views import LeakKind, LeakView


def _leak(kind: str, customer: str, subject: str, detail: str) -> LeakView:
    return LeakView(kind=LeakKind(kind), customer=customer, subject=subject, detail=detail)


@dataclass
class LeakReport:
    period: str
    leaks: list[LeakView] = field(default_factory=list)


async def revenue_leaks(ctx: Context, tenant: str, period_text: str) -> LeakReport:
    scope = open_tenant(ctx, tenant)
    period, _open = scope.billing_period(period_text)  # a month that has not started is refused
    report = LeakReport(str(period))
    async with ctx.client(scope.connection()) as cw:
        built = await build_plan(scope, period, cw)
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
            report.leaks.append(
                _leak("usage-without-line", customer, product, f"{usage} used; push is disabled for this customer")
            )
            continue
        keys = lines_by_product.get((customer, product))
        if not keys:
            report.leaks.append(
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
            report.leaks.append(
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
            report.leaks.append(
                _leak("usage-without-line", customer, product, f"{usage} used; its line is blocked: {reasons[0]}")
            )
    for customer, doubled in sorted(inputs.overlaps.items()):
        for entry in doubled:
            product, _, configs = entry.partition(": ")
            report.leaks.append(
                _leak(
                    "double-billing",
                    customer,
                    product,
                    f"billed by configurations {configs} (allow_overlap): the same usage is billed more than once",
                )
            )
    mapped = {p.cw_product.casefold() for p in inputs.products.values() if p.cw_product}
    mapped |= {c.line.cw_product.casefold() for c in inputs.lines}
    for change in built.plan.changes:
        if change.kind is ChangeKind.NOOP and change.addition_id and change.reason == "no usage: left as it is":
            report.leaks.append(
                _leak(
                    "line-without-usage",
                    change.customer,
                    change.cw_product,
                    f"addition {change.addition_id} still bills {change.old_amount}; there is no usage this period",
                )
            )
    owned = set(inputs.identities) | set(built.adoptions)
    by_company = {c.cw_company_id: c.external_id for c in inputs.customers.values() if c.cw_company_id}
    for agreement_id, additions in sorted(built.additions.items()):
        agreement = built.agreements.get(agreement_id)
        company_id = agreement.company_id if agreement else None
        owner = by_company.get(company_id) if company_id is not None else None
        for addition in additions:
            product = (addition.product.identifier or "") if addition.product else ""
            active = addition.cancelled_date is None or addition.cancelled_date.date() >= period.first_day
            if addition.id in owned or not active or product.casefold() not in mapped:
                continue
            report.leaks.append(
                _leak(
                    "line-without-usage",
                    owner or "?",
                    product,
                    f"addition {addition.id} on agreement {agreement_id} bills a backup product meterbridge does "
                    "not manage: adopt it (addition rule or pin) or end it, or it may bill twice",
                )
            )
    return report


def _products_of(inputs: Inputs, configuration_id: int) -> list[str]:
    return list(inputs.configuration_products.get(configuration_id, ()))
