"""Accounts: users with a role per tenant (argon2 password hashes), API tokens (shown once, stored
as a hash, scoped to one tenant and role, revocable, with their last use), and console sessions
(a secret in a cookie, a CSRF token for every form).

Usernames are case-insensitive: stored case-folded, and what is typed is folded before any
look-up, so ``TB_ADMIN@x`` is ``tb_admin@x``. New passwords follow services/passwords.py.

A caller is a ``Principal``: who it is (the actor the audit log records) and its role in each
tenant it may reach. Tenants it may not reach are not told apart from tenants that do not exist.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from meterbridge.services import passwords
from meterbridge.services.actors import Actor
from meterbridge.services.audit import audit
from meterbridge.services.context import Context
from meterbridge.services.errors import Conflict, InvalidInput, NotFound, Unauthorized
from meterbridge.services.scope import tenant_row
from meterbridge.services.views import MemberView, Role, SessionView, TenantAccess, TokenCreated, TokenView
from meterbridge.store.models import ApiToken, Membership, Tenant, User, WebSession
from meterbridge.store.repos import accounts

MIN_PASSWORD = passwords.MIN_LENGTH
MAX_TOKEN_ID = 2_147_483_647
TOKEN_PREFIX = "mb"  # noqa: S105 - the marker tokens start with, not a secret
SESSION_HOURS = 12
USED_EVERY = timedelta(minutes=1)  # a token's last use is written at most this often
_USERNAME = re.compile(r"^[A-Za-z0-9._@-]{1,100}$")
_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when the user does not exist, so a wrong username takes as long
    as a wrong password (made on first use: hashing takes a fifth of a second, too long for an import)."""
    return _hasher.hash("not a password of anyone")


@dataclass(frozen=True)
class Principal:
    """Who is calling, and what it may do where."""

    actor: Actor
    roles: dict[str, Role] = field(default_factory=dict)  # tenant key -> role
    csrf_token: str | None = None  # a session's: required with every request that changes something

    def role_in(self, tenant: str) -> Role | None:
        return self.roles.get(tenant)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def fold_username(username: str) -> str:
    """A username as stored and looked up: case-folded (``Ann@Example.com`` is ``ann@example.com``)."""
    return username.strip().casefold()


def _role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        raise InvalidInput(f"role: {text!r} is not admin, billing or viewer", field="role") from None


def add_member(
    ctx: Context,
    tenant: str,
    username: str,
    role: str,
    *,
    actor: Actor,
    password: str | None = None,
    operator: bool = False,
) -> MemberView:
    """Give a user a role in the tenant, creating the user (with ``password``) when new.

    A tenant's admin (``operator`` False: the API) manages only users of that tenant alone: a
    user who is also a member elsewhere is refused, so no tenant can set another tenant's
    member's password or take them in. The operator (the command line, on the server) may do
    both."""
    if not _USERNAME.match(username):
        raise InvalidInput("username: 1 to 100 letters, digits and . _ @ - (an e-mail address works)", field="username")
    username = fold_username(username)
    wanted = _role(role)
    if password is not None:
        passwords.check(password, username)
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        user = accounts.user(session, username)
        if user is not None and not operator:
            elsewhere = [t for _, t in accounts.memberships_of(session, user.id) if t.id != row.id]
            if elsewhere or accounts.membership(session, user.id, row.id) is None:
                raise Conflict(
                    f"username: {username} is taken",
                    hint="choose another username, or ask the operator to add this user (meterbridge users add)",
                    field="username",
                )
        if user is None:
            if password is None:
                raise InvalidInput(f"password: {username} is a new user: give a password", field="password")
            user = User(username=username, password_hash=_hasher.hash(password), created_at=ctx.clock(), disabled=False)
            session.add(user)
            session.flush()
        elif password is not None:
            user.password_hash = _hasher.hash(password)
            accounts.end_sessions(session, user_id=user.id)  # a new password signs them out everywhere
        membership = accounts.membership(session, user.id, row.id)
        before = {"username": username, "role": membership.role} if membership else None
        if membership is None:
            membership = Membership(user_id=user.id, tenant_id=row.id, role=wanted.value)
            session.add(membership)
        membership.role = wanted.value
        after = {"username": username, "role": wanted.value, "password changed": password is not None}
        audit(session, ctx, row.id, actor, "member.set", after, before=before)
        return MemberView(username=username, role=wanted, disabled=user.disabled)


def remove_member(ctx: Context, tenant: str, username: str, *, actor: Actor) -> MemberView:
    """``username`` is folded, unless it is exactly the stored name of a user the case-folding
    migration (0008) disabled and renamed (``Name#id``): that one can be removed as listed."""
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        user = accounts.user(session, fold_username(username))
        if user is None and "#" in username:
            user = accounts.user(session, username)
        membership = accounts.membership(session, user.id, row.id) if user else None
        if user is None or membership is None:
            raise NotFound(f"{username} is not a member of tenant {tenant}", field="username")
        role = Role(membership.role)
        accounts.remove_membership(session, user.id, row.id)
        before = {"username": user.username, "role": role.value}
        audit(session, ctx, row.id, actor, "member.remove", {"username": user.username}, before=before)
        return MemberView(username=user.username, role=role, disabled=user.disabled)


def list_members(ctx: Context, tenant: str) -> list[MemberView]:
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        return [
            MemberView(username=u.username, role=Role(m.role), disabled=u.disabled)
            for m, u in accounts.members_of(session, row.id)
        ]


