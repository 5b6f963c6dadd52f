"""Usage in: what an import (a file, an API batch, a pull) read, stored and refused; pull sources."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from meterbridge.services.views.base import Message, View


class RowError(View):
    """A row an import refused: where it is, which column, the value, and what to do."""

    row: int | None = Field(default=None, description="the row (CSV: the line it starts on; 1 is the header)")
    column: str | None = None
    value: Message | None = None
    message: Message


class LateView(View):
    """Samples that change a period already pushed: its preview flags them, a push updates exactly
    the additions they change."""

    period: str
    samples: int
    pushed_at: datetime


class RenameView(View):
    customer: str
    old_name: str
    new_name: str


class ImportView(View):
    """One import of usage and its outcome: ``done`` (every row stored or already there),
    ``partial`` (the good rows stored, the bad ones refused), ``rejected`` (all or nothing: a row
    was bad, nothing stored) or ``failed`` (the input could not be read or the source did not answer)."""

    id: int
    source: str
    origin: str = Field(description="file, api or pull")
    name: str | None = Field(default=None, description="the file's name or the URL pulled")
    mode: str = Field(description="all (all rows or none) or valid (store the good rows, report the bad)")
    status: str
    actor: str
    started_at: datetime
    finished_at: datetime | None
    rows: int = 0
    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    repeated: int = Field(default=0, description="rows repeating an earlier row of the input exactly (stored once)")
    rejected: int = 0
    pages: int | None = None
    new_customers: list[str] = Field(default_factory=list, description="the first 1,000 customers it created")
    new_customer_count: int = Field(default=0, description="how many customers it created (all of them)")
    renamed: list[RenameView] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list, description="customers the source no longer lists (flagged)")
    unknown_customers: list[str] = Field(
        default_factory=list, description="customers the rows name that meterbridge does not have: add or link them"
    )
    late: list[LateView] = Field(default_factory=list)
    errors: list[RowError] = Field(default_factory=list, description="the first rows refused (all: the error report)")
    message: Message | None = None

    @property
    def total(self) -> int:
        return self.added + self.replaced + self.unchanged


class SourceView(View):
    """A usage source meterbridge pulls: where, how it pages, its field mapping, when, how it went."""

    name: str
    url: str
    auth_header: str | None = Field(default=None, description="the header sent (its value is never shown)")
    options: dict[str, Any]
    every: str = Field(description="hourly, daily or manual")
    at_minute: int
    enabled: bool
    last_pull_at: datetime | None
    last_status: str | None
    last_error: Message | None
    last_import: int | None
    failures: int
    next_pull_at: datetime | None
