"""Accounts: members of a tenant and their roles, API tokens, a signed-in session."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from meterbridge.services.views.base import View


class Role(StrEnum):
    """What a member or a token may do in a tenant; each role can do what the ones below it can."""

    VIEWER = "viewer"  # read everything
    BILLING = "billing"  # configure, preview, push
    ADMIN = "admin"  # the connection, settings, users and tokens

    @property
    def rank(self) -> int:
        return [Role.VIEWER, Role.BILLING, Role.ADMIN].index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


class MemberView(View):
    username: str
    role: Role
    disabled: bool = False


class TokenView(View):
    id: int
    name: str
    role: Role
    tenant: str
    created_at: datetime
    created_by: str
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class TokenCreated(TokenView):
    token: str = Field(description="the token itself: shown once, never again (meterbridge keeps only its hash)")


class TenantAccess(View):
    key: str
    name: str
    role: Role


class SessionView(View):
    username: str
    csrf_token: str = Field(description="send it as X-CSRF-Token with every request that changes something")
    expires_at: datetime
    tenants: list[TenantAccess]


class TenantView(View):
    key: str
    name: str
    time_zone: str
    role: Role  # the caller's
