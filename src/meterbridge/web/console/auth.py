"""Who is looking at a console page: a signed-in session (the same cookie as the API's), the
tenant in the path and the role there. A request without a session is sent to sign in; a tenant
the user has no role in answers 404, like one that does not exist; every form that changes
something carries the session's CSRF token (``csrf_token``), checked before anything is done."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Path, Request
from starlette.datastructures import FormData

from meterbridge.services import accounts
from meterbridge.services.accounts import Principal
from meterbridge.services.actors import Actor
from meterbridge.services.context import Context
from meterbridge.services.errors import Forbidden, InvalidInput, NotFound
from meterbridge.services.views import Role, SessionView
from meterbridge.web.api.bodies import unstorable
from meterbridge.web.deps import SESSION_COOKIE, context


class SignInNeeded(Exception):
    """No session (or it ended): the console answers with the sign-in page, then comes back."""

    def __init__(self, back_to: str) -> None:
        super().__init__(back_to)
        self.back_to = back_to


def back_to(request: Request) -> str:
    path = request.url.path
    return path + ("?" + request.url.query if request.url.query else "")


def sign_in_url(back: str) -> str:
    return "/console/sign-in?next=" + quote(back, safe="")


@dataclass(frozen=True)
class Viewer:
    """A signed-in user on a console page (not yet in a tenant)."""

    ctx: Context
    principal: Principal
    session: SessionView

    @property
    def csrf(self) -> str:
        return self.session.csrf_token


def signed_in(request: Request) -> Viewer:
    secret = request.cookies.get(SESSION_COOKIE)
    found = accounts.session_principal(context(request), secret) if secret else None
    if found is None:
        raise SignInNeeded(back_to(request) if request.method == "GET" else "/console")
    return Viewer(context(request), found[0], found[1])


@dataclass(frozen=True)
class TenantPage:
    """A console page in one tenant: what the templates need to decide which buttons to show."""

    ctx: Context
    principal: Principal
    session: SessionView
    tenant: str
    role: Role

    @property
    def actor(self) -> Actor:
        return self.principal.actor

    @property
    def csrf(self) -> str:
        return self.session.csrf_token

    @property
    def can_bill(self) -> bool:
        return self.role.allows(Role.BILLING)

    @property
    def is_admin(self) -> bool:
        return self.role.allows(Role.ADMIN)

    @property
    def base(self) -> str:
        return f"/console/t/{quote(self.tenant, safe='')}"

    def require(self, role: Role) -> None:
        if not self.role.allows(role):
            raise Forbidden(f"this needs the {role.value} role in tenant {self.tenant}; yours is {self.role.value}")

    def template_context(self) -> dict[str, Any]:
        return {"page": self, "session": self.session}


def in_tenant(
    viewer: Annotated[Viewer, Depends(signed_in)],
    tenant: Annotated[str, Path(max_length=64)],
) -> TenantPage:
    role = viewer.principal.role_in(tenant)
    if role is None:
        raise NotFound(f"no tenant {tenant!r}", field="tenant", hint="pick one of your tenants")
    return TenantPage(viewer.ctx, viewer.principal, viewer.session, tenant, role)


Page = Annotated[TenantPage, Depends(in_tenant)]


def _storable(name: str, value: str) -> str:
    problem = unstorable(value)
    if problem:
        raise InvalidInput(f"{name}: {problem}", field=name)
    return value


class Form:
    """A posted form (urlencoded or multipart) whose CSRF token was checked."""

    def __init__(self, data: FormData) -> None:
        self.data = data

    def text(self, name: str, default: str = "") -> str:
        value = self.data.get(name)
        return _storable(name, value).strip() if isinstance(value, str) else default

    def optional(self, name: str) -> str | None:
        """The field's text, or None when it was left empty."""
        return self.text(name) or None

    def texts(self, name: str) -> list[str]:
        return [_storable(name, v).strip() for v in self.data.getlist(name) if isinstance(v, str) and v.strip()]

    def checked(self, name: str) -> bool:
        return self.text(name) in ("on", "true", "1", "yes")


async def posted(request: Request, page: Page) -> Form:
    data = await request.form(max_files=1, max_fields=5000)
    presented = data.get("csrf_token")
    if not isinstance(presented, str) or not hmac.compare_digest(presented.encode(), page.csrf.encode()):
        raise Forbidden(
            "the form's CSRF token is missing or is not this session's",
            hint="reload the page and send the form again",
            field="csrf_token",
        )
    return Form(data)


Posted = Annotated[Form, Depends(posted)]
