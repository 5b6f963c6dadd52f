"""What every reader yields: a record of text fields, or a row it could not read."""

from __future__ import annotations

from typing import NamedTuple

#: The fields of a usage record, in order; the first five are required, customer_name is optional.
FIELDS = ("customer", "product", "measured_at", "quantity", "unit", "customer_name")
REQUIRED = FIELDS[:5]


class Record(NamedTuple):
    """One usage row as read: the position (row or line from 1, or the record's number in a pull)
    and each field as text (None when the input had none)."""

    row: int
    customer: str | None
    product: str | None
    measured_at: str | None
    quantity: str | None
    unit: str | None
    customer_name: str | None


class Bad(NamedTuple):
    """A row that could not be read: where it is, which column, the value, and what to do."""

    row: int | None
    column: str | None
    value: str | None
    message: str


class SourceError(Exception):
    """The input as a whole cannot be read (no header, an unknown column, an unreadable byte, a
    source that does not answer): nothing of it is stored."""

    def __init__(self, message: str, *, row: int | None = None, column: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.row = row
        self.column = column
