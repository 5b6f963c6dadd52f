"""What the plan does where ConnectWise would refuse a line or someone edited one: set per tenant,
and the date policies also per billing configuration."""

from __future__ import annotations

from enum import StrEnum


class BillStartPolicy(StrEnum):
    """An effective date before the agreement's billStartDate (ConnectWise refuses it)."""

    CLAMP = "clamp"  # move effectiveDate to billStartDate, with a warning
    BLOCK = "block"  # refuse the line, with the reason


class InvoicedPolicy(StrEnum):
    """A line of a period ConnectWise has already invoiced (before the agreement's nextInvoiceDate):
    an invoice is never made again, and on an agreement that is not prorated ConnectWise refuses a
    new addition dated before it (domain/plan/corrections.py, dates.py)."""

    #: the default: the month's amount, or its difference, billed as a correction in the next open
    #: month; a running line's new addition starts on the next invoice date
    ADJUST = "adjust"
    MOVE = "move"  # a new addition's effectiveDate moved to the next invoice date only (as before adjust)
    BLOCK = "block"  # refuse the line, with what to do
    ALLOW = "allow"  # edit an invoiced month's addition in place, warned that ConnectWise will not invoice it


class DriftPolicy(StrEnum):
    """An owned addition edited in ConnectWise after meterbridge last wrote it."""

    OVERWRITE = "overwrite"
    KEEP_THEIRS = "keep"
    HOLD = "hold"
