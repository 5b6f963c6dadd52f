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
        default=InvoicedPolicy.MOVE,
        description="a new addition dated in a period ConnectWise already invoiced: move it to the next invoice date, "
        "or block it",
    )
    drift_policy: DriftPolicy = DriftPolicy.HOLD
    max_changed_fraction: Decimal | None = Field(default=Decimal("0.20"), ge=0, le=1)
    max_quantity_drop: Decimal | None = Field(default=Decimal("0.30"), ge=0, le=1)
    max_total_change: Decimal | None = Field(default=Decimal("0.25"), ge=0, le=100)
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
        return {"rate_limit_per_minute": self.rate_limit_per_minute, "max_concurrency": self.max_concurrency}

    def thresholds(self) -> Thresholds:
        return Thresholds(
            self.max_changed_fraction, self.max_quantity_drop, self.max_total_change, self.drift_policy, self.currency
        )
