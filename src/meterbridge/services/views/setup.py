"""Set-up: the tenant, the connection, companies and links, customers, products and prices,
billing configurations, rules and pins, usage samples."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from meterbridge.services.views.base import Exact, View
from meterbridge.services.views.ingest import LateView, RowError


class TenantInit(View):
    tenant: str
    created: bool
    database: str  # where it lives (no password)


class Revision(View):
    revision: str | None


class ConnectionView(View):
    """The stored connection; the private key is never part of it."""

    site: str
    company_id: str
    public_key: str
    client_id: str
    api_version: str
    codebase: str | None
    tested_at: datetime | None = None


class ConnectionTestView(View):
    ok: bool
    codebase: str | None
    version: str | None
    message: str


class Imported(View):
    imported: int


class CompanyView(View):
    """A ConnectWise company, as imported."""

    cw_id: int
    identifier: str
    name: str


class SuggestionView(View):
    cw_id: int
    identifier: str
    name: str
    score: float


class LinkView(View):
    external_id: str
    name: str
    cw_id: int | None
    cw_identifier: str | None
    how: str  # identifier, name, manual, unset ("not set" by a person), or "" (never linked)
    suggestions: list[SuggestionView] = Field(default_factory=list)


class LinkReportView(View):
    linked: list[LinkView]  # linked by this run
    suggested: list[LinkView]  # near matches for a person to confirm
    unmatched: list[LinkView]


class CustomerView(View):
    external_id: str
    name: str
    managed_id: str | None
    push_enabled: bool
    cw_id: int | None
    cw_identifier: str | None
    how: str
    configurations: int
    source: str | None = Field(default=None, description="the usage source that created it, if one did")
    missing_since: datetime | None = Field(
        default=None, description="when its source stopped listing it (removed there?): decide its billing"
    )


class CustomerSaved(CustomerView):
    created: bool


class TierView(View):
    up_to: Exact | None
    unit_price: Exact
    unit_cost: Exact | None = None  # None: the price's unit cost


class ProductView(View):
    key: str
    name: str
    kind: str
    unit: str
    basis: str
    cw_product: str | None
    unit_price: Exact | None  # None: no price set (bills 0, flagged)
    unit_cost: Exact | None
    tiers: list[TierView]
    overrides: int


class ProductSaved(ProductView):
    created: bool


class PriceView(View):
    product: str
    customer: str | None  # None: the product's price list; else this customer's override
    unit_price: Exact
    unit_cost: Exact
    tiers: list[TierView]
    tier_mode: str
    places: int


class ConfigurationView(View):
    customer: str
    key: str
    enabled: bool
    options: dict[str, Any]  # the options set (the others are at their defaults)


class ConfigurationSaved(ConfigurationView):
    created: bool


class RuleView(View):
    name: str
    target: str  # agreement or addition
    text: str


class PinView(View):
    configuration: str
    target: str
    cw_id: int | None
    checked: bool  # False: ConnectWise could not be asked; the pin is saved unchecked
    message: str


class UsageStored(View):
    """What storing samples did: new, replaced (corrections) and unchanged (already stored as they are)."""

    source: str
    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    file: str | None = None
    import_id: int | None = Field(default=None, description="the import that recorded this (its error report)")
    repeated: int = Field(default=0, description="rows repeating an earlier row of the input exactly (stored once)")
    rejected: int = Field(default=0, description="rows refused (mode valid: the good rows were stored)")
    errors: list[RowError] = Field(default_factory=list, description="the rows refused, where and why")
    new_customers: list[str] = Field(default_factory=list)
    late: list[LateView] = Field(default_factory=list, description="periods already pushed that this changes")

    @property
    def total(self) -> int:
        return self.added + self.replaced + self.unchanged


class SampleView(View):
    customer: str
    product: str
    measured_at: datetime
    quantity: Exact
    unit: str
    source: str
    received_at: datetime
    withdrawn_at: datetime | None


class Withdrawn(View):
    customer: str
    withdrawn: int


class Deleted(View):
    what: str  # price, override, configuration
    key: str
    detail: str


class DemoSeeded(View):
    customers: int
