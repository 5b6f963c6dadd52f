"""What the plan does where ConnectWise would refuse a line or someone edited one: set per tenant,
and the date policies also per billing configuration."""

from __future__ import annotations

from enum import StrEnum


class BillStartPolicy(StrEnum):
    """An effective date before the agreement's billStartDate (ConnectWise refuses it)."""

    CLAMP = "clamp"  # move effectiveDate to billStartDate, with a warning
    BLOCK = "block"  # refuse the line, with the reason


class InvoicedPolicy(StrEnum):
    """An effective date in a period ConnectWise has already invoiced on a non-prorated agreement
    (before its nextInvoiceDate; ConnectWise refuses the addition)."""

    MOVE = "move"  # move effectiveDate to the next invoice date, with a warning
    BLOCK = "block"  # refuse the line, with what to do


class DriftPolicy(StrEnum):
    """An owned addition edited in ConnectWise after meterbridge last wrote it."""

    OVERWRITE = "overwrite"
    KEEP_THEIRS = "keep"
    HOLD = "hold"
