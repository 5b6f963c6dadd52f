"""The dates of a line on its agreement, and the policies for dates ConnectWise would refuse.

An effective date before the agreement's billStartDate is clamped to it with a warning, or
blocked; one in a period ConnectWise has already invoiced (before ``nextInvoiceDate``; on a
non-prorated agreement ConnectWise refuses it, on a prorated one it would never be invoiced for
those months) is moved to the next invoice date with a warning (the month's own amount then a
correction, corrections.py), or blocked; an agreement cancelled, or ended before the period,
blocks its lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from meterbridge.domain.billing import DesiredLine, Strategy
from meterbridge.domain.periods import Period
from meterbridge.domain.plan.changes import ActualAddition, AgreementView
from meterbridge.domain.policies import BillStartPolicy, InvoicedPolicy


def _effective_date(line: DesiredLine, period: Period, existing: ActualAddition | None) -> date:
    if line.strategy is Strategy.RUNNING and existing is not None and existing.effective is not None:
        return existing.effective
    return period.first_day


@dataclass(frozen=True)
class DatePolicies:
    bill_start: BillStartPolicy
    invoiced: InvoicedPolicy


def decide_dates(
    line: DesiredLine, agreement: AgreementView, period: Period, existing: ActualAddition | None, policies: DatePolicies
) -> tuple[date | None, date | None, list[str], str | None]:
    """(effective, cancelled, warnings, blocked reason) for a line on its agreement."""
    if agreement.cancelled:
        return (
            None,
            None,
            [],
            (
                f"agreement {agreement.id} ({agreement.name}) is cancelled: ConnectWise refuses additions on a "
                "cancelled agreement; pin another agreement or reopen it"
            ),
        )
    if agreement.end is not None and agreement.end < period.first_day:
        return (
            None,
            None,
            [],
            (
                f"agreement {agreement.id} ({agreement.name}) ended on {agreement.end}, before {period}: extend its "
                "end date or pin another agreement"
            ),
        )
    effective = _effective_date(line, period, existing)
    cancelled = period.last_day if line.strategy is Strategy.PER_PERIOD else None
    warnings: list[str] = []
    if agreement.bill_start is not None and effective < agreement.bill_start:
        if agreement.bill_start > period.last_day:
            return (
                None,
                None,
                [],
                (
                    f"agreement {agreement.id} starts billing on {agreement.bill_start}, after {period}: ConnectWise "
                    "would refuse the addition (effectiveDate cannot be less than the agreement billing start date)"
                ),
            )
        if policies.bill_start is BillStartPolicy.BLOCK:
            return (
                None,
                None,
                [],
                (
                    f"effectiveDate {effective} is before agreement {agreement.id}'s billStartDate "
                    f"{agreement.bill_start}: ConnectWise refuses it (effectiveDate cannot be less than the agreement "
                    "billing start date); set the agreement's billing start date earlier or allow clamping "
                    "(bill_start_policy clamp)"
                ),
            )
        warnings.append(f"effectiveDate moved from {effective} to the agreement's billStartDate {agreement.bill_start}")
        effective = agreement.bill_start
    invoiced = agreement.next_invoice
    refused = not agreement.prorate  # a prorated agreement takes the date, but never invoices the months again
    adjusting = policies.invoiced in (InvoicedPolicy.ADJUST, InvoicedPolicy.ALLOW)
    if existing is None and invoiced is not None and (refused or adjusting) and effective < invoiced:
        said = (
            f"ConnectWise has already invoiced agreement {agreement.id} up to its next invoice date {invoiced} and "
            + (
                "the agreement is not prorated, so it refuses an addition dated before it (Since this period has "
                "already been invoiced ...)"
                if refused
                else "never invoices those months again, so an addition dated before it would not bill them"
            )
        )
        if cancelled is not None and invoiced > cancelled:
            return (
                None,
                None,
                [],
                f"{said}; {period} is invoiced already: bill it as a correction in the next open month "
                "(invoiced_policy adjust), turn on Prorate Agreement in ConnectWise, or bill it by hand",
            )
        if policies.invoiced is InvoicedPolicy.BLOCK:
            return (
                None,
                None,
                [],
                f"{said}; bill it as a correction from the next invoice date (invoiced_policy adjust), allow moving "
                "the effective date (invoiced_policy move), or turn on Prorate Agreement in ConnectWise",
            )
        corrected = f" ({period}'s own amount is billed as a correction)" if adjusting else ""
        warnings.append(f"effectiveDate moved from {effective} to the next invoice date {invoiced}{corrected}: {said}")
        effective = invoiced
    return effective, cancelled, warnings, None
