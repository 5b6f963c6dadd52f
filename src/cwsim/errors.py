"""Errors cwsim answers with, each carrying its HTTP status and ConnectWise-shaped body.

Body shapes follow API-NOTES.md section 5: ``{"code", "message", "errors": [...]}`` for most
errors, and ``{"error", "message"}`` for 429, exactly as ConnectWise documents it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class SimError(Exception):
    """Root of cwsim's errors; ``status`` and ``body()`` make the HTTP answer."""

    status = 500
    code = "ServerError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}

    def headers(self) -> dict[str, str]:
        return {}


class BadRequest(SimError):
    """A malformed query (conditions, orderBy, fields, paging) or body."""

    status = 400
    code = "InvalidObject"


class Unauthorized(SimError):
    status = 401
    code = "Unauthorized"


class Forbidden(SimError):
    """The API member's security role does not allow this (ConnectWise: 'Improper security role')."""

    status = 403
    code = "Forbidden"


class NotFound(SimError):
    status = 404
    code = "NotFound"


class MethodNotAllowed(SimError):
    status = 405
    code = "MethodNotAllowed"


class UnsupportedMediaType(SimError):
    status = 415
    code = "UnsupportedMediaType"


class TooManyRequests(SimError):
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many requests. Please try again in {retry_after} seconds.")
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        return {"error": "ConnectWiseAPI", "message": self.message}

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class InjectedServerError(SimError):
    """A 500 injected by a fault rule (never a bug in cwsim)."""

    status = 500
    code = "InjectedFault"


@dataclass(frozen=True)
class FieldError:
    code: str
    message: str
    field: str
    resource: str = ""

    def as_json(self, resource: str) -> dict[str, str]:
        return {
            "code": self.code,
            "message": self.message,
            "resource": self.resource or resource,
            "field": self.field,
        }


class ValidationFailed(SimError):
    """ConnectWise's InvalidObject: ``<object> object is invalid`` with one entry per field."""

    status = 400
    code = "InvalidObject"

    def __init__(self, object_name: str, errors: list[FieldError]) -> None:
        super().__init__(f"{object_name} object is invalid")
        self.object_name = object_name
        self.errors = errors

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "errors": [error.as_json(self.object_name) for error in self.errors],
        }

    def __str__(self) -> str:
        details = "; ".join(f"{e.field}: {e.message}" for e in self.errors)
        return f"{self.message}: {details}"
