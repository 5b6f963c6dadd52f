"""A tenant's settings: policies, safety thresholds, lease and rate limits, validated as a whole."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from meterbridge.domain.policies import BillStartPolicy, DriftPolicy, InvoicedPolicy
from meterbridge.domain.safety import Thresholds

_ADDRESS = re.compile(r"[^@\s,;<>\"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?\.[A-Za-z]{2,63}")


class TenantSettings(BaseModel):
    """Per-tenant policies. Thresholds are fractions (0.2 = 20 %); None switches a check off."""

    model_config = ConfigDict(extra="forbid")

    bill_start_policy: BillStartPolicy = BillStartPolicy.CLAMP
    invoiced_policy: InvoicedPolicy = Field(
        default=InvoicedPolicy.ADJUST,
        description="a line of a period ConnectWise already invoiced: adjust (bill the month's amount or its "
        "difference as a correction in the next open month), move (a new addition from the next invoice date only), "
        "block, or allow (edit the invoiced month in place, not invoiced again)",
    )
    drift_policy: DriftPolicy = DriftPolicy.HOLD
    max_changed_fraction: Decimal | None = Field(default=Decimal("0.20"), ge=0, le=1)
    max_quantity_drop: Decimal | None = Field(default=Decimal("0.30"), ge=0, le=1)
    max_total_change: Decimal | None = Field(default=Decimal("0.25"), ge=0, le=100)
    max_jump_factor: Decimal | None = Field(
        default=Decimal(5),
        ge=1,
        le=1_000_000,
        description="hold a company whose line's quantity moves by more than this factor (up or down) over the "
        "latest month pushed for it",
    )
    max_jump_amount: Decimal | None = Field(
        default=Decimal(500),
        ge=0,
        le=1_000_000_000,
        description="hold a company whose line's amount moves by more than this much money over the latest month "
        "pushed for it",
    )
    lease_seconds: float = Field(
        default=60.0, ge=5, le=3600, description="how long a push's lease lasts without renewal"
    )
    resume_skew_seconds: float = Field(
        default=300.0,
        ge=0,
        le=86400,
        description="clock difference allowed when matching an unfinished create on resume",
    )
    rate_limit_per_minute: int = Field(
        default=900, ge=1, le=1_000_000, description="ConnectWise calls a minute, at most"
    )
    max_concurrency: int = Field(default=8, ge=1, le=64, description="ConnectWise calls in flight, at most")
    request_timeout_seconds: float = Field(
        default=30.0,
        ge=1,
        le=300,
        description="how long a ConnectWise call may take; a push that takes a lease over waits this long (and "
        "a second) before it checks the writes its holder had under way",
    )
    rate_limit_patience_seconds: float = Field(
        default=600.0,
        ge=10,
        le=86400,
        description="how long a push waits out ConnectWise's rate limit with no call answered: it slows down and "
        "retries while any call is answered, and past this long a rate-limited call fails its company",
    )
    agreement_type: str = Field(default="Backup Services", description="type of agreements the doctor creates")
    currency: str = Field(default="$", min_length=1, max_length=5, description="the symbol amounts are shown with")
    managers: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="email addresses told the outcome of every push and every held plan",
    )

    @field_validator("managers", mode="before")
    @classmethod
    def _listed(cls, value: Any) -> Any:
        """None is nobody; a text is addresses separated by commas (``a@x.com,b@y.com``)."""
        if value is None:
            return []
        if isinstance(value, str):
            return [part for part in re.split(r"[,;\s]+", value) if part]
        return value

    @field_validator("managers")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        cleaned = [address.strip() for address in value]
        for position, address in enumerate(cleaned, start=1):
            if not _ADDRESS.fullmatch(address):
                raise ValueError(f"manager {position}: {address!r} is not an email address (name@example.com)")
        return list(dict.fromkeys(cleaned))

    def client_limits(self) -> dict[str, Any]:
        return {
            "rate_limit_per_minute": self.rate_limit_per_minute,
            "max_concurrency": self.max_concurrency,
            "timeout_seconds": self.request_timeout_seconds,
            "rate_limit_patience_seconds": self.rate_limit_patience_seconds,
        }

    def thresholds(self) -> Thresholds:
        return Thresholds(
            max_changed_fraction=self.max_changed_fraction,
            max_quantity_drop=self.max_quantity_drop,
            max_total_change=self.max_total_change,
            drift_policy=self.drift_policy,
            currency=self.currency,
            max_jump_factor=self.max_jump_factor,
            max_jump_amount=self.max_jump_amount,
        )
