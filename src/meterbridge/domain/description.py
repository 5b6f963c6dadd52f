"""Invoice descriptions: ConnectWise's product description (None) or ours, from a template.

Placeholders: ``{product}``, ``{period}`` (2026-10), ``{month}`` (October 2026), ``{quantity}``
(what ConnectWise bills: units, or blocks), ``{unit}``, ``{block_size}`` (empty without blocks),
``{customer}``. An unknown placeholder is refused when the template is made, not when a push is
half done.

Without a template ConnectWise's product description is used, except for a line billed in
blocks: its quantity is a count of blocks, so the default says so (``Cloud storage: 208 x 10 GB
blocks``) and the invoice never reads "208 GB".
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from decimal import Decimal

from meterbridge.domain.errors import ConfigurationInvalid
from meterbridge.domain.periods import Period

PLACEHOLDERS = frozenset({"product", "period", "month", "quantity", "unit", "block_size", "customer"})
BLOCKS_DEFAULT = "{product}: {quantity} x {block_size} {unit} blocks"
MAX_LENGTH = 6000  # ConnectWise's invoiceDescription


@dataclass(frozen=True)
class DescriptionTemplate:
    text: str

    def __post_init__(self) -> None:
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(self.text) if name is not None}
        except ValueError as error:
            raise ConfigurationInvalid(f"description: {error} in {self.text!r}") from None
        unknown = names - PLACEHOLDERS
        if unknown:
            raise ConfigurationInvalid(
                f"description: unknown placeholder(s) {', '.join('{' + n + '}' for n in sorted(unknown))}; "
                f"use {', '.join('{' + n + '}' for n in sorted(PLACEHOLDERS))}"
            )

    def render(
        self,
        *,
        product: str,
        period: Period,
        quantity: Decimal,
        unit: str,
        customer: str,
        block_size: Decimal | None = None,
    ) -> str:
        month = period.first_day.strftime("%B %Y")
        text = self.text.format(
            product=product,
            period=str(period),
            month=month,
            quantity=quantity,
            unit=unit,
            block_size="" if block_size is None else f"{block_size.normalize():f}",
            customer=customer,
        )
        return text[:MAX_LENGTH]
