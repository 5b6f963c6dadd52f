"""The base of every view, and the one conversion of Decimal, date and datetime to JSON values."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, PlainSerializer

from meterbridge.redaction import scrub

#: text someone else may have written (a vendor's answer, a refused cell, a mail server's reply):
#: shown scrubbed of every secret this process knows, as the store keeps it
Message = Annotated[str, AfterValidator(scrub)]


class View(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def json_data(self) -> Any:
        """What ``--json`` prints and the API answers: JSON-ready values (decimals as strings)."""
        return self.model_dump(mode="json")


def jsonable(value: Any) -> Any:
    """A value of the billing core (Decimal, date, nested dicts and lists) as JSON values:
    decimals as exact strings without exponent ("150", "0.093333"), dates in ISO 8601."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


#: A Decimal as JSON: an exact decimal string without exponent ("150", "0.093333").
Exact = Annotated[Decimal, PlainSerializer(lambda value: format(value, "f"), return_type=str, when_used="json")]
