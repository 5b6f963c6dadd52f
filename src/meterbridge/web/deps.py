"""Who is calling and what they may do: an API token (``Authorization: Bearer mb_...``) or a
console session (its cookie, and for every request that changes something the session's
``X-CSRF-Token``). A tenant the caller cannot reach answers 404, as one that does not exist
would, so ids and keys do not leak; a role too weak for the route answers 403."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Path, Request, Response

from meterbridge.services import accounts
from meterbridge.services.accounts import Principal
from meterbridge.services.actors import Actor
from meterbridge.services.context import Context
from meterbridge.services.errors import Forbidden, NotFound, Unauthorized
from meterbridge.services.views import Role, SessionView

SESSION_COOKIE = "mb_session"
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


def context(request: Request) -> Context:
    ctx = request.app.state.ctx
    assert isinstance(ctx, Context)
    return ctx


def principal(request: Request) -> Principal:
    ctx = context(request)
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, presented = header.partition(" ")
        found = accounts.token_principal(ctx, presented.strip()) if scheme.lower() == "bearer" else None
        if found is None:
            raise Unauthorized("the API token is unknown, wrong or revoked", hint="create a token, or sign in")
        return found
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        signed_in = accounts.session_principal(ctx, secret)
        if signed_in is None:
            raise Unauthorized("the session has ended", hint="sign in again")
        found, _ = signed_in
        presented = request.headers.get("x-csrf-token", "")
        if request.method not in SAFE and not hmac.compare_digest(
            presented.encode(), (found.csrf_token or "").encode()
        ):
            raise Forbidden(
                "the X-CSRF-Token header is missing or is not this session's",
                hint="send the csrf_token the sign-in answered with",
                field="X-CSRF-Token",
            )
        return found
    raise Unauthorized("sign in, or present an API token (Authorization: Bearer mb_...)")


Caller = Annotated[Principal, Depends(principal)]


def set_session_cookie(response: Response, request: Request, secret: str, view: SessionView) -> None:
    """The session's cookie: HttpOnly, SameSite Lax, Secure unless the server was told otherwise."""
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=accounts.expires_in(view, context(request).clock()),
        httponly=True,
        secure=bool(request.app.state.secure_cookies),
        samesite="lax",
        path="/",
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=bool(request.app.state.secure_cookies), httponly=True, samesite="lax"
    )


@dataclass(frozen=True)
class TenantCall:
    """A request in one tenant: the context, the tenant's key, the caller's role and actor."""

    ctx: Context
    tenant: str
    role: Role
    actor: Actor


def needs(role: Role) -> Callable[..., TenantCall]:
    """A dependency: the caller may reach the tenant in the path with at least ``role``."""

    def check(
        request: Request,
        caller: Caller,
        tenant: Annotated[str, Path(description="the tenant's key", max_length=64)],
    ) -> TenantCall:
        have = caller.role_in(tenant)
        if have is None:
            raise NotFound(f"no tenant {tenant!r}", field="tenant")
        if not have.allows(role):
            raise Forbidden(f"this needs the {role.value} role in tenant {tenant}; yours is {have.value}")
        return TenantCall(context(request), tenant, have, caller.actor)

    check.required_role = role  # type: ignore[attr-defined]
    return check


Viewer = Annotated[TenantCall, Depends(needs(Role.VIEWER))]
Billing = Annotated[TenantCall, Depends(needs(Role.BILLING))]
Admin = Annotated[TenantCall, Depends(needs(Role.ADMIN))]


def required_role(dependant: Any) -> Role | None:
    """The role a route's dependencies ask for (None: no tenant role, e.g. sign-in, health)."""
    for sub in dependant.dependencies:
        role = getattr(sub.call, "required_role", None)
        if isinstance(role, Role):
            return role
        found = required_role(sub)
        if found is not None:
            return found
    return None
