"""Connection settings for one ConnectWise Manage site: where, who, and how politely."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

import httpx2
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

_CODEBASE = re.compile(r"[A-Za-z0-9_.-]{1,64}")

#: Cloud sites whose API answers only on the ``api-`` host (API-NOTES.md section 2).
CLOUD_DOMAINS = ("myconnectwise.net", "connectwisedev.com")
ON_PREMISE_CODEBASE = "v4_6_release/"


def _printable(text: str) -> bool:
    return bool(text) and all(" " < ch < "\x7f" for ch in text)


class ConnectionSettings(BaseModel):
    """Everything needed to talk to one ConnectWise site. The private key never prints."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    site: str = Field(description="Host of the ConnectWise site, e.g. na.myconnectwise.net; may carry a scheme")
    company_id: str = Field(min_length=1, description="The login company id")
    public_key: str = Field(min_length=1)
    private_key: SecretStr
    client_id: str = Field(min_length=1, description="The integration's clientId GUID")
    api_version: str = Field(default="2026.4", pattern=r"^\d{4}\.\d{1,2}$", description="Pinned API version")
    codebase: str | None = Field(default=None, description="e.g. v2026_4/; discovered when not set")
    timeout_seconds: float = Field(default=30.0, gt=0)
    connect_timeout_seconds: float = Field(default=10.0, gt=0)
    rate_limit_per_minute: int = Field(default=900, ge=1)
    max_concurrency: int = Field(default=8, ge=1)
    max_attempts: int = Field(default=6, ge=1, description="Tries per request for temporary errors")
    backoff_base_seconds: float = Field(default=0.25, ge=0)
    backoff_cap_seconds: float = Field(default=30.0, ge=0)
    max_retry_after_seconds: float = Field(default=120.0, ge=0)
    rate_limit_patience_seconds: float = Field(
        default=600.0,
        gt=0,
        description="A throttled request gives up only when no request of the client has been answered for this long",
    )

    @field_validator("site")
    @classmethod
    def _site_has_a_host(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        parts = urlsplit(value if "://" in value else f"https://{value}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("site must be a host name such as na.myconnectwise.net (optionally with https://)")
        if parts.path not in ("", "/"):
            raise ValueError("site must be only the host, without a path")
        try:
            httpx2.URL(f"{parts.scheme}://{parts.netloc}/")
        except httpx2.InvalidURL:
            raise ValueError(
                f"site: {parts.hostname!r} is not a host name (letters, digits, dots and dashes)"
            ) from None
        try:
            address = ipaddress.ip_address(parts.hostname)
        except ValueError:
            return value  # a host name
        if address.is_link_local or address.is_unspecified or address.is_multicast or address.is_reserved:
            raise ValueError(
                f"site: {address} is a link-local, unspecified or reserved address (a cloud's metadata service "
                "lives there), never a ConnectWise site"
            )
        return value

    @field_validator("company_id", "public_key", "client_id")
    @classmethod
    def _fits_a_header(cls, value: str) -> str:
        """They travel in HTTP headers (Basic auth, clientId): printable ASCII, no spaces."""
        if not _printable(value.strip()):
            raise ValueError("use only letters, digits and punctuation (printable ASCII, no spaces)")
        return value.strip()

    @field_validator("private_key")
    @classmethod
    def _key_fits_a_header(cls, value: SecretStr) -> SecretStr:
        if not _printable(value.get_secret_value()):
            raise ValueError("the private key is printable ASCII without spaces, as ConnectWise shows it")
        return value

    @field_validator("codebase")
    @classmethod
    def _codebase_ends_with_slash(cls, value: str | None) -> str | None:
        if value is None or not value.strip("/"):
            return None
        bare = value.strip("/")
        if not _CODEBASE.fullmatch(bare) or ".." in bare:
            raise ValueError(f"codebase {value!r} is one path segment such as v2026_4/ (letters, digits, . _ -)")
        return bare + "/"

    @property
    def scheme(self) -> str:
        return "http" if self.site.startswith("http://") else "https"

    @property
    def login_host(self) -> str:
        """Host (and port) of the site, where /login/companyinfo answers."""
        return urlsplit(self.site if "://" in self.site else f"https://{self.site}").netloc

    def api_host(self, codebase: str) -> str:
        """The host API calls go to: cloud sites need the ``api-`` prefix unless on premise."""
        host = self.login_host
        bare = host.split(":")[0]
        if codebase != ON_PREMISE_CODEBASE and bare.endswith(CLOUD_DOMAINS) and not bare.startswith("api-"):
            return f"api-{host}"
        return host

    def __repr__(self) -> str:
        return (
            f"ConnectionSettings(site={self.site!r}, company_id={self.company_id!r}, "
            f"public_key={self.public_key!r}, private_key='**********', client_id={self.client_id!r})"
        )

    __str__ = __repr__
