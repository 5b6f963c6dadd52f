"""Typed ConnectWise records (Pydantic v2), tolerant of what real instances add or leave out.

Every field is optional (instances differ by version and by custom fields) and unknown fields
are kept (``model_extra``), so a GET-merge-PUT never loses data. JSON names are camelCase
(``billStartDate``); Python names are snake_case. Money and quantities are Decimal: responses
are parsed with ``parse_float=Decimal`` (see client.py), so no binary float ever touches them.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

Model = TypeVar("Model", bound="CWModel")


class CWModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


class Info(CWModel):
    """The ``_info`` block: when and by whom a record was entered and last updated."""

    last_updated: datetime | None = None
    updated_by: str | None = None
    date_entered: datetime | None = None
    entered_by: str | None = None


class Reference(CWModel):
    id: int | None = None
    name: str | None = None
    identifier: str | None = None


class CompanyRef(Reference):
    pass


class ContactRef(Reference):
    pass


class AgreementTypeRef(Reference):
    pass


class ConfigurationTypeRef(Reference):
    pass


class ProductRef(CWModel):
    """IvItemReference: the catalog item of an addition."""

    id: int | None = None
    identifier: str | None = None


class Record(CWModel):
    id: int | None = None
    info: Info | None = Field(default=None, alias="_info")


class Company(Record):
    identifier: str | None = None
    name: str | None = None
    status: Reference | None = None
    deleted_flag: bool | None = None
    phone_number: str | None = None
    city: str | None = None


class Contact(Record):
    first_name: str | None = None
    last_name: str | None = None
    company: CompanyRef | None = None
    inactive_flag: bool | None = None


class AgreementType(Record):
    name: str | None = None
    prorate_flag: bool | None = None
    inactive_flag: bool | None = None


class Agreement(Record):
    name: str | None = None
    type: AgreementTypeRef | None = None
    company: CompanyRef | None = None
    contact: ContactRef | None = None
    parent_agreement: Reference | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    no_ending_date_flag: bool | None = None
    bill_start_date: datetime | None = None
    cancelled_flag: bool | None = None
    date_cancelled: datetime | None = None
    agreement_status: str | None = None
    prorate_flag: bool | None = None
    next_invoice_date: str | None = None
    billing_cycle: Reference | None = None
    bill_amount: Decimal | None = None


class Addition(Record):
    product: ProductRef | None = None
    quantity: Decimal | None = None
    less_included: Decimal | None = None
    unit_price: Decimal | None = None
    unit_cost: Decimal | None = None
    bill_customer: str | None = None
    effective_date: datetime | None = None
    cancelled_date: datetime | None = None
    taxable_flag: bool | None = None
    invoice_description: str | None = None
    agreement_id: int | None = None
    description: str | None = None
    uom: str | None = None
    ext_price: Decimal | None = None
    ext_cost: Decimal | None = None
    agreement_status: str | None = None


class CatalogItem(Record):
    identifier: str | None = None
    description: str | None = None
    customer_description: str | None = None
    inactive_flag: bool | None = None
    price: Decimal | None = None
    cost: Decimal | None = None
    product_class: str | None = None
    subcategory: Reference | None = None
    type: Reference | None = None
    unit_of_measure: Reference | None = None


class ConfigurationType(Record):
    name: str | None = None
    inactive_flag: bool | None = None


class Configuration(Record):
    name: str | None = None
    type: ConfigurationTypeRef | None = None
    company: CompanyRef | None = None
    status: Reference | None = None
    active_flag: bool | None = None
    bill_flag: bool | None = None
    backup_billable_space_gb: Decimal | None = None
    backup_year: int | None = None
    backup_month: int | None = None
    device_identifier: str | None = None


def to_body(model: CWModel, *, include: set[str] | None = None) -> dict[str, Any]:
    """A model as a ConnectWise request body: camelCase, no nulls, no ``_info``, extras kept."""
    data = model.model_dump(by_alias=True, exclude_none=True, include=include)
    data.pop("_info", None)
    return data
