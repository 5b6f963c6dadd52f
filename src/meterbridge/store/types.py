"""Column types that keep values exact on SQLite and PostgreSQL alike.

* ``ExactDecimal``: money and quantities as their canonical decimal text (SQLite's NUMERIC is a
  binary float; text is exact everywhere and sorts are never needed on it);
* ``UTCDateTime``: aware datetimes, stored in UTC, read back aware (SQLite keeps no zone);
* ``MessageText`` and ``MessageJSON``: errors and messages, scrubbed of every secret this process
  has sealed or opened as they are stored (``meterbridge.redaction``): a vendor's or a library's
  text that echoes a key never reaches the database, whichever service stored it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, String, Text, TypeDecorator

from meterbridge.redaction import scrub, scrub_messages


class ExactDecimal(TypeDecorator[Decimal]):
    impl = String(64)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"decimal columns take Decimal, not {type(value).__name__} ({value!r})")
        if not value.is_finite():
            raise ValueError(f"cannot store {value}")
        return format(value, "f")

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        try:
            return Decimal(value)
        except InvalidOperation:
            raise ValueError(f"stored decimal {value!r} is not a number") from None


def canonical_quantity(value: Decimal) -> str:
    """A quantity's shortest exact text (1.50 -> 1.5, 100 -> 100): how usage samples store theirs,
    so the database can tell a changed value from the same one by comparing text."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"datetimes are stored timezone-aware, not {value!r}")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class MessageText(TypeDecorator[str]):
    """An error or message: stored scrubbed of every known secret."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else scrub(str(value))


class MessageString(TypeDecorator[str]):
    """A short value someone else wrote (a refused cell), stored scrubbed like a message and cut to
    the column's length (a mask can be longer than what it hides)."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        scrubbed = None if value is None else scrub(str(value))
        length = getattr(self.impl_instance, "length", None)
        return scrubbed[:length] if scrubbed is not None and length else scrubbed


class MessageJSON(TypeDecorator[Any]):
    """Data that carries messages (a run's summary, a write's result, a stored answer): the strings
    under its message keys are stored scrubbed of every known secret; the rest as it is."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else scrub_messages(value)
