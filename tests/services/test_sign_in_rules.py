"""Sign-in rules in the service layer: new passwords (NIST 800-63B), case-insensitive usernames
(and the migration that folds the stored ones), throttling counted in the database by account
and address, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from cryptography.fernet import Fernet
from sqlalchemy import select
from tests.support.actors import ACTOR
from tests.support.clocks import FakeClock
from tests.support.loopback import LOOPBACK

from meterbridge.services import accounts, passwords, sign_ins, tenants
from meterbridge.services.context import Context
from meterbridge.services.errors import Conflict, InvalidInput, RateLimited, Unauthorized
from meterbridge.store.database import Database
from meterbridge.store.models import AuditEntry, SignInAttempt, User, WebSession
from meterbridge.store.secrets import SecretBox

PASSWORD = "correct horse battery staple"
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


@pytest.fixture
def ctx(database_url: str) -> Iterator[Context]:
    db = Database(database_url)
    context = Context(outbound=LOOPBACK, db=db, box=SecretBox(Fernet.generate_key()), clock=FakeClock(NOW))
    tenants.init_tenant(context, "acme", actor=ACTOR)
    tenants.init_tenant(context, "beta", actor=ACTOR)
    yield context
    db.dispose()


REFUSED = {
    "            ": "only spaces",
    "\t \n" * 6: "only spaces",
    "a" + " " * 15: "at least 12",
    "short pw": "at least 12",
    "aaaaaaaaaaaa": "one character repeated",
    "ZZZZZZZZZZZZZZZZ": "one character repeated",
    "abcabcabcabc": "pattern repeated",
    "121212121212": "pattern repeated",
    "123456789012": "sequence",
    "987654321098": "sequence",
    "abcdefghijkl": "sequence",
    "qwertyuiopas": "sequence",
    "1qaz2wsx3edc": "sequence",
    "aaaaaa111111": "sequence",
    "abcdefgh1234": "sequence",
    "tb_admin@example.com": "username",
    "TB_ADMIN@EXAMPLE.COM": "username",
    "my TB_Admin@Example.com password": "username",
    "admin@example.com": "username",
    "password1234": "breaches",
    "P@ssw0rd2024!": "breaches",
    "qwerty123456": "breaches",
    "Iloveyou1234": "breaches",
    "x" * 1001 + "yz": "at most 1000",
}


@pytest.mark.parametrize(("password", "why"), list(REFUSED.items()))
def test_weak_passwords_are_refused_naming_the_field(password: str, why: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        passwords.check(password, "tb_admin@example.com")
    assert refused.value.field == "password" and refused.value.message.startswith("password: ")
    assert why in refused.value.message


@pytest.mark.parametrize(
    "password", [PASSWORD, "bob's own password", "Tr0ub4dor&3xyz", "x7#kQ9!mLp2$vR", "  spaced   out  words  "]
)
def test_good_passwords_pass(password: str) -> None:
    passwords.check(password, "tb_admin@example.com")


def test_the_demos_password_passes() -> None:
    passwords.check("demo-password-2026", "demo@example.com")  # scripts/demo's


def test_the_breached_list_ships_with_the_package() -> None:
    assert len(passwords.breached()) >= 300 and "password" in passwords.breached()


def test_usernames_are_case_insensitive(ctx: Context) -> None:
    made = accounts.add_member(ctx, "acme", "TB_Admin@Example.com", "admin", password=PASSWORD, actor=ACTOR)
    assert made.username == "tb_admin@example.com"
    with pytest.raises(Conflict) as taken:  # another tenant's admin cannot make the same name in another case
        accounts.add_member(
            ctx, "beta", "TB_ADMIN@EXAMPLE.COM", "admin", password="another fine passphrase", actor=ACTOR
        )
    assert taken.value.field == "username"
    again = accounts.add_member(ctx, "acme", "TB_ADMIN@example.com", "viewer", actor=ACTOR)  # the same user
    assert again.username == "tb_admin@example.com"
    assert [m.username for m in accounts.list_members(ctx, "acme")] == ["tb_admin@example.com"]
    with ctx.db.session() as session:
        assert session.scalars(select(User.username)).all() == ["tb_admin@example.com"]
    _, view = accounts.sign_in(ctx, "Tb_Admin@EXAMPLE.com", PASSWORD)
    assert view.username == "tb_admin@example.com"
    removed = accounts.remove_member(ctx, "acme", "TB_ADMIN@EXAMPLE.COM", actor=ACTOR)
    assert removed.username == "tb_admin@example.com" and accounts.list_members(ctx, "acme") == []


def test_a_new_password_is_checked_against_the_username_and_an_old_one_still_works(ctx: Context) -> None:
    with pytest.raises(InvalidInput, match="password: must not be or contain the username"):
        accounts.add_member(
            ctx, "acme", "carol.jones@example.com", "viewer", password="Carol.Jones@example.com!", actor=ACTOR
        )
    with pytest.raises(InvalidInput, match="password: must not be or contain the username"):
        accounts.add_member(
            ctx, "acme", "carol.jones@example.com", "viewer", password="hi carol.jones@example.com", actor=ACTOR
        )
    with ctx.db.session() as session:  # set before the rules: not checked again until it is changed
        session.add(User(username="old@example.com", password_hash=PasswordHasher().hash("old"), created_at=NOW))
    accounts.add_member(ctx, "acme", "old@example.com", "viewer", actor=ACTOR, operator=True)
    assert accounts.sign_in(ctx, "OLD@example.com", "old")[1].username == "old@example.com"
    with pytest.raises(InvalidInput, match="password: "):
        accounts.add_member(ctx, "acme", "old@example.com", "viewer", password="oldoldoldold", actor=ACTOR)


def test_the_migration_folds_stored_usernames_and_disables_a_younger_twin(empty_database_url: str) -> None:
    db = Database(empty_database_url)
    db.upgrade("0007")
    hasher = PasswordHasher()
    with db.session() as session:
        for name in ("Ann@Example.com", "ann@example.com", "BOB@example.com", "carol@example.com", "ANN@EXAMPLE.COM"):
            session.add(User(username=name, password_hash=hasher.hash(f"pw of {name}"), created_at=NOW))
        session.flush()
        twin = session.scalar(select(User.id).where(User.username == "ann@example.com"))
        session.add(WebSession(user_id=twin, secret_hash="h" * 64, csrf_token="c", created_at=NOW, expires_at=NOW))
    db.upgrade()
    with db.session() as session:
        users = {u.id: (u.username, u.disabled) for u in session.scalars(select(User).order_by(User.id))}
        assert users == {
            1: ("ann@example.com", False),  # the oldest keeps the name, folded
            2: ("ann@example.com#2", True),
            3: ("bob@example.com", False),
            4: ("carol@example.com", False),
            5: ("ANN@EXAMPLE.COM#5", True),
        }
        assert session.scalars(select(WebSession)).all() == []
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "user.disabled")).all()
        assert sorted(e.detail["after"]["username"] for e in entries) == ["ANN@EXAMPLE.COM#5", "ann@example.com#2"]
    ctx = Context(outbound=LOOPBACK, db=db, box=SecretBox(Fernet.generate_key()), clock=FakeClock(NOW))
    assert accounts.sign_in(ctx, "ANN@example.com", "pw of Ann@Example.com")[1].username == "ann@example.com"
    for name, password in (
        ("ann@example.com", "pw of ann@example.com"),
        ("ann@example.com#2", "pw of ann@example.com"),
    ):
        with pytest.raises(Unauthorized):
            accounts.sign_in(ctx, name, password)
    assert accounts.sign_in(ctx, "bob@EXAMPLE.com", "pw of BOB@example.com")[1].username == "bob@example.com"
    db.downgrade("0007")  # the attempts table goes; the names stay folded
    db.upgrade()
    db.dispose()


def _fail(ctx: Context, address: str, username: str = "ann@example.com") -> None:
    sign_ins.reserve(ctx, username, address)  # counted, never taken back: a failure


def test_failures_throttle_their_address_and_never_the_owner_at_a_clean_one(ctx: Context) -> None:
    clock = ctx.clock
    assert isinstance(clock, FakeClock)
    for _ in range(5):
        _fail(ctx, "203.0.113.7")
    with pytest.raises(RateLimited) as limited:
        sign_ins.reserve(ctx, "ANN@example.com", "203.0.113.7")  # any case: the same account
    assert 890 <= limited.value.retry_after <= 900
    sign_ins.reserve(ctx, "bob@example.com", "203.0.113.7")  # that address, another account: still allowed
    owner = sign_ins.reserve(ctx, "ann@example.com", "198.51.100.20")  # the owner elsewhere
    sign_ins.succeeded(ctx, owner)
    clock.advance(minutes=15, seconds=1)
    sign_ins.reserve(ctx, "ann@example.com", "203.0.113.7")  # its failures are older than the window


def test_an_account_under_attack_gives_each_failed_address_one_guess_and_a_clean_one_its_way(ctx: Context) -> None:
    for n in range(10):  # a spray: 10 addresses, one failure each
        _fail(ctx, f"203.0.113.{n}")
    with pytest.raises(RateLimited):
        sign_ins.reserve(ctx, "ann@example.com", "203.0.113.3")  # failed once already: waits
    for n in range(10, 40):  # yet every new address gets in line, once
        _fail(ctx, f"203.0.113.{n}")
    owner = sign_ins.reserve(ctx, "ann@example.com", "198.51.100.20")
    sign_ins.succeeded(ctx, owner)
    sign_ins.reserve(ctx, "bob@example.com", "203.0.113.3")  # the account's count stops no other account
    with ctx.db.session() as session:
        kept = session.scalars(select(SignInAttempt).where(SignInAttempt.address == "198.51.100.20")).all()
    assert kept == [], "a sign-in that works takes its own attempt back"


def test_an_address_is_limited_over_all_accounts_and_ipv6_counts_per_64(ctx: Context) -> None:
    for n in range(20):
        _fail(ctx, f"2001:db8:1:2::{n:x}", username=f"guess{n}@example.com")
    with pytest.raises(RateLimited):
        sign_ins.reserve(ctx, "ann@example.com", "2001:db8:1:2:ffff::1")  # the same /64
    sign_ins.reserve(ctx, "ann@example.com", "2001:db8:1:3::1")  # the next /64
    assert sign_ins.address_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert sign_ins.address_key("[2001:db8::1]") == "2001:db8::/64"
    assert sign_ins.address_key("testclient") == "testclient"


def test_a_success_forgets_only_its_own_addresss_failures(ctx: Context) -> None:
    clock = ctx.clock
    assert isinstance(clock, FakeClock)
    for _ in range(4):
        _fail(ctx, "203.0.113.7")
    for _ in range(4):
        _fail(ctx, "198.51.100.20")
    sign_ins.succeeded(ctx, sign_ins.reserve(ctx, "ann@example.com", "198.51.100.20"))
    for _ in range(5):  # the owner's address starts again
        _fail(ctx, "198.51.100.20")
    _fail(ctx, "203.0.113.7")  # the attacker's fifth
    with pytest.raises(RateLimited):
        sign_ins.reserve(ctx, "ann@example.com", "203.0.113.7")
    assert sign_ins.tracked(ctx) == 3  # one account, two addresses
    clock.advance(minutes=16)
    sign_ins.reserve(ctx, "x@example.com", "192.0.2.1")  # a turn forgets what is older than the window
    assert sign_ins.tracked(ctx) == 2
    assert timedelta(minutes=15) == sign_ins.Limits().window
