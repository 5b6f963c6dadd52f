"""The ConnectWise Manage client: async, polite to the rate limit, exact with values.

Imports nothing else of meterbridge. See docs/connectwise-client.md.
"""

from meterbridge.connectwise.client import ConnectWiseClient, changed_fields, patch_operations
from meterbridge.connectwise.conditions import Condition, F, Pattern, all_of, any_of, chunk_in, escape_like, quote
from meterbridge.connectwise.errors import (
    AuthError,
    ConfigurationError,
    Conflict,
    ConnectWiseError,
    FieldError,
    NotFound,
    RateLimited,
    TemporaryError,
    ValidationFailed,
)
from meterbridge.connectwise.models import (
    Addition,
    Agreement,
    AgreementType,
    CatalogItem,
    Company,
    Configuration,
    ConfigurationType,
    Contact,
    Info,
    ProductRef,
    Reference,
)
from meterbridge.connectwise.settings import ConnectionSettings
from meterbridge.connectwise.stats import CallStats

__all__ = [
    "Addition",
    "Agreement",
    "AgreementType",
    "AuthError",
    "CallStats",
    "CatalogItem",
    "Company",
    "Condition",
    "Configuration",
    "ConfigurationError",
    "ConfigurationType",
    "Conflict",
    "ConnectWiseClient",
    "ConnectWiseError",
    "ConnectionSettings",
    "Contact",
    "F",
    "FieldError",
    "Info",
    "NotFound",
    "Pattern",
    "ProductRef",
    "RateLimited",
    "Reference",
    "TemporaryError",
    "ValidationFailed",
    "all_of",
    "any_of",
    "changed_fields",
    "chunk_in",
    "escape_like",
    "patch_operations",
    "quote",
]
