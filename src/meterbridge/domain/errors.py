"""The billing core's exceptions: one root; each message names the input and what to do."""

from __future__ import annotations


class DomainError(ValueError):
    """Billing input that cannot be used as given."""


class PeriodError(DomainError):
    """A billing period that cannot be read or does not exist."""


class UnitError(DomainError):
    """A quantity in a unit that cannot be converted to the one asked for."""


class ConfigurationInvalid(DomainError):
    """A billing configuration that breaks a rule (the message names the field)."""
