"""The doctor's findings, the leak report, Backup Stats and the audit log."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from meterbridge.services.views.base import View


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
    kind: LeakKind
    customer: str
    subject: str  # product key or ConnectWise product
    detail: str


class StatsView(View):
    """What a Backup Stats publish did, per customer."""

    run: int
    created: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
    skipped: dict[str, str] = Field(default_factory=dict)
    failed: dict[str, str] = Field(default_factory=dict)


class AuditView(View):
    id: int
    at: datetime
    actor: str  # user:NAME, token:NAME#ID, schedule:NAME
    action: str  # customer.update, price.set, configuration.create, ...
    before: dict[str, Any] | None  # what the change replaced; None for something new
    after: dict[str, Any]
