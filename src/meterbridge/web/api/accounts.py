"""The tenant's members (users and their roles) and API tokens; admins only."""

from __future__ import annotations

from fastapi import APIRouter

from meterbridge.services import accounts
from meterbridge.services.views import MemberView, TokenCreated, TokenView
from meterbridge.web.api.bodies import IdPath, MemberIn, TokenIn
from meterbridge.web.deps import Admin

router = APIRouter(tags=["members and tokens"])


@router.get("/members", response_model=list[MemberView])
def list_members(call: Admin) -> list[MemberView]:
    return accounts.list_members(call.ctx, call.tenant)


@router.put("/members/{username}", response_model=MemberView)
def put_member(call: Admin, username: str, body: MemberIn) -> MemberView:
    """Give a user a role here (a new user needs a password; a password given replaces theirs)."""
    password = body.password.get_secret_value() if body.password else None
    return accounts.add_member(call.ctx, call.tenant, username, body.role, password=password, actor=call.actor)


@router.delete("/members/{username}", response_model=MemberView)
def remove_member(call: Admin, username: str) -> MemberView:
    return accounts.remove_member(call.ctx, call.tenant, username, actor=call.actor)


@router.get("/tokens", response_model=list[TokenView])
def list_tokens(call: Admin) -> list[TokenView]:
    return accounts.list_tokens(call.ctx, call.tenant)


@router.post("/tokens", response_model=TokenCreated, status_code=201)
def create_token(call: Admin, body: TokenIn) -> TokenCreated:
    """A new token for this tenant: its value is in this answer, once, and never again."""
    return accounts.create_token(call.ctx, call.tenant, body.name, body.role, actor=call.actor)


@router.delete("/tokens/{token_id}", response_model=TokenView)
def revoke_token(call: Admin, token_id: IdPath) -> TokenView:
    return accounts.revoke_token(call.ctx, call.tenant, token_id, actor=call.actor)
