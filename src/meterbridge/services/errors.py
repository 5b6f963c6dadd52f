"""The service layer's errors: each says what is wrong and what to do, in the user's terms."""

from __future__ import annotations


class ServiceError(Exception):
    """Something the user asked for cannot be done."""

    exit_code = 1

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class NotFound(ServiceError):
    """The named thing does not exist."""

    exit_code = 2


class InvalidInput(ServiceError):
    """A value is not acceptable; the message names the field, row or position."""

    exit_code = 2


class Conflict(ServiceError):
    """What is asked for would overwrite what is stored; the message says how to ask for it on purpose."""

    exit_code = 2


class NotConfigured(ServiceError):
    """Set-up is missing (tenant, connection, ...)."""

    exit_code = 2


class LeaseHeld(ServiceError):
    """Another push of this tenant is running; it was not started twice."""

    exit_code = 5


class LeaseLost(ServiceError):
    """Another worker took this tenant's lease over; this push stopped writing."""

    exit_code = 5


class ChecksumMismatch(ServiceError):
    """The plan changed since it was reviewed; nothing was written. Preview again and approve the new checksum."""

    exit_code = 6


class ApprovalNeeded(ServiceError):
    """A push applies a reviewed plan (--checksum) or, with --force, whatever is planned now."""

    exit_code = 2
