"""Signing in and out: a session for the console (an HttpOnly cookie, SameSite Lax, Secure) and a
CSRF token the client sends with every request that changes something. Sign-in attempts are
limited per account and client address, counted in the database (docs/security.md, "Sign-in");
usernames are case-insensitive."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from meterbridge.services import accounts
from meterbridge.services.errors import Unauthorized
from meterbridge.services.views import SessionView
from meterbridge.web.api.bodies import SignIn
from meterbridge.web.deps import SESSION_COOKIE, clear_session_cookie, context, set_session_cookie
from meterbridge.web.errors import ErrorBody
from meterbridge.web.limits import SignInLimiter

router = APIRouter(prefix="/api/v1/session", tags=["session"])


@router.post("", response_model=SessionView, responses={401: {"model": ErrorBody}, 429: {"model": ErrorBody}})
def sign_in(request: Request, body: SignIn) -> JSONResponse:
    limiter: SignInLimiter = request.app.state.sign_ins
    secret, view = limiter.sign_in(request, body.username, body.password.get_secret_value())
    response = JSONResponse(view.json_data())
    set_session_cookie(response, request, secret, view)
    return response


@router.get("", response_model=SessionView, responses={401: {"model": ErrorBody}})
def current(request: Request) -> SessionView:
    secret = request.cookies.get(SESSION_COOKIE)
    signed_in = accounts.session_principal(context(request), secret) if secret else None
    if signed_in is None:
        raise Unauthorized("not signed in", hint="sign in first")
    return signed_in[1]


@router.delete("", status_code=204, responses={204: {"description": "signed out"}})
def sign_out(request: Request) -> Response:
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        accounts.sign_out(context(request), secret)
    response = Response(status_code=204)
    clear_session_cookie(response, request)
    return response
