"""The doctor's findings, the leak report, Backup Stats, the billing export and the audit log."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from meterbridge.services.views.base import Exact, View


class Severity(StrEnum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


class FindingView(View):
    severity: Severity
    check: str  # connection, catalog, agreement type, agreement
    subject: str
    message: str
    fixed: bool = False
    action: str | None = None  # the use case that fixes it (doctor.create: run the doctor with create)
    params: dict[str, str] = Field(default_factory=dict)


class LeakKind(StrEnum):
    USAGE_WITHOUT_LINE = "usage-without-line"
    USAGE_NOT_INVOICED = "usage-not-invoiced"
    LINE_WITHOUT_USAGE = "line-without-usage"
    DOUBLE_BILLING = "double-billing"


class LeakView(View):
    """One leak, in money where money says what it costs: usage no line invoices (``usage-*``),
    what it would bill at the prices in force, less what an addition still bills for it; a line
    without usage, what its addition bills for the month; None for double billing."""

    kind: LeakKind
    customer: str
    subject: str  # product key or ConnectWise product
    detail: str
    amount: Exact | None = None


class LeakReportView(View):
    """A month's revenue leaks and what they come to: ``unbilled`` (usage no line invoices, at the
    prices in force) and ``billed_without_usage`` (additions that bill the month with no usage)."""

    period: str
    leaks: list[LeakView]
    unbilled: Exact
    billed_without_usage: Exact


class StatsView(View):
    """What a Backup Stats publish did, per customer."""

    run: int
    created: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
    skipped: dict[str, str] = Field(default_factory=dict)
    failed: dict[str, str] = Field(default_factory=dict)


class ExportFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


class ExportMonth(View):
    """One month of a billing export: the push its lines come from and what they add up to
    (``billed`` is that push's ``totals.billed_after``: what ConnectWise will invoice)."""

    period: str
    run: int
    started_at: datetime
    scope: list[str] = Field(default_factory=list)  # the customers the push was limited to (empty: every one)
    lines: int
    billed: Exact
    cost: Exact
    margin: Exact


class BillingExport(View):
    """A billing export: each month's lines (in the file) and totals; ``missing``: the months of
    the range no push finished (not in the file)."""

    format: ExportFormat
    file: str | None = None  # where the command line wrote it
    months: list[ExportMonth]
    missing: list[str] = Field(default_factory=list)
    billed: Exact
    cost: Exact
    margin: Exact


class AuditView(View):
    id: int
    at: datetime
    actor: str  # user:NAME, token:NAME#ID, schedule:NAME
    action: str  # customer.update, price.set, configuration.create, ...
    before: dict[str, Any] | None  # what the change replaced; None for something new
    after: dict[str, Any]
