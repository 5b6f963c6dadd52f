"""The billing export: every line of a month's billing, per customer and ConnectWise product, with
its quantity, unit price, amount, cost, margin and ConnectWise addition, as CSV or as an XLSX
workbook with one sheet per month.

A month's lines are those of its newest push that finished (done or partial), preferring one made
for every customer over one limited to some (``push --customer``): its plan items as the run
stored them, each with what the push did with it. The amounts are what ConnectWise will invoice
from the additions, by the invoice model (``domain/invoice.py``), as the run recorded them: a
landed write's "after", a failed or skipped write's "before" (it bills what it billed), a write
whose addition ConnectWise answered with another amount at that amount (the journal keeps it),
a blocked line's "before". So a month's total is the run's ``totals.billed_after``.

Quantity, unit price and unit cost are the addition's as the change left it (the addition as
read, with the change's fields), and the cost is the invoice model applied to the unit cost
(prorated as the amount is, whatever the bill mode: a DoNotBill or NoCharge line still costs).
A cost ConnectWise fills in itself (a quantity-only line's catalog cost) is left empty, and so
is its margin. CSV cells go through ``csvsafe``; the workbook's text cells are text, never formulas.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from meterbridge.domain.billing import LineKey
from meterbridge.domain.invoice import BILLABLE, Dated, amount
from meterbridge.domain.money import ZERO, decimals, format_money, round_amount
from meterbridge.domain.periods import Period
from meterbridge.domain.plan import ChangeKind
from meterbridge.domain.plan.corrections import corrected_period
from meterbridge.services.context import Context
from meterbridge.services.csvsafe import csv_line
from meterbridge.services.errors import InvalidInput
from meterbridge.services.results import amount_after
from meterbridge.services.runs import plan_item_view
from meterbridge.services.scope import open_tenant, parse_period
from meterbridge.services.views import (
    AdditionState,
    BillingExport,
    ExportFormat,
    ExportMonth,
    PlanItemView,
    RunKind,
    RunStatus,
)
from meterbridge.store.models import Run
from meterbridge.store.repos import runs

#: The most months one export covers (ten years).
MAX_MONTHS = 120
#: The runs whose lines a month's export is made of: pushes that finished.
FINISHED = (RunStatus.DONE.value, RunStatus.PARTIAL.value)
#: Write statuses that mean the write did not land: the line bills what it billed before.
NOT_LANDED = ("failed", "skipped")
COLUMNS = (
    "period",
    "run",
    "row",
    "customer",
    "configuration",
    "cw_product",
    "agreement",
    "addition",
    "bill_customer",
    "quantity",
    "unit_price",
    "amount",
    "unit_cost",
    "cost",
    "margin",
    "change",
    "status",
    "note",
)
MEDIA_TYPES = {
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True)
class Line:
    """One line of a month's billing, as ConnectWise will invoice it."""

    customer: str
    configuration: str
    cw_product: str
    agreement: int | None
    addition: int | None
    bill_customer: str
    quantity: Decimal | None
    unit_price: Decimal | None
    amount: Decimal
    unit_cost: Decimal | None
    cost: Decimal | None
    change: str
    status: str
    note: str

    @property
    def margin(self) -> Decimal | None:
        return None if self.cost is None else self.amount - self.cost


@dataclass(frozen=True)
class Month:
    view: ExportMonth
    lines: list[Line]
    note: str = ""  # said on the month's total row


@dataclass(frozen=True)
class ExportFile:
    """An export made: what it holds (the view) and the file itself."""

    view: BillingExport
    content: bytes
    media_type: str
    filename: str


def billing_export(ctx: Context, tenant: str, period: str, *, to: str | None = None, format: str = "csv") -> ExportFile:
    """The lines of the months ``period`` to ``to`` (both included; None: ``period`` alone) as a file."""
    chosen = _format(format)
    first, last = _months(period, to)
    scope = open_tenant(ctx, tenant)
    months: list[Month] = []
    missing: list[str] = []
    with ctx.db.session() as session:
        current = first
        while current <= last:
            run = _newest_push(session, scope.id, str(current))
            if run is None:
                missing.append(str(current))
            else:
                months.append(_month(session, run))
            current = current.next()
    if not months:
        span = str(first) if first == last else f"{first} to {last}"
        raise InvalidInput(
            f"period: no push of {span} has finished, so there is no billing to export",
            hint="push the month first (preview it, then push its checksum), or choose another period",
            field="period",
        )
    billed = sum((m.view.billed for m in months), ZERO)
    cost = sum((m.view.cost for m in months), ZERO)
    view = BillingExport(
        format=chosen, months=[m.view for m in months], missing=missing, billed=billed, cost=cost, margin=billed - cost
    )
    content = _csv(months).encode("utf-8") if chosen is ExportFormat.CSV else _xlsx(months, scope.settings.currency)
    span = str(first) if first == last else f"{first}_to_{last}"
    return ExportFile(view, content, MEDIA_TYPES[chosen], f"meterbridge-{scope.key}-billing-{span}.{chosen.value}")


