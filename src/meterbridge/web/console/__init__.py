"""The console: the month's billing in a browser, at /console, over the same services and views
as the API (Jinja2 pages, htmx vendored in static/, no CDN, no bundler). ``install(app)`` adds
its routes, its static files and its HTML error pages to the app."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from meterbridge import runtime
from meterbridge.services.errors import ErrorKind, ServiceError
from meterbridge.web.console import (
    billing,
    catalog,
    checks,
    companies,
    configurations,
    connection,
    exports,
    overview,
    schedules,
    signin,
    usage,
)
from meterbridge.web.console import settings as settings_page
from meterbridge.web.console.auth import SignInNeeded, back_to, sign_in_url
from meterbridge.web.console.render import PREFIX, page
from meterbridge.web.errors import STATUSES, validation_body

STATIC = Path(__file__).parent / "static"
UPLOAD_SUFFIX = usage.UPLOAD_PATH

router = APIRouter(include_in_schema=False)
for module in (
    signin, overview, connection, companies, catalog, configurations, usage, schedules, billing, checks, settings_page
):  # fmt: skip
    router.include_router(module.router)
router.include_router(exports.router)  # the billing export's download


def _is_console(request: Request) -> bool:
    return request.url.path == PREFIX or request.url.path.startswith(PREFIX + "/")


def _error_page(request: Request, error: ServiceError, status: int) -> Response:
    if error.kind is ErrorKind.UNAUTHORIZED:
        return RedirectResponse(sign_in_url(back_to(request)), status_code=303)
    return page(request, "error.html", status, error=error, status_code=status, page=None, session=None)


async def _delegate(handler: Callable[..., Any], request: Request, error: Exception) -> Response:
    """Answer as the API's handler does (it may be sync or async)."""
    answer = handler(request, error)
    response: Response = await answer if inspect.isawaitable(answer) else answer
    return response


def install(app: FastAPI) -> None:
    """The console's routes and static files, and its errors as pages (the API's stay JSON)."""
    app.include_router(router)
    app.mount(PREFIX + "/static", StaticFiles(directory=STATIC), name="console-static")
    settings = app.state.settings
    api: dict[Any, Callable[..., Any]] = {
        kind: app.exception_handlers[kind] for kind in (ServiceError, RequestValidationError, HTTPException)
    }
    api.update({kind: app.exception_handlers[kind] for kind in runtime.BELOW_SERVICES})
    fallback = app.exception_handlers[Exception]

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(PREFIX, status_code=307)

    @app.exception_handler(SignInNeeded)
    async def sign_in_needed(_request: Request, error: SignInNeeded) -> Response:
        return RedirectResponse(sign_in_url(error.back_to), status_code=303)

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, error: ServiceError) -> Response:
        if not _is_console(request):
            return await _delegate(api[ServiceError], request, error)
        return _error_page(request, error, STATUSES.get(error.kind, 400))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> Response:
        if not _is_console(request):
            return await _delegate(api[RequestValidationError], request, error)
        body = validation_body(error)
        failure = ServiceError(body.message, field=body.field, hint="go back and try again")
        return _error_page(request, failure, 422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        if not _is_console(request):
            return await _delegate(api[HTTPException], request, error)
        failure = ServiceError(str(error.detail), hint="check the address, or start again from the overview")
        return _error_page(request, failure, error.status_code)

    async def unexpected(request: Request, error: Exception) -> Response:
        below = api.get(type(error)) or fallback
        if not _is_console(request):
            return await _delegate(below, request, error)
        failure = runtime.as_service_error(error, settings)
        if failure is not None:
            return _error_page(request, failure, STATUSES.get(failure.kind, 500))
        response = await _delegate(fallback, request, error)  # logs it
        return _error_page(request, ServiceError("meterbridge could not show this page; the log has the details",
                                                 hint="try again; if it keeps happening, tell your admin"),
                           response.status_code)  # fmt: skip

    for failure_type in (*runtime.BELOW_SERVICES, Exception):
        app.add_exception_handler(failure_type, unexpected)


__all__ = ["UPLOAD_SUFFIX", "install", "router"]
