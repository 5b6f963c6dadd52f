"""Every error is a JSON body with its kind, message, field, row, position, hint and action;
the kind decides the status. Bad input is a 4xx with what to fix, never a 500 or a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from meterbridge import runtime
from meterbridge.services.errors import ErrorKind, RateLimited, ServiceError
from meterbridge.settings import Settings

log = logging.getLogger("meterbridge.web")

STATUSES = {
    ErrorKind.INVALID_INPUT: 422,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.UNAUTHORIZED: 401,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.RATE_LIMITED: 429,
    ErrorKind.CONFLICT: 409,
    ErrorKind.NOT_CONFIGURED: 409,
    ErrorKind.APPROVAL_NEEDED: 422,
    ErrorKind.HELD: 409,
    ErrorKind.LEASE_HELD: 409,
    ErrorKind.LEASE_LOST: 409,
    ErrorKind.CHECKSUM_MISMATCH: 409,
    ErrorKind.CONNECTWISE: 502,
    ErrorKind.STORAGE: 503,
    ErrorKind.SECRETS: 503,
}


class ErrorBody(BaseModel):
    kind: str = Field(description="invalid_input, not_found, unauthorized, forbidden, conflict, ... or internal")
    message: str
    field: str | None = None
    row: int | None = None
    position: int | None = None
    hint: str | None = None
    action: str | None = Field(default=None, description="the use case that fixes it, e.g. connection.set")
    params: dict[str, str] = Field(default_factory=dict)


def body_of(error: ServiceError) -> dict[str, Any]:
    return ErrorBody.model_validate(error.as_data()).model_dump()


def error_response(error: ServiceError) -> JSONResponse:
    headers = {}
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(max(1, round(error.retry_after)))
    if error.kind is ErrorKind.UNAUTHORIZED:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body_of(error), status_code=STATUSES.get(error.kind, 400), headers=headers)


def _field_of(location: tuple[Any, ...]) -> str | None:
    """A validation error's place as the messages name it: ``samples[2].quantity`` (counted from 1)."""
    text = ""
    for part in location:
        if part in ("body", "query", "path", "header"):
            continue
        text += f"[{part + 1}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or None


def _row_of(location: tuple[Any, ...]) -> int | None:
    """The position (from 1) of the first list item a validation error is in: a batch's sample."""
    return next((part + 1 for part in location if isinstance(part, int)), None)


def validation_body(error: RequestValidationError) -> ErrorBody:
    problems = error.errors()
    first = problems[0] if problems else {}
    location = tuple(first.get("loc", ()))
    if first.get("type") == "json_invalid":
        position = next((p for p in location if isinstance(p, int)), None)
        reason = first.get("ctx", {}).get("error", "decode error")
        return ErrorBody(
            kind=ErrorKind.INVALID_INPUT.value,
            message=f"body: not valid JSON at character {position} ({reason})",
            field="body",
            position=position,
            hint='send the body as JSON, e.g. {"period": "2026-10"}',
        )
    message = "; ".join(
        f"{_field_of(tuple(p.get('loc', ()))) or 'body'}: {p.get('msg', 'invalid')}" for p in problems[:10]
    )
    return ErrorBody(
        kind=ErrorKind.INVALID_INPUT.value,
        message=message or "invalid request",
        field=_field_of(location),
        row=_row_of(location),
    )


def install(app: FastAPI, settings: Settings) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(_request: Request, error: ServiceError) -> JSONResponse:
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(validation_body(error).model_dump(), status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, error: HTTPException) -> JSONResponse:
        kind = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}.get(
            error.status_code, "invalid_input"
        )
        body = ErrorBody(kind=kind, message=str(error.detail))
        return JSONResponse(body.model_dump(), status_code=error.status_code, headers=error.headers)

    async def below(_request: Request, error: Exception) -> JSONResponse:
        failure = runtime.as_service_error(error, settings)
        assert failure is not None
        return error_response(failure)

    for failure_type in runtime.BELOW_SERVICES:
        app.add_exception_handler(failure_type, below)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        failure = runtime.as_service_error(error, settings)
        if failure is not None:
            return error_response(failure)
        log.exception("unexpected error answering %s %s", request.method, request.url.path)
        body = ErrorBody(kind="internal", message="meterbridge could not answer this request; the log has the details")
        return JSONResponse(body.model_dump(), status_code=500)
