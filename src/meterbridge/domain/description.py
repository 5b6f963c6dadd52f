"""Invoice descriptions: ConnectWise's product description (None) or ours, from a template.

Placeholders: ``{product}``, ``{period}`` (2026-10), ``{month}`` (October 2026), ``{quantity}``,
``{unit}``, ``{customer}``. An unknown placeholder is refused when the template is made, not
when a push is half done.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from decimal import Decimal

from meterbridge.domain.errors import ConfigurationInvalid
from meterbridge.domain.periods import Period

PLACEHOLDERS = frozenset({"product", "period", "month", "quantity", "unit", "customer"})
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

    def render(self, *, product: str, period: Period, quantity: Decimal, unit: str, customer: str) -> str:
        month = period.first_day.strftime("%B %Y")
        text = self.text.format(
            product=product, period=str(period), month=month, quantity=quantity, unit=unit, customer=customer
        )
        return text[:MAX_LENGTH]
