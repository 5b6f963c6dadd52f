"""A billing configuration's options as stored (JSON) and as the billing core reads them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from meterbridge.domain.billing import BillingConfiguration, BillMode, DataMode, Strategy, ZeroPolicy
from meterbridge.domain.description import MAX_LENGTH, DescriptionTemplate, TemplateInvalid
from meterbridge.domain.policies import BillStartPolicy, InvoicedPolicy
from meterbridge.domain.pricing import Range
from meterbridge.services.errors import InvalidInput
from meterbridge.store.models import BillingConfigurationRow

DEFAULT_AGREEMENT_RULE = "default-agreement"


class RangeOption(BaseModel):
    """A GB range; a price or cost left out comes from the product's price list."""

    model_config = ConfigDict(extra="forbid")
    up_to: Decimal | None = Field(default=None, gt=0, le=Decimal("1e15"))
    cw_product: str = Field(min_length=1, max_length=75)
    unit_price: Decimal | None = Field(default=None, ge=0, le=Decimal("1e9"))
    unit_cost: Decimal | None = Field(default=None, ge=0, le=Decimal("1e9"))


class ConfigurationOptions(BaseModel):
    """What a configuration holds (JSON in the store); names match the billing core's."""

    model_config = ConfigDict(extra="forbid")

    products: list[str] = Field(min_length=1)
    cw_product: str | None = Field(default=None, max_length=75)
    ranges: list[RangeOption] = Field(default_factory=list)
    bill_mode: BillMode = BillMode.BILLABLE
    data_mode: DataMode = DataMode.AVERAGE
    block_size: Decimal | None = Field(default=None, gt=0, le=Decimal("1e15"))
    included: Decimal = Field(default=Decimal(0), ge=0, le=Decimal("1e15"), decimal_places=2)
    zero_policy: ZeroPolicy = ZeroPolicy.ZERO
    strategy: Strategy = Strategy.RUNNING
    description: str | None = Field(default=None, max_length=MAX_LENGTH)  # a template; None: ConnectWise's
    agreement_rule: str | None = None  # a rule's name; None: the tenant's "default-agreement" rule
    addition_rule: str | None = None  # a rule's name: adopt an existing addition it picks
    bill_start_policy: BillStartPolicy | None = None  # None: the tenant's
    invoiced_policy: InvoicedPolicy | None = None  # None: the tenant's
    allow_overlap: bool = False  # bill a product another configuration of the customer bills too
    #: additions nobody owns (made by hand in ConnectWise) that this configuration bills beside,
    #: knowingly: acknowledged, they no longer hold its company (ownership.py)
    beside: list[int] = Field(default_factory=list, max_length=100)

    def stored(self) -> dict[str, Any]:
        """As stored: the options set (defaults left out), the products always."""
        data: dict[str, Any] = self.model_dump(mode="json", exclude_defaults=True)
        data["products"] = list(self.products)
        return data


OPTION_NAMES = tuple(ConfigurationOptions.model_fields)


def domain_configuration(row: BillingConfigurationRow, customer: str) -> BillingConfiguration:
    options = ConfigurationOptions.model_validate(row.options)
    return BillingConfiguration(
        key=row.key,
        customer=customer,
        products=tuple(options.products),
        cw_product=options.cw_product,
        ranges=tuple(Range(r.up_to, r.cw_product, r.unit_price, r.unit_cost) for r in options.ranges),
        bill_mode=options.bill_mode,
        data_mode=options.data_mode,
        block_size=options.block_size,
        included=options.included,
        zero_policy=options.zero_policy,
        strategy=options.strategy,
        description=DescriptionTemplate(options.description) if options.description else None,
        agreement_rule=options.agreement_rule,
        enabled=row.enabled,
        bill_start_policy=options.bill_start_policy,
        invoiced_policy=options.invoiced_policy,
    )


def check_description(key: str, text: str | None) -> None:
    """Refuse, naming the field and the position, a description template the billing core would not
    render (``DescriptionTemplate`` holds the rules), before anything is stored."""
    if not text:
        return
    try:
        DescriptionTemplate(text)
    except TemplateInvalid as error:
        raise InvalidInput(
            f"configuration {key}: {error}",
            hint="placeholders only, e.g. {product} {month}: docs/billing-core.md, descriptions",
            field="description",
            position=error.position,
        ) from None


def parse_range(text: str, name: str = "ranges") -> dict[str, str | None]:
    """A GB range as people write it: ``up_to:CW-PRODUCT[:price[:cost]]`` (empty up_to for the
    last range; a price or cost left out comes from the product's price list)."""
    parts = text.strip().split(":")
    if len(parts) not in (2, 3, 4) or not parts[1].strip():
        raise InvalidInput(
            f"{name}: {text!r}: write up_to:CW-PRODUCT[:price[:cost]] (empty up_to for the last range; a price or "
            "cost left out comes from the product's price list)",
            field="ranges",
        )
    return {
        "up_to": parts[0].strip() or None,
        "cw_product": parts[1].strip(),
        "unit_price": parts[2].strip() if len(parts) > 2 and parts[2].strip() else None,
        "unit_cost": parts[3].strip() if len(parts) > 3 and parts[3].strip() else None,
    }


def format_range(stored: dict[str, Any]) -> str:
    """A stored range as ``parse_range`` reads it."""
    pieces = [str(stored.get("up_to") or ""), str(stored["cw_product"])]
    price, cost = stored.get("unit_price"), stored.get("unit_cost")
    if price is not None or cost is not None:
        pieces.append("" if price is None else str(price))
    if cost is not None:
        pieces.append(str(cost))
    return ":".join(pieces)


#: What a configuration form offers for each option with a fixed set of values.
CHOICES = {
    "bill_mode": [m.value for m in BillMode],
    "data_mode": [m.value for m in DataMode],
    "zero_policy": [m.value for m in ZeroPolicy],
    "strategy": [m.value for m in Strategy],
    "bill_start_policy": [m.value for m in BillStartPolicy],
    "invoiced_policy": [m.value for m in InvoicedPolicy],
}
