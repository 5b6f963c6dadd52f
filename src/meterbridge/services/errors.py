"""The service layer's errors, as data: what went wrong, where, and what would fix it.

Every error has a ``kind`` (what front-ends map to an exit code or an HTTP status), a message
in the user's terms (a whole sentence that names the field, row or position), and where it
applies a ``field``, a ``row`` and a ``hint``: what to do, in words any front-end can show.
``action`` names the use case that fixes it (``"init"``, ``"connection.set"``,
``"doctor.create"``...), so a front-end can add its own way to get there (the CLI prints the
command, the console a link); ``params`` are the values that use case needs (a period, a
customer). Messages never name CLI flags: each front-end has its own.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from meterbridge.redaction import scrub


class ErrorKind(StrEnum):
    INVALID_INPUT = "invalid_input"
    NOT_FOUND = "not_found"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"
    CONFLICT = "conflict"
    NOT_CONFIGURED = "not_configured"
    APPROVAL_NEEDED = "approval_needed"
    HELD = "held"
    LEASE_HELD = "lease_held"
    LEASE_LOST = "lease_lost"
    CHECKSUM_MISMATCH = "checksum_mismatch"
    CONNECTWISE = "connectwise"
    STORAGE = "storage"
    SECRETS = "secrets"


class ServiceError(Exception):
    """Something the user asked for cannot be done."""

    kind: ClassVar[ErrorKind] = ErrorKind.INVALID_INPUT

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        row: int | None = None,
        hint: str | None = None,
        action: str | None = None,
        params: dict[str, str] | None = None,
        position: int | None = None,
    ) -> None:
        # the boundary every shown error passes (API bodies, CLI, console, a run's stored error):
        # a secret this process knows, echoed by whatever wrote the text, is masked here
        self.message = scrub(message or (self.__doc__ or "").strip())
        self.field = field
        self.row = row
        self.position = position  # in a rule's text: where the parser stopped
        self.hint = scrub(hint) if hint else hint
        self.action = action
        self.params = dict(params or {})
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}: {self.hint}"

    def as_data(self) -> dict[str, Any]:
        """The error as the API answers it and a run records it."""
        return {
            "kind": self.kind.value,
            "message": self.message,
            "field": self.field,
            "row": self.row,
            "position": self.position,
            "hint": self.hint,
            "action": self.action,
            "params": dict(self.params),
        }


class InvalidInput(ServiceError):
    """A value is not acceptable; the message names the field, row or position."""

    kind = ErrorKind.INVALID_INPUT


class NotFound(ServiceError):
    """The named thing does not exist."""

    kind = ErrorKind.NOT_FOUND


class Unauthorized(ServiceError):
    """Who is asking is not known: sign in, or present a valid API token."""

    kind = ErrorKind.UNAUTHORIZED


class Forbidden(ServiceError):
    """The caller's role does not allow this."""

    kind = ErrorKind.FORBIDDEN


class RateLimited(ServiceError):
    """Too many attempts; wait before trying again."""

    kind = ErrorKind.RATE_LIMITED

    def __init__(self, message: str | None = None, *, retry_after: float, **extra: object) -> None:
        super().__init__(message, **extra)  # type: ignore[arg-type]
        self.retry_after = retry_after


class Conflict(ServiceError):
    """What is asked for would overwrite what is stored; the message says how to ask for it on purpose."""

    kind = ErrorKind.CONFLICT


class NotConfigured(ServiceError):
    """Set-up is missing (tenant, connection, ...)."""

    kind = ErrorKind.NOT_CONFIGURED


class ApprovalNeeded(ServiceError):
    """A push applies a reviewed plan (its checksum) or, forced, whatever is planned now."""

    kind = ErrorKind.APPROVAL_NEEDED


class LeaseHeld(ServiceError):
    """Another push of this tenant is running; it was not started twice."""

    kind = ErrorKind.LEASE_HELD


class LeaseLost(ServiceError):
    """Another worker took this tenant's lease over; this push stopped writing."""

    kind = ErrorKind.LEASE_LOST


class ChecksumMismatch(ServiceError):
    """The plan changed since it was reviewed; nothing was written. Preview again and approve the new checksum."""

    kind = ErrorKind.CHECKSUM_MISMATCH


class ConnectWiseFailed(ServiceError):
    """ConnectWise could not be reached or refused the request."""

    kind = ErrorKind.CONNECTWISE


class StorageFailed(ServiceError):
    """The database could not do what was asked; nothing was half stored."""

    kind = ErrorKind.STORAGE


class SecretsFailed(ServiceError):
    """The key that seals ConnectWise private keys is missing or wrong."""

    kind = ErrorKind.SECRETS
