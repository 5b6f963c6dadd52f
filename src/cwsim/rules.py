"""ConnectWise's business rules for each resource: references, defaults, derived values, checks.

Each ``prepare_*`` function receives the converted record about to be stored (it may add
defaults and derived fields to it) and appends FieldErrors for rules it breaks. Sources of each
rule are in API-NOTES.md sections 6 and 7; the messages quoted there are used verbatim.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from cwsim.errors import FieldError
from cwsim.fields import format_datetime, parse_datetime, ref_keys
from cwsim.state import SimState

EFFECTIVE_BEFORE_BILL_START = "effectiveDate cannot be less than the agreement billing start date"
ALREADY_INVOICED = (
    "Since this period has already been invoiced there will not be an invoice generated for additional "
    "products for this period. Please prorate the agreement or update the start date to on or after the "
    "Next Invoice Date."
)
CANCELLED_AGREEMENT = "Additions cannot be added to a cancelled agreement."


@dataclass
class WriteContext:
    """One write: the state, the record being written and what was stored before it."""

    state: SimState
    object_name: str
    record: dict[str, Any]
    previous: dict[str, Any] | None
    parent: dict[str, Any] | None
    creating: bool
    errors: list[FieldError]
    loading: bool = False

    def fail(self, field: str, message: str, code: str = "InvalidField") -> None:
        self.errors.append(FieldError(code=code, message=message, field=field, resource=self.object_name))

    def today(self) -> datetime:
        now = self.state.clock()
        return now.replace(hour=0, minute=0, second=0, microsecond=0)


def find_by_ref(state: SimState, collection: str, ref: dict[str, Any]) -> dict[str, Any] | None:
    """The record a reference points at: by id, else identifier, else name (case-insensitive)."""
    records = state.collection(collection)
    if "id" in ref:
        return records.by_id.get(ref["id"])
    for key in ("identifier", "name"):
        if key in ref:
            ids = records.ids_with(key, ref[key])
            return records.by_id[ids[0]] if ids else None
    return None


def reference_to(record: dict[str, Any], ref_type: str) -> dict[str, Any]:
    """A reference object of ``ref_type`` for a stored record."""
    out: dict[str, Any] = {}
    for key in ref_keys(ref_type):
        if key == "name" and "name" not in record and "firstName" in record:
            out["name"] = f"{record.get('firstName', '')} {record.get('lastName', '')}".strip()
        elif key in record:
            out[key] = record[key]
    return out


def _resolve(ctx: WriteContext, field: str, collection: str, ref_type: str, *, what: str) -> dict[str, Any] | None:
    ref = ctx.record.get(field)
    if ref is None:
        return None
    target = find_by_ref(ctx.state, collection, ref)
    if target is None:
        shown = ", ".join(f"{k}={v}" for k, v in ref.items()) or "empty reference"
        ctx.fail(field, f"{what} not found ({shown}).", code="InvalidObject")
        return None
    ctx.record[field] = reference_to(target, ref_type)
    return target


def _day(value: str) -> date:
    return parse_datetime(value).date()


def _unique(ctx: WriteContext, collection: str, field: str, message: str) -> None:
    value = ctx.record.get(field)
    if value is None:
        return
    own_id = ctx.previous["id"] if ctx.previous else None
    if any(other != own_id for other in ctx.state.collection(collection).ids_with(field, value)):
        ctx.fail(field, message, code="ObjectExists")


def prepare_company(ctx: WriteContext) -> None:
    _unique(ctx, "companies", "identifier", "Company ID already in use.")
    for field in ("parentCompany", "billToCompany"):
        _resolve(ctx, field, "companies", "Company", what="Company")


def prepare_contact(ctx: WriteContext) -> None:
    _resolve(ctx, "company", "companies", "Company", what="Company")


#: What a scenario's agreement type gets when it leaves these required fields out.
AGREEMENT_TYPE_DEFAULTS = {
    "employeeCompRate": "Actual",
    "employeeCompNotExceed": "Billing",
    "invoicingCycle": "CalendarYear",
    "billTime": "Billable",
    "billExpenses": "Billable",
    "billProducts": "Billable",
}


def prepare_agreement_type(ctx: WriteContext) -> None:
    if ctx.loading:
        for field, value in AGREEMENT_TYPE_DEFAULTS.items():
            ctx.record.setdefault(field, value)


def prepare_agreement(ctx: WriteContext) -> None:
    record = ctx.record
    agreement_type = _resolve(ctx, "type", "agreementTypes", "AgreementType", what="Agreement type")
    company = _resolve(ctx, "company", "companies", "Company", what="Company")
    contact = _resolve(ctx, "contact", "contacts", "Contact", what="Contact")
    for field in ("billToCompany", "subContractCompany"):
        _resolve(ctx, field, "companies", "Company", what="Company")
    if (
        company is not None
        and contact is not None
        and contact.get("company", {}).get("id") not in (None, company["id"])
    ):
        ctx.fail("contact", "The contact does not belong to the agreement's company.", code="InvalidObject")
    parent = record.get("parentAgreement")
    if parent is not None:
        target = find_by_ref(ctx.state, "agreements", parent)
        if target is None:
            ctx.fail("parentAgreement", "Parent agreement not found.", code="InvalidObject")
        else:
            record["parentAgreement"] = {
                "id": target["id"],
                "name": target["name"],
                "type": target.get("type", {}).get("name", ""),
            }
    if agreement_type is not None and ctx.creating:
        for field in (
            "employeeCompRate",
            "employeeCompNotExceed",
            "invoicingCycle",
            "billTime",
            "billExpenses",
            "billProducts",
            "prorateFlag",
            "invoiceProratedAdditionsFlag",
            "billingCycle",
        ):
            if field not in record and field in agreement_type:
                record[field] = agreement_type[field]
    if ctx.creating:
        record.setdefault("startDate", format_datetime(ctx.today()))
        # Left out, ConnectWise defaults billStartDate itself (API-NOTES.md section 7).
        record.setdefault("billStartDate", record["startDate"])
        record.setdefault("prorateFlag", False)
        record.setdefault("cancelledFlag", False)
        record.setdefault("noEndingDateFlag", "endDate" not in record)
    if record.get("cancelledFlag") and "dateCancelled" not in record:
        record["dateCancelled"] = format_datetime(ctx.state.clock())
    if "startDate" in record and "endDate" in record and _day(record["endDate"]) < _day(record["startDate"]):
        ctx.fail("endDate", "endDate cannot be less than startDate.")
    record["agreementStatus"] = agreement_status(record, ctx.today())


def agreement_status(agreement: dict[str, Any], today: datetime) -> str:
    if agreement.get("cancelledFlag"):
        return "Cancelled"
    end = agreement.get("endDate")
    if end is not None and _day(end) < today.date():
        return "Expired"
    return "Active"


def prepare_addition(ctx: WriteContext) -> None:
    record, agreement = ctx.record, ctx.parent
    assert agreement is not None
    product = _resolve(ctx, "product", "catalog", "IvItem", what="Product")
    if ctx.creating and not ctx.loading and agreement.get("agreementStatus") == "Cancelled":
        ctx.fail("agreementId", CANCELLED_AGREEMENT, code="InvalidObject")
    if product is not None:
        record["description"] = product.get("description", "")
        if "unitOfMeasure" in product and "name" in product["unitOfMeasure"]:
            record["uom"] = product["unitOfMeasure"]["name"]
        if ctx.creating:
            record.setdefault("unitPrice", product.get("price", 0))
            record.setdefault("unitCost", product.get("cost", 0))
    if ctx.creating:
        record.setdefault("quantity", 1)
        record.setdefault("effectiveDate", agreement.get("billStartDate") or format_datetime(ctx.today()))
    record["agreementId"] = agreement["id"]
    record["agreementStatus"] = agreement.get("agreementStatus", "Active")
    quantity = _money(record.get("quantity", 0))
    ext_price = _cents(quantity * _money(record.get("unitPrice", 0)))
    ext_cost = _cents(quantity * _money(record.get("unitCost", 0)))
    record["extPrice"] = float(ext_price)
    record["extCost"] = float(ext_cost)
    record["margin"] = float(ext_price - ext_cost)

    effective = record.get("effectiveDate")
    bill_start = agreement.get("billStartDate")
    if effective is not None and bill_start is not None and _day(effective) < _day(bill_start):
        ctx.fail("effectiveDate", EFFECTIVE_BEFORE_BILL_START)
    cancelled = record.get("cancelledDate")
    if effective is not None and cancelled is not None and _day(cancelled) < _day(effective):
        ctx.fail("cancelledDate", "cancelledDate cannot be less than effectiveDate.")
    next_invoice = agreement.get("nextInvoiceDate")
    if (
        ctx.creating
        and not ctx.loading
        and ctx.state.settings.invoiced_rule
        and not agreement.get("prorateFlag")
        and effective is not None
        and next_invoice
    ):
        try:
            already_invoiced = _day(effective) < _day(next_invoice)
        except ValueError:
            already_invoiced = False
        if already_invoiced:
            ctx.fail("effectiveDate", ALREADY_INVOICED)


def _money(value: Any) -> Decimal:
    return Decimal(str(value))


def _cents(value: Decimal) -> Decimal:
    """Extended amounts to cents, half away from zero (SQL Server's money rounding)."""
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def prepare_catalog_item(ctx: WriteContext) -> None:
    _unique(ctx, "catalog", "identifier", "Product ID already in use.")
    if ctx.creating:
        ctx.record.setdefault("productClass", "NonInventory")
    _resolve(ctx, "agreementType", "agreementTypes", "AgreementType", what="Agreement type")
    _resolve(ctx, "vendor", "companies", "Company", what="Company")


def prepare_configuration_type(ctx: WriteContext) -> None:
    _unique(ctx, "configurationTypes", "name", "Configuration type name already in use.")


def prepare_configuration(ctx: WriteContext) -> None:
    _resolve(ctx, "type", "configurationTypes", "ConfigurationType", what="Configuration type")
    _resolve(ctx, "company", "companies", "Company", what="Company")
    _resolve(ctx, "contact", "contacts", "Contact", what="Contact")
    if ctx.creating:
        ctx.record.setdefault("activeFlag", True)
    month = ctx.record.get("backupMonth")
    if month is not None and not 1 <= month <= 12:
        ctx.fail("backupMonth", "The field backupMonth must be between 1 and 12.", code="OutOfRange")


PREPARE: dict[str, Callable[[WriteContext], None]] = {
    "companies": prepare_company,
    "contacts": prepare_contact,
    "agreementTypes": prepare_agreement_type,
    "agreements": prepare_agreement,
    "additions": prepare_addition,
    "catalog": prepare_catalog_item,
    "configurationTypes": prepare_configuration_type,
    "configurations": prepare_configuration,
}

#: What refuses a DELETE: (collection, field holding a reference to the deleted record).
IN_USE_BY: dict[str, tuple[tuple[str, str], ...]] = {
    "companies": (("agreements", "company"), ("contacts", "company"), ("configurations", "company")),
    "contacts": (("agreements", "contact"),),
    "agreementTypes": (("agreements", "type"),),
    "catalog": (("additions", "product"),),
    "configurationTypes": (("configurations", "type"),),
    "agreements": (("additions", "agreementId"),),
}
