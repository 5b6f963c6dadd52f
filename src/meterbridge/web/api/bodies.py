"""What requests send: the bodies of the routes that change something."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from meterbridge.services.errors import InvalidInput
from meterbridge.web.limits import BATCH_SAMPLES

MAX_ID = 2_147_483_647  # ConnectWise's and the database's ids are 32-bit

#: A run's, token's or ConnectWise record's id in a path.
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
#: A quantity of usage (up to a million terabytes in bytes' worth of GB) and a price or cost.
Quantity = Annotated[Decimal, Field(ge=0, le=Decimal("1e15"), allow_inf_nan=False)]
Money = Annotated[Decimal, Field(ge=0, le=Decimal("1e9"), allow_inf_nan=False)]


def unstorable(text: str) -> str | None:
    """Why ``text`` cannot be stored (a NUL, or half of a UTF-16 surrogate pair), or None."""
    if "\x00" in text:
        return "holds a NUL character"
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        return "holds half of a surrogate pair (not a character); send the text as UTF-8"
    return None


def _check_text(value: Any) -> Any:
    if isinstance(value, str):
        problem = unstorable(value)
        if problem:
            raise ValueError(problem)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_text(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_text(item)
    return value


def require_storable(value: Any, field: str) -> None:
    """A body taken as it is (a dict): refused when it holds text the database cannot store."""
    try:
        _check_text(value)
    except ValueError as error:
        raise InvalidInput(f"{field}: {error}", field=field) from None


class Body(BaseModel):
    """Every body: no field it does not know, no text the database cannot store."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def storable(cls, value: Any) -> Any:
        return _check_text(value.get_secret_value() if isinstance(value, SecretStr) else value)


class SignIn(Body):
    username: str = Field(max_length=100)
    password: SecretStr = Field(max_length=1000)


class ConnectionIn(Body):
    site: str = Field(description="ConnectWise site host, e.g. na.myconnectwise.net")
    company_id: str
    public_key: str
    private_key: SecretStr | None = Field(
        default=None, description="sealed at rest; never returned; left out, the stored key is kept"
    )
    client_id: str
    api_version: str = "2026.4"
    codebase: str | None = None


class CustomerIn(Body):
    name: str | None = Field(default=None, description="needed for a new customer")
    managed_id: str | None = Field(default=None, description='ConnectWise Managed ID (digits); "" removes it')
    push_enabled: bool | None = None


class LinkIn(Body):
    company: str = Field(description="the ConnectWise company's identifier or id")


class ProductIn(Body):
    name: str | None = None
    kind: str | None = Field(default=None, description="license, storage, device or traffic")
    unit: str | None = Field(default=None, description="count, B, MB, GB, TB, MiB, GiB, TiB")
    basis: str | None = Field(default=None, description="last, max, average or sum")
    cw_product: str | None = Field(default=None, description='ConnectWise catalog identifier; "" removes it')


class TierIn(Body):
    up_to: Quantity | None = Field(default=None, description="empty for the last tier")
    unit_price: Money
    unit_cost: Money | None = None


class PriceIn(Body):
    unit_price: Money | None = None
    unit_cost: Money | None = None
    tiers: list[TierIn] | None = Field(default=None, description="[] removes the tiers")
    tier_mode: str | None = Field(default=None, description="graduated or volume")
    places: int | None = Field(default=None, ge=0, le=8, description="decimals the price keeps (0 to 8)")


class ConfigurationIn(Body):
    customer: str
    options: dict[str, Any] = Field(default_factory=dict, description="the options to set; the others are kept")
    enabled: bool | None = None
    clear: list[str] = Field(default_factory=list, description="options back to their defaults")
    replace: bool = Field(default=False, description="every option not given back to its default")


class PinIn(Body):
    cw_id: int = Field(ge=1, le=MAX_ID, description="the agreement (or addition) id in ConnectWise")


class RuleIn(Body):
    text: str = Field(description='ConnectWise conditions, e.g. type/name = "Backup Services"', max_length=2000)
    target: Literal["agreement", "addition"] = "agreement"


