"""The revenue-leak report: usage with no billing line, and billing lines with no usage, in money.

Usage no line invoices is valued at the prices in force, by the plan's own pricing: a line that
is DoNotBill or blocked at what the line would bill (``DesiredLine.amount``, or ConnectWise's
catalog price for a quantity-only line), less what its addition still bills; usage no
configuration bills (or of a customer whose push is off) at its price list or the customer's own
price (``pricing.price_quantity``). A line without usage is valued at what its addition bills
for the month (the invoice model). The report's totals: ``unbilled`` and ``billed_without_usage``.

Made from the plan a chunk of customers at a time (``planning.plan_in_chunks``), as a preview
is: each chunk's findings are kept and its plan let go. What can only be told once every chunk is
planned (whether an addition meterbridge does not own bills a backup product: a line of a later
chunk may adopt it, or map its product) is kept as a candidate and judged at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from meterbridge.connectwise.models import Addition
from meterbridge.domain.billing import BillMode, DesiredLine
from meterbridge.domain.invoice import Dated, amount
from meterbridge.domain.money import ZERO, format_money, round_amount
from meterbridge.domain.periods import Period
from meterbridge.domain.plan import ChangeKind
from meterbridge.domain.pricing import UNSET_PRICE, Price, price_quantity
from meterbridge.domain.usage import Aggregate
from meterbridge.services.context import Context
from meterbridge.services.desired import Inputs
from meterbridge.services.planning import Built, plan_in_chunks
from meterbridge.services.prices import domain_price
from meterbridge.services.scope import TenantScope, open_tenant
from meterbridge.services.views import LeakKind, LeakReportView, LeakView
from meterbridge.store.repos import catalog

UNBILLED = (LeakKind.USAGE_WITHOUT_LINE, LeakKind.USAGE_NOT_INVOICED)
#: How the plan says a line without usage leaves its addition billing (zero policy leave).
LEFT_AS_IT_IS = "no usage: left as it is"


def _leak(kind: str, customer: str, subject: str, detail: str, money: Decimal | None = None) -> LeakView:
    return LeakView(kind=LeakKind(kind), customer=customer, subject=subject, detail=detail, amount=money)


@dataclass
class LeakReport:
    period: str
    leaks: list[LeakView] = field(default_factory=list)

    def view(self) -> LeakReportView:
        """The report with its totals: what the usage no line invoices would bill, and what
        additions bill the month with no usage behind them."""
        return LeakReportView(
            period=self.period,
            leaks=self.leaks,
            unbilled=round_amount(sum((leak.amount or ZERO for leak in self.leaks if leak.kind in UNBILLED), ZERO)),
            billed_without_usage=round_amount(
                sum((leak.amount or ZERO for leak in self.leaks if leak.kind is LeakKind.LINE_WITHOUT_USAGE), ZERO)
            ),
        )


@dataclass(frozen=True)
class _Prices:
    """The prices in force, read once for the report: each product's price list and the customers' own."""

    listed: dict[str, Price]  # product key -> price list
    own: dict[tuple[str, str], Price]  # (customer, product) -> the customer's price
    currency: str

    def of(self, customer: str, product: str) -> tuple[Price, str]:
        if (customer, product) in self.own:
            return self.own[(customer, product)], f"{customer}'s own price"
        if product in self.listed:
            return self.listed[product], "the price list"
        return UNSET_PRICE, "no price set: 0"

    def money(self, value: Decimal) -> str:
        return format_money(value, self.currency)


def _read_prices(scope: TenantScope) -> _Prices:
    listed: dict[str, Price] = {}
    own: dict[tuple[str, str], Price] = {}
    with scope.ctx.db.session() as session:
        for row, product, customer in catalog.prices_named(session, scope.id):
            if customer is None:
                listed[product] = domain_price(row)
            else:
                own[(customer, product)] = domain_price(row)
    return _Prices(listed, own, scope.settings.currency)


@dataclass
class _Found:
    """The report's sections, filled chunk by chunk, and what is judged once every chunk is in."""

    usage: list[LeakView] = field(default_factory=list)  # per (customer, product)
    doubled: list[LeakView] = field(default_factory=list)  # per customer
    idle: list[LeakView] = field(default_factory=list)  # in the plan's order
    mapped: set[str] = field(default_factory=set)  # ConnectWise products meterbridge bills (casefolded)
    adopted: set[int] = field(default_factory=set)  # additions the run's lines adopt (the owned are never kept)
    #: active additions read that meterbridge does not own (it may adopt some in a later chunk):
    #: addition -> (agreement, product, what it bills for the period)
    unowned: dict[int, tuple[int, str, Decimal]] = field(default_factory=dict)
    #: agreement -> its company, of every chunk's agreements (a chunk may read the additions of an
    #: agreement another chunk read, for a line it owns there)
    companies: dict[int, int] = field(default_factory=dict)
    first_customer: dict[int, str] = field(default_factory=dict)  # company -> its first customer by external id

    def owner(self, agreement_id: int) -> str:
        company = self.companies.get(agreement_id)
        return self.first_customer.get(company, "?") if company is not None else "?"

    def report(self, period: Period, prices: _Prices) -> LeakReport:
        unmanaged = [
            _leak(
                "line-without-usage",
                self.owner(agreement_id),
                product,
                f"addition {addition_id} on agreement {agreement_id} bills {prices.money(billed)} for {period}, for "
                "a backup product meterbridge does not manage: adopt it (addition rule or pin) or end it, or it may "
                "bill twice",
                billed,
            )
            for addition_id, (agreement_id, product, billed) in sorted(self.unowned.items(), key=lambda i: i[1][0])
            if addition_id not in self.adopted and product.casefold() in self.mapped
        ]
        by_customer = sorted(self.usage, key=lambda leak: (leak.customer, leak.subject))
        doubled = sorted(self.doubled, key=lambda leak: leak.customer)
        return LeakReport(str(period), [*by_customer, *doubled, *self.idle, *unmanaged])