def _format(text: str) -> ExportFormat:
    try:
        return ExportFormat(text.strip().lower())
    except ValueError:
        raise InvalidInput(
            f"format: an export is csv or xlsx, not {text[:20]}", field="format", hint="choose csv or xlsx"
        ) from None


def _months(period: str, to: str | None) -> tuple[Period, Period]:
    first = parse_period(period)
    if to is None or not to.strip():
        return first, first
    try:
        last = parse_period(to)
    except InvalidInput as error:
        raise InvalidInput(error.message.replace("period:", "to:", 1), field="to") from None
    if last < first:
        raise InvalidInput(f"to: {last} is before the first month, {first}", field="to")
    count = (last.year - first.year) * 12 + last.month - first.month + 1
    if count > MAX_MONTHS:
        raise InvalidInput(f"to: an export covers {MAX_MONTHS} months at most, not {count}", field="to")
    return first, last


def _newest_push(session: Any, tenant_id: int, period: str) -> Run | None:
    """The month's newest finished push made for every customer, else its newest finished push."""
    found = [
        run
        for run in runs.newest(session, tenant_id, limit=100, kind=RunKind.PUSH.value, period=period)
        if run.status in FINISHED
    ]
    whole = [run for run in found if not (run.summary or {}).get("scope")]
    chosen = whole or found
    return chosen[0] if chosen else None


def _month(session: Any, run: Run) -> Month:
    period = Period.parse(run.period)
    results = runs.journal_results(session, run.id)
    lines = []
    for item in runs.items(session, run.id):
        invoiced = (results.get(item.position) or {}).get("invoiced")
        lines.append(_line(plan_item_view(item), period, Decimal(invoiced) if invoiced is not None else None))
    billed = round_amount(sum((line.amount for line in lines), ZERO))
    cost = round_amount(sum((line.cost for line in lines if line.cost is not None), ZERO))
    totals = (run.summary or {}).get("totals") or {}
    recorded = totals.get("billed_after")
    note = ""
    if recorded is not None and Decimal(str(recorded)) != billed:
        note = f"the run's totals say {recorded}: a line's amount was not recorded (a push before this export)"
    view = ExportMonth(
        period=run.period,
        run=run.id,
        started_at=run.started_at,
        scope=list((run.summary or {}).get("scope") or []),
        lines=len(lines),
        billed=billed,
        cost=cost,
        margin=billed - cost,
    )
    return Month(view, lines, note)


def _line(item: PlanItemView, period: Period, invoiced_instead: Decimal | None) -> Line:
    landed = not (item.is_write and item.status in NOT_LANDED)
    if not landed:
        billed = item.old_amount
    elif invoiced_instead is not None:
        billed = invoiced_instead
    else:
        billed = amount_after(item.kind, item.old_amount, item.new_amount)
    state = _state(item, landed)
    key = LineKey.parse(item.key)
    marked = corrected_period(key.period)
    month = Period.parse(marked[1]) if marked is not None else period  # a correction bills its own month
    notes = [item.error or ""] if item.error else []
    if marked is not None:
        notes.append(f"correction of {marked[0]}, billed in {marked[1]}")
    if invoiced_instead is not None:
        notes.append(f"ConnectWise invoices {invoiced_instead}, not the {item.new_amount} planned")
    if item.kind is ChangeKind.BLOCKED:
        notes.append(item.reason)
    return Line(
        customer=item.customer,
        configuration=key.configuration,
        cw_product=item.cw_product,
        agreement=item.agreement_id,
        addition=item.addition_id,
        bill_customer=state.bill_customer if state is not None else "",
        quantity=state.quantity if state is not None else None,
        unit_price=state.unit_price if state is not None else None,
        amount=billed,
        unit_cost=state.unit_cost if state is not None else None,
        cost=_cost(item, state, month),
        change=item.kind.value,
        status=item.status or ("" if item.is_write else item.kind.value),
        note="; ".join(n for n in notes if n),
    )


def _state(item: PlanItemView, landed: bool) -> AdditionState | None:
    """The addition as the change left it (as held when it did not land, or changes nothing invoiced)."""
    held = item.held
    if item.kind is ChangeKind.CREATE:
        return _created(item.values) if landed else None
    if not item.is_write or not landed or item.invoiced or held is None:
        return held
    fields = {f.field: f.new for f in item.fields}
    return held.model_copy(
        update={
            name: _value(fields[wire], name)
            for wire, name in (
                ("quantity", "quantity"),
                ("unitPrice", "unit_price"),
                ("unitCost", "unit_cost"),
                ("billCustomer", "bill_customer"),
                ("effectiveDate", "effective"),
                ("cancelledDate", "cancelled"),
            )
            if wire in fields
        }
    )


