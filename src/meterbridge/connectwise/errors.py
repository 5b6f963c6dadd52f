"""The ConnectWise client's exceptions: one root, each naming the method and path, never a key.

Temporary errors (rate limits, 5xx, timeouts, dropped connections) are retried by the client
before they reach the caller; permanent ones (auth, not found, validation) never are.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One entry of ConnectWise's ``errors`` list: which field, and what is wrong with it."""

    code: str
    message: str
    field: str | None = None
    resource: str | None = None

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class ConnectWiseError(Exception):
    """A call to ConnectWise Manage failed."""

    temporary = False

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        path: str = "",
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.code = code
        self.detail = message
        where = f"{method} {path}".strip()
        status_text = f" -> {status}" if status is not None else ""
        code_text = f" {code}" if code else ""
        super().__init__(f"{where}{status_text}{code_text}: {message}" if where else message)


class ConfigurationError(ConnectWiseError):
    """The connection settings cannot work (no such company at the site, a malformed site)."""


class AuthError(ConnectWiseError):
    """401 or 403: the keys, the company id or the API member's security role. Not retried."""


class NotFound(ConnectWiseError):
    """404: no such record (or, on the cloud, sometimes wrong credentials)."""


class Conflict(ConnectWiseError):
    """409: the record is in use or in another conflict."""


class ValidationFailed(ConnectWiseError):
    """400: ConnectWise refused the request; ``errors`` says which fields and why. Never retried."""

    def __init__(
        self,
        message: str,
        *,
        errors: tuple[FieldError, ...] = (),
        method: str = "",
        path: str = "",
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        self.errors = errors
        details = "; ".join(str(error) for error in errors)
        super().__init__(
            f"{message} ({details})" if details else message, method=method, path=path, status=status, code=code
        )


class RateLimited(ConnectWiseError):
    """429 (or 503 with Retry-After) still answered when no call of the client has been answered for
    its ``rate_limit_patience_seconds``: the client waited out every pause until then."""

    temporary = True

    def __init__(
        self, message: str, *, retry_after: float | None = None, method: str = "", path: str = "", status: int = 429
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, method=method, path=path, status=status)


class TemporaryError(ConnectWiseError):
    """5xx, a timeout or a dropped connection that outlasted the retries.

    ``maybe_applied`` is true for a write that may have reached ConnectWise (the request was sent
    and no answer came back, or ConnectWise answered 5xx): the caller must check before writing
    it again.
    """

    temporary = True

    def __init__(
        self,
        message: str,
        *,
        maybe_applied: bool = False,
        method: str = "",
        path: str = "",
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        self.maybe_applied = maybe_applied
        super().__init__(message, method=method, path=path, status=status, code=code)