async def revenue_leaks(ctx: Context, tenant: str, period_text: str) -> LeakReport:
    scope = open_tenant(ctx, tenant)
    period, _open = scope.billing_period(period_text)  # a month that has not started is refused
    found = _Found()
    prices = _read_prices(scope)
    async with ctx.client(scope.connection()) as cw:
        async for built in plan_in_chunks(scope, period, cw):
            _chunk(built, period, found, prices)
    return found.report(period, prices)


def _chunk(built: Built, period: Period, found: _Found, prices: _Prices) -> None:
    inputs = built.inputs
    _usage(built, found, prices)
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
        if change.kind is ChangeKind.NOOP and change.addition_id and change.reason.startswith(LEFT_AS_IT_IS):
            found.idle.append(
                _leak(
                    "line-without-usage",
                    change.customer,
                    change.cw_product,
                    f"addition {change.addition_id} still bills {prices.money(change.old_amount)}; there is no usage "
                    "this period",
                    change.old_amount,
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
        read = built.agreements.get(agreement_id)
        prorated = read.view.prorate if read is not None else False
        for addition in additions:
            if addition.id is not None and addition.id not in inputs.identities and _active(addition, period):
                product = (addition.product.identifier or "") if addition.product else ""
                billed = amount(_dated(addition), period, prorated=prorated)
                found.unowned.setdefault(addition.id, (agreement_id, product, billed))


def _active(addition: Addition, period: Period) -> bool:
    return addition.cancelled_date is None or addition.cancelled_date.date() >= period.first_day


def _dated(addition: Addition) -> Dated:
    return Dated(
        addition.quantity if addition.quantity is not None else ZERO,
        addition.unit_price,
        addition.bill_customer or "",
        addition.effective_date.date() if addition.effective_date else None,
        addition.cancelled_date.date() if addition.cancelled_date else None,
    )


def _would_bill(line: DesiredLine, built: Built) -> Decimal:
    """What a line would invoice were it billable: its amount (a DoNotBill line is priced as usual),
    or for a quantity-only line its quantity at ConnectWise's catalog price; nothing at no charge."""
    if line.bill_customer is BillMode.NO_CHARGE:
        return ZERO
    if line.unit_price is None:
        item = built.catalog.get(line.cw_product.casefold())
        price = item.price if item is not None else None
        return round_amount(line.quantity * price) if price is not None else ZERO
    return line.amount


@dataclass
class _Lines:
    """A chunk's lines by key, and which of them a leak has counted already (a line that bills
    several products is counted once, with the first of them)."""

    built: Built
    by_key: dict[str, DesiredLine]
    counted: dict[str, str] = field(default_factory=dict)  # line key -> the product it was counted with

    def unbilled(self, keys: list[str], product: str, still: dict[str, Decimal]) -> tuple[Decimal, str]:
        """What the lines ``keys`` would bill, less what their additions ``still`` bill, counting
        each line once; and a note when another product's leak counted them."""
        total = ZERO
        shared = []
        for key in keys:
            if key in self.counted:
                shared.append(self.counted[key])
                continue
            self.counted[key] = product
            total += _would_bill(self.by_key[key], self.built) - still.get(key, ZERO)
        note = f" (its line also bills {', '.join(sorted(set(shared)))}: counted there)" if shared else ""
        return total, note


def _usage(built: Built, found: _Found, prices: _Prices) -> None:
    inputs = built.inputs
    lines_by_product: dict[tuple[str, str], list[str]] = {}
    for configured in inputs.lines:
        for product in _products_of(inputs, configured.configuration_id):
            lines_by_product.setdefault((configured.line.customer, product), []).append(str(configured.line.key))
    blocked = {c.key: c.reason for c in built.plan.changes if c.kind is ChangeKind.BLOCKED}
    still = {c.key: c.old_amount for c in built.plan.changes if c.kind is ChangeKind.BLOCKED and c.addition_id}
    do_not_bill = {str(c.line.key) for c in inputs.lines if c.line.bill_customer is BillMode.DO_NOT_BILL}
    lines = _Lines(built, {str(c.line.key): c.line for c in inputs.lines})
    money = prices.money
    for (customer, product), total in sorted(inputs.usage.items()):
        if total.quantity <= 0 or (customer, product) not in inputs.sampled:
            continue
        info = inputs.customers.get(customer)
        usage = f"{total.quantity} {total.unit.value}"
        if info is not None and not info.push_enabled:
            listed, said = _listed(customer, product, total, prices)
            found.usage.append(
                _leak(
                    "usage-without-line",
                    customer,
                    product,
                    f"{usage} used; push is disabled for this customer: it would bill {said}",
                    listed,
                )
            )
            continue
        keys = lines_by_product.get((customer, product))
        if not keys:
            listed, said = _listed(customer, product, total, prices)
            found.usage.append(
                _leak(
                    "usage-without-line",
                    customer,
                    product,
                    f"{usage} used; no billing configuration bills it (or it is DoNotBill): it would bill {said}",
                    listed,
                )
            )
            continue
        not_invoiced = [k for k in keys if k in do_not_bill]
        if len(not_invoiced) == len(keys):
            unbilled, note = lines.unbilled(keys, product, {})
            found.usage.append(
                _leak(
                    "usage-not-invoiced",
                    customer,
                    product,
                    f"{usage} used; its configuration is DoNotBill: sent to the agreement, never invoiced; billable it "
                    f"would bill {money(unbilled)}{note}",
                    unbilled,
                )
            )
            continue
        reasons = [blocked[k] for k in keys if k in blocked]
        if reasons and len(reasons) == len(keys):
            unbilled, note = lines.unbilled(keys, product, still)
            billing = sum((still.get(k, ZERO) for k in keys), ZERO)
            besides = f", less the {money(billing)} its addition still bills" if billing else ""
            found.usage.append(
                _leak(
                    "usage-without-line",
                    customer,
                    product,
                    f"{usage} used; its line is blocked: {reasons[0]}; unbilled: {money(unbilled)}{besides}{note}",
                    unbilled,
                )
            )


def _listed(customer: str, product: str, total: Aggregate, prices: _Prices) -> tuple[Decimal, str]:
    """What ``total`` bills at the customer's price of ``product`` (tiers included), and how that reads."""
    price, source = prices.of(customer, product)
    priced = price_quantity(total.quantity, price, unit_label=total.unit.value)
    return priced.amount, f"{prices.money(priced.amount)} at {source}"


def _products_of(inputs: Inputs, configuration_id: int) -> list[str]:
    return list(inputs.configuration_products.get(configuration_id, ()))