def _value(value: Any, name: str) -> Any:
    """A field's new value as stored (JSON) in the state's type."""
    if value is None or name == "bill_customer":
        return value
    if name in ("effective", "cancelled"):
        return date.fromisoformat(str(value)[:10])
    return Decimal(str(value))


def _created(values: dict[str, Any]) -> AdditionState:
    def number(name: str) -> Decimal | None:
        return Decimal(str(values[name])) if values.get(name) is not None else None

    def day(name: str) -> date | None:
        return date.fromisoformat(str(values[name])[:10]) if values.get(name) else None

    return AdditionState(
        quantity=number("quantity") or ZERO,
        unit_price=number("unitPrice"),
        unit_cost=number("unitCost"),
        bill_customer=str(values.get("billCustomer") or ""),
        effective=day("effectiveDate"),
        cancelled=day("cancelledDate"),
    )


def _cost(item: PlanItemView, state: AdditionState | None, month: Period) -> Decimal | None:
    """What the addition costs for ``month`` (its unit cost by the invoice model, prorated as its
    amount is); 0 for a line without an addition, None where the cost is not known."""
    if state is None:
        return ZERO if item.addition_id is None else None
    if state.unit_cost is None:
        return None
    costed = Dated(state.quantity, state.unit_cost, BILLABLE, state.effective, state.cancelled)
    return amount(costed, month, prorated=item.prorated)


def _cells(month: Month) -> Iterable[list[object]]:
    """The month's rows (lines, then its total) as cells in COLUMNS' order."""
    view = month.view
    for line in month.lines:
        yield [
            view.period, view.run, "line", line.customer, line.configuration, line.cw_product, line.agreement,
            line.addition, line.bill_customer, line.quantity, line.unit_price, line.amount, line.unit_cost,
            line.cost, line.margin, line.change, line.status, line.note,
        ]  # fmt: skip
    scope = f"the push was limited to {', '.join(view.scope)}" if view.scope else ""
    note = "; ".join(n for n in (scope, month.note) if n)
    yield [
        view.period, view.run, "total", None, None, None, None, None, None, None, None, view.billed, None, view.cost,
        view.margin, None, None, note,
    ]  # fmt: skip


def _text(value: object) -> object:
    """A cell as CSV text: a number with every decimal it carries, and at least two (1500.00, 0.093333)."""
    if isinstance(value, Decimal):
        return format(value.quantize(Decimal(1).scaleb(-max(2, decimals(value)))), "f")
    return value


def _csv(months: list[Month]) -> str:
    return "".join(
        [csv_line(COLUMNS), *(csv_line([_text(cell) for cell in row]) for month in months for row in _cells(month))]
    )


#: Columns shown as money in the workbook, and those that carry a price (every decimal it has).
MONEY_COLUMNS = frozenset({"amount", "cost", "margin"})
WIDTHS = {"customer": 18, "configuration": 22, "cw_product": 22, "note": 60}


def _xlsx(months: list[Month], currency: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    number_format = _money_format(currency)
    book = Workbook(write_only=True)
    bold = Font(bold=True)
    for month in months:
        sheet = book.create_sheet(month.view.period)
        for position, name in enumerate(COLUMNS, start=1):
            sheet.column_dimensions[_letter(position)].width = WIDTHS.get(name, 12)
        sheet.freeze_panes = "A2"
        header = []
        for name in COLUMNS:
            cell = WriteOnlyCell(sheet, value=name)
            cell.font = bold
            header.append(cell)
        sheet.append(header)
        for row in _cells(month):
            total = row[2] == "total"
            cells = []
            for name, value in zip(COLUMNS, row, strict=True):
                cell = WriteOnlyCell(sheet, value=value)  # type: ignore[arg-type]  # a Decimal is a number to it
                if isinstance(value, str):
                    cell.data_type = "s"  # text, never a formula, whatever it starts with
                elif name in MONEY_COLUMNS and value is not None:
                    cell.number_format = number_format
                if total:
                    cell.font = bold
                cells.append(cell)
            sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _money_format(currency: str) -> str:
    """The workbook's money format, as ``format_money`` writes money: ``$1,234.50``, ``-$3.00``, ``EUR 480.00``."""
    symbol = format_money(ZERO, currency).removesuffix("0.00").replace('"', "")
    shown = f'"{symbol}"#,##0.00'
    return f"{shown};-{shown}"


def _letter(position: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(position)