class SampleIn(Body):
    customer: str
    product: str
    measured_at: datetime
    quantity: Quantity
    unit: str
    customer_name: str | None = None


class UsageIn(Body):
    source: str = "default"
    mode: Literal["all", "valid"] = Field(
        default="all", description="all: all samples or none (422 naming the first bad one); valid: store the good "
        "ones, the answer lists the rest with their errors",
    )  # fmt: skip
    samples: list[SampleIn] = Field(max_length=BATCH_SAMPLES, description="at most 100,000 samples and 32 MiB")


class WithdrawIn(Body):
    customer: str
    product: str | None = None
    period: str | None = None
    at: datetime | None = None
    source: str | None = None


class PeriodIn(Body):
    period: str = Field(description="a billing month, e.g. 2026-10")


class PreviewIn(PeriodIn):
    customers: list[str] | None = Field(default=None, description="only these customers")


class PushIn(PreviewIn):
    checksum: str | None = Field(default=None, description="the reviewed plan's checksum")
    force: bool = Field(default=False, description="push what is planned now (still held over the thresholds)")
    wait_seconds: float = Field(default=0, ge=0, le=600, description="wait for another push of the tenant")
    approve_held: bool = Field(
        default=False,
        description="write the companies the safety thresholds hold too, approved by checksum (with customers: "
        "one held company, by the checksum of its own changes)",
    )


class DoctorIn(PeriodIn):
    create: bool = Field(default=False, description="create the missing catalog items and agreements")


class MemberIn(Body):
    role: Literal["admin", "billing", "viewer"]
    password: SecretStr | None = Field(default=None, description="needed for a new user; replaces an existing one's")


class TokenIn(Body):
    name: str = Field(max_length=100)
    role: Literal["admin", "billing", "viewer"]


class ScheduleIn(Body):
    """A schedule's options; on a change, only those given change (the others are kept)."""

    kind: str | None = Field(default=None, description="auto_billing, monthly or refresh (a new schedule needs it)")
    at: str | None = Field(default=None, max_length=5, description="HH:MM, the tenant's clock (auto_billing, monthly)")
    days: int | None = Field(default=None, description="auto_billing: the first N days of the month (1-28)")
    day: int | None = Field(default=None, description="monthly: the day of the month (1-31)")
    missing_day: str | None = Field(default=None, description="monthly: clamp or skip, in a month without that day")
    minute: int | None = Field(default=None, description="refresh: minutes past each hour (0-59)")
    target: str | None = Field(default=None, description="previous (the month before) or current (provisional)")
    enabled: bool | None = None
    since: str | None = Field(
        default=None,
        max_length=40,
        description="count occurrences from this date or time (years 2000-2999): the latest missed one runs",
    )


class WebhookIn(Body):
    name: str = Field(max_length=64, description="lowercase letters, digits, . _ -")
    url: str = Field(max_length=500, description="where each run's outcome is POSTed (http or https)")
    secret: SecretStr | None = Field(
        default=None, description="the signing secret, 16 to 200 characters; left out, one is made and answered once"
    )


class WebhookChange(Body):
    enabled: bool = Field(description="deliver to it, or not")


class SourceIn(Body):
    """A usage source to pull: where, its auth header, how it pages, where each field is."""

    url: str = Field(max_length=1000, description="the usage API's address")
    mapping: dict[str, Annotated[str, Field(max_length=200)]] = Field(
        description="field -> path in an item (customer, product, measured_at, quantity, unit, customer_name); "
        "a constant starts with =, e.g. =GB",
    )  # fmt: skip
    auth_header: str | None = Field(default=None, max_length=100, description="e.g. Authorization")
    auth_value: SecretStr | None = Field(default=None, description="the header's value; stored encrypted, never shown")
    every: Literal["hourly", "daily", "manual"] = "manual"
    at_minute: int = Field(default=0, ge=0, le=1439, description="hourly: past the hour; daily: after local midnight")
    enabled: bool = True
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="paging (none, page, cursor, next_link), items, next, page_size, page_param, size_param, "
        "cursor_param, since_param, params, values (translations), timeout, retries, complete",
    )  # fmt: skip
