"""Sign-in throttling, counted in the database so every server process shares the counts.

Each attempt is counted before its password is checked (a burst of parallel attempts is counted
whole) and kept, as a failure, unless it works. The rules (docs/security.md, "Sign-in"), in any
15 minutes (``window``):

1. an address may fail 5 times on one account (``per_pair``); then that address waits, for that
   account;
2. an address may make 20 attempts over all accounts (``per_address``); then it waits, for all;
3. once an account has 10 failures from all addresses together (``account_alert``), an address
   that has failed on it in the window waits until that failure is ``window`` old: every address
   gets one guess per window. An address without a failure on the account is never refused
   because of the account's count, so the owner at a clean address always gets in.

A sign-in that works takes its own attempt back and forgets its address's failures on that
account (never the account's failures from elsewhere, never the address's on other accounts).
An IPv6 client is counted per /64 (one host usually holds the whole /64). Time is the
context's clock.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from meterbridge.services.accounts import fold_username
from meterbridge.services.context import Context
from meterbridge.services.errors import RateLimited
from meterbridge.store.repos import sign_ins


@dataclass(frozen=True)
class Limits:
    window: timedelta = timedelta(minutes=15)
    per_pair: int = 5
    per_address: int = 20
    account_alert: int = 10


@dataclass(frozen=True)
class Attempt:
    """A counted attempt: what ``succeeded`` or ``withdraw`` take back."""

    id: int
    account: str
    address: str


def address_key(address: str) -> str:
    """What an address is counted as: an IPv6 address by its /64, an IPv4-mapped one as IPv4,
    anything that is not an address (a test client's name) as given."""
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return address.strip()[:100] or "?"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _refuse(retry_at: datetime, now: datetime) -> RateLimited:
    return RateLimited(
        "too many sign-in attempts",
        hint="wait, then try again",
        retry_after=max(1.0, (retry_at - now).total_seconds()),
    )


def reserve(ctx: Context, username: str, address: str, limits: Limits | None = None) -> Attempt:
    """Count an attempt of ``address`` on ``username``'s account, or refuse it (429) by the rules."""
    rules = limits or Limits()
    account = fold_username(username)[:100]
    key = address_key(address)
    with ctx.db.session() as session:
        now = ctx.clock()
        sign_ins.take_turn(session, before=now - rules.window)
        pair = sign_ins.times(session, account=account, address=key)
        if len(pair) >= rules.per_pair:
            raise _refuse(pair[len(pair) - rules.per_pair] + rules.window, now)
        from_address = sign_ins.times(session, address=key)
        if len(from_address) >= rules.per_address:
            raise _refuse(from_address[len(from_address) - rules.per_address] + rules.window, now)
        if pair and sign_ins.count(session, account=account) >= rules.account_alert:
            raise _refuse(pair[-1] + rules.window, now)
        attempt_id = sign_ins.add(session, account=account, address=key, at=now)
    return Attempt(attempt_id, account, key)


def succeeded(ctx: Context, attempt: Attempt) -> None:
    """The attempt worked: it and its address's failures on that account are forgotten."""
    with ctx.db.session() as session:
        sign_ins.remove(session, attempt.id)
        sign_ins.clear_pair(session, account=attempt.account, address=attempt.address)


def withdraw(ctx: Context, attempt: Attempt) -> None:
    """The attempt was never checked (the server was busy): it does not count."""
    with ctx.db.session() as session:
        sign_ins.remove(session, attempt.id)


def tracked(ctx: Context) -> int:
    """How many accounts and addresses have attempts kept (the table stays small under a spray)."""
    with ctx.db.session() as session:
        return sign_ins.keys(session)