def _token_view(token: ApiToken, tenant: str) -> TokenView:
    return TokenView(
        id=token.id,
        name=token.name,
        role=Role(token.role),
        tenant=tenant,
        created_at=token.created_at,
        created_by=token.created_by,
        last_used_at=token.last_used_at,
        revoked_at=token.revoked_at,
    )


def create_token(ctx: Context, tenant: str, name: str, role: str, *, actor: Actor) -> TokenCreated:
    """A new API token for the tenant; its value is in the answer once and never stored."""
    if not name.strip() or len(name) > 100:
        raise InvalidInput("name: name the token after what uses it (1 to 100 characters)", field="name")
    wanted = _role(role)
    secret = secrets.token_urlsafe(32)
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        token = ApiToken(
            tenant_id=row.id,
            name=name,
            role=wanted.value,
            secret_hash=_digest(secret),
            created_at=ctx.clock(),
            created_by=str(actor),
        )
        session.add(token)
        session.flush()
        audit(session, ctx, row.id, actor, "token.create", {"id": token.id, "name": name, "role": wanted.value})
        view = _token_view(token, tenant)
    return TokenCreated(**view.model_dump(), token=f"{TOKEN_PREFIX}_{view.id}_{secret}")


def list_tokens(ctx: Context, tenant: str) -> list[TokenView]:
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        return [_token_view(t, tenant) for t in accounts.tokens_of(session, row.id)]


def revoke_token(ctx: Context, tenant: str, token_id: int, *, actor: Actor) -> TokenView:
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        token = accounts.token(session, token_id)
        if token is None or token.tenant_id != row.id:
            raise NotFound(f"token {token_id} does not exist", field="token")
        if token.revoked_at is None:
            token.revoked_at = ctx.clock()
            after = {"id": token_id, "name": token.name, "revoked_at": token.revoked_at.isoformat()}
            audit(session, ctx, row.id, actor, "token.revoke", after, before={**after, "revoked_at": None})
        return _token_view(token, tenant)


def token_principal(ctx: Context, presented: str) -> Principal | None:
    """The caller a presented token stands for, or None (unknown, wrong, revoked)."""
    prefix, _, rest = presented.partition("_")
    token_id, _, secret = rest.partition("_")
    if prefix != TOKEN_PREFIX or not token_id.isascii() or not token_id.isdecimal() or len(token_id) > 10:
        return None
    if not secret or int(token_id) > MAX_TOKEN_ID:
        return None
    with ctx.db.session() as session:
        token = accounts.token(session, int(token_id))
        if token is None or token.revoked_at is not None:
            return None
        if not hmac.compare_digest(token.secret_hash, _digest(secret)):
            return None
        now = ctx.clock()
        if token.last_used_at is None or now - token.last_used_at >= USED_EVERY:
            token.last_used_at = now
        tenant = session.get(Tenant, token.tenant_id)
        assert tenant is not None
        return Principal(Actor.token(f"{token.name}#{token.id}"), {tenant.key: Role(token.role)})


def _verify(user: User | None, password: str) -> bool:
    try:
        return _hasher.verify(user.password_hash if user else _dummy_hash(), password) and user is not None
    except (VerificationError, InvalidHashError):
        return False


def _session_view(user: User, web: WebSession, session: Session) -> SessionView:
    tenants = [
        TenantAccess(key=t.key, name=t.name, role=Role(m.role)) for m, t in accounts.memberships_of(session, user.id)
    ]
    return SessionView(username=user.username, csrf_token=web.csrf_token, expires_at=web.expires_at, tenants=tenants)


def sign_in(ctx: Context, username: str, password: str) -> tuple[str, SessionView]:
    """A new session for a user whose password is right: (the cookie's secret, the session).
    The username is folded (any case signs in); limits on attempts are the caller's
    (services/sign_ins.py)."""
    with ctx.db.session() as session:
        user = accounts.user(session, fold_username(username)[:100])
        if not _verify(user, password) or user is None or user.disabled:
            raise Unauthorized("wrong username or password", field="password")
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
        now = ctx.clock()
        accounts.end_sessions(session, before=now)
        secret = secrets.token_urlsafe(32)
        web = WebSession(
            user_id=user.id,
            secret_hash=_digest(secret),
            csrf_token=secrets.token_urlsafe(24),
            created_at=now,
            expires_at=now + timedelta(hours=SESSION_HOURS),
        )
        session.add(web)
        session.flush()
        audit(session, ctx, None, Actor.user(user.username), "session.start", {"username": user.username})
        return secret, _session_view(user, web, session)


def session_principal(ctx: Context, secret: str) -> tuple[Principal, SessionView] | None:
    with ctx.db.session() as session:
        web = accounts.web_session(session, _digest(secret))
        if web is None or web.expires_at <= ctx.clock():
            return None
        user = accounts.user_by_id(session, web.user_id)
        if user is None or user.disabled:
            return None
        view = _session_view(user, web, session)
        roles = {access.key: access.role for access in view.tenants}
        return Principal(Actor.user(user.username), roles, csrf_token=web.csrf_token), view


def sign_out(ctx: Context, secret: str) -> None:
    with ctx.db.session() as session:
        web = accounts.web_session(session, _digest(secret))
        if web is not None:
            session.delete(web)


def expires_in(view: SessionView, now: datetime) -> int:
    """Seconds until the session ends (the cookie's max-age)."""
    return max(0, int((view.expires_at - now).total_seconds()))
