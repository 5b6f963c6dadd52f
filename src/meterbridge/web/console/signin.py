"""Signing in and out of the console, the landing page (the user's tenants) and the tenant switcher."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from meterbridge.services import accounts
from meterbridge.services.errors import ServiceError
from meterbridge.web.console.auth import Viewer, signed_in
from meterbridge.web.console.render import PREFIX, page, redirect
from meterbridge.web.deps import SESSION_COOKIE, clear_session_cookie, set_session_cookie
from meterbridge.web.limits import SignInLimiter

router = APIRouter(prefix=PREFIX)


def _safe_next(target: str | None) -> str:
    """Only a path of this console (never another site) is followed after signing in."""
    if not target or not target.startswith("/console") or target.startswith("//") or "\\" in target:
        return "/console"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else "/console"


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, next: Annotated[str | None, Query(max_length=2000)] = None) -> Response:
    return page(request, "sign_in.html", next=_safe_next(next), username="", error=None)


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request) -> Response:
    form = await request.form(max_files=0, max_fields=10)
    username = str(form.get("username") or "").strip()[:100]
    password = str(form.get("password") or "")[:1000]
    target = _safe_next(str(form.get("next") or ""))
    limiter: SignInLimiter = request.app.state.sign_ins
    try:
        secret, view = limiter.sign_in(request, username, password)
    except ServiceError as error:
        return page(request, "sign_in.html", status=401 if error.kind.value == "unauthorized" else 429,
                    next=target, username=username, error=error)  # fmt: skip
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, request, secret, view)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, viewer: Annotated[Viewer, Depends(signed_in)]) -> Response:
    form = await request.form(max_files=0, max_fields=10)
    if str(form.get("csrf_token") or "") == viewer.csrf:
        secret = request.cookies.get(SESSION_COOKIE)
        if secret:
            accounts.sign_out(viewer.ctx, secret)
    response = RedirectResponse("/console/sign-in", status_code=303)
    clear_session_cookie(response, request)
    return response


@router.get("", response_class=HTMLResponse)
def home(request: Request, viewer: Annotated[Viewer, Depends(signed_in)]) -> Response:
    tenants = viewer.session.tenants
    if len(tenants) == 1:
        return redirect(f"/console/t/{tenants[0].key}")
    return page(request, "tenants.html", session=viewer.session, page=None)


@router.get("/switch")
def switch(viewer: Annotated[Viewer, Depends(signed_in)], tenant: Annotated[str, Query(max_length=64)]) -> Response:
    if viewer.principal.role_in(tenant) is None:
        return redirect("/console")
    return redirect(f"/console/t/{tenant}")
