"""Sign-in over HTTP (the API and the console form): the client's address from forwarded headers
only behind a trusted proxy, throttling shared by two app instances on one database, the owner
never locked out from a clean address, password rules and case-insensitive usernames.

The apps are driven in-process (Starlette's TestClient, which sets the TCP peer each client
has), not through uvicorn, whose own proxy-header handling would rewrite the peer first."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet
from starlette.testclient import TestClient
from tests.support.actors import ACTOR
from tests.support.clocks import FakeClock
from tests.support.loopback import LOOPBACK

from meterbridge.services import accounts, tenants
from meterbridge.services.context import Context
from meterbridge.settings import Settings
from meterbridge.store.database import Database
from meterbridge.store.secrets import SecretBox
from meterbridge.web.app import create_app

PASSWORD = "correct horse battery staple"
USER = "ann@example.com"
KEY = Fernet.generate_key()

Client = Callable[..., TestClient]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 22, 12, tzinfo=UTC))


@pytest.fixture
def prepared(database_url: str, clock: FakeClock) -> str:
    db = Database(database_url)
    ctx = Context(outbound=LOOPBACK, db=db, box=SecretBox(KEY), clock=clock)
    tenants.init_tenant(ctx, "acme", actor=ACTOR)
    accounts.add_member(ctx, "acme", USER, "admin", password=PASSWORD, actor=ACTOR)
    db.dispose()
    return database_url


@pytest.fixture
def client(prepared: str, clock: FakeClock) -> Iterator[Client]:
    """``client(peer=..., proxies=..., app=n)``: a client of app instance ``n`` (each its own
    Context and Database on the one database, as two server processes), from TCP peer ``peer``."""
    with ExitStack() as stack:
        apps: dict[tuple[int, str | None], object] = {}

        def make(*, peer: str = "127.0.0.1", proxies: str | None = None, app: int = 0) -> TestClient:
            if (app, proxies) not in apps:
                db = Database(prepared)
                stack.callback(db.dispose)
                ctx = Context(outbound=LOOPBACK, db=db, box=SecretBox(KEY), clock=clock)
                settings = Settings(database_url=prepared, trusted_proxies=proxies)
                apps[(app, proxies)] = create_app(ctx, settings, secure_cookies=False)
            return stack.enter_context(TestClient(apps[(app, proxies)], client=(peer, 40000), follow_redirects=False))

        yield make


def sign_in(http: TestClient, password: str = PASSWORD, *, username: str = USER, via: str | None = None) -> int:
    headers = {"X-Forwarded-For": via} if via else {}
    return http.post("/api/v1/session", json={"username": username, "password": password}, headers=headers).status_code


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(client: Client) -> None:
    """The finding: 25 sign-ins, each with a made-up X-Forwarded-For, from one loopback peer."""
    http = client(peer="127.0.0.1")  # no MBRIDGE_TRUSTED_PROXIES: loopback is not trusted either
    statuses = [sign_in(http, "wrong guess", via=f"198.51.100.{n}") for n in range(25)]
    assert statuses == [401] * 5 + [429] * 20
    elsewhere = client(peer="192.0.2.50")
    assert sign_in(elsewhere, via="198.51.100.99") == 200  # the owner at another peer


def test_a_trusted_proxys_header_is_honoured_right_most_untrusted_first(client: Client) -> None:
    http = client(peer="10.0.0.2", proxies="10.0.0.0/8, 127.0.0.1")
    for _ in range(5):
        assert sign_in(http, "wrong guess", via="203.0.113.7") == 401
    assert sign_in(http, via="203.0.113.7") == 429, "the attacker's address waits, even with the right password"
    # what the client writes to the left of the proxy's entry is not believed; hops of trusted proxies are skipped
    assert sign_in(http, via="192.0.2.1, 203.0.113.7, 10.0.0.9") == 429
    forwarded = {"Forwarded": 'for=192.0.2.1, for="203.0.113.7:4711";proto=https'}
    answer = http.post("/api/v1/session", json={"username": USER, "password": PASSWORD}, headers=forwarded)
    assert answer.status_code == 429
    assert sign_in(http, via="203.0.113.7, 198.51.100.20") == 200  # the owner, behind the same proxy
    other_peer = client(peer="192.0.2.77", proxies="10.0.0.0/8, 127.0.0.1")  # not the proxy: its header is ignored
    for _ in range(5):
        assert sign_in(other_peer, "wrong guess", via="198.51.100.20") == 401
    assert sign_in(other_peer, via="198.51.100.20") == 429
    assert sign_in(http, via="198.51.100.20") == 200, "the spoofed header charged the peer, not 198.51.100.20"


def test_many_failures_never_lock_the_owner_out_of_a_clean_address(client: Client) -> None:
    http = client(peer="127.0.0.1", proxies="127.0.0.1")
    statuses = [sign_in(http, "wrong guess", via="203.0.113.7") for _ in range(30)]
    assert statuses.count(401) == 5 and statuses.count(429) == 25
    for n in range(20):  # a spray from many addresses: the account is under attack
        assert sign_in(http, "wrong guess", via=f"203.0.113.{100 + n}") == 401
    assert sign_in(http, "wrong again", via="203.0.113.100") == 429, "one guess per address now"
    assert sign_in(http, username="ANN@Example.COM", via="198.51.100.20") == 200  # the owner, from home


def test_two_app_instances_on_one_database_share_the_counts(client: Client, clock: FakeClock) -> None:
    first, second = client(peer="192.0.2.10", app=1), client(peer="192.0.2.10", app=2)
    for http in (first, second, first, second, first):
        assert sign_in(http, "wrong guess") == 401
    assert sign_in(second) == 429 and sign_in(first) == 429
    assert sign_in(client(peer="192.0.2.11", app=2)) == 200
    clock.advance(minutes=15, seconds=1)
    assert sign_in(second) == 200


def test_the_console_form_uses_the_same_limits(client: Client) -> None:
    http = client(peer="127.0.0.1", proxies="127.0.0.1")

    def form(password: str, via: str, username: str = USER) -> int:
        data = {"username": username, "password": password, "next": "/console"}
        return http.post("/console/sign-in", data=data, headers={"X-Forwarded-For": via}).status_code

    for _ in range(5):
        assert form("wrong guess", "203.0.113.7") == 401
    assert form(PASSWORD, "203.0.113.7") == 429
    assert form(PASSWORD, "198.51.100.20", username="Ann@Example.com") == 303


def test_members_get_checked_passwords_and_case_insensitive_names(client: Client, prepared: str) -> None:
    http = client(peer="192.0.2.10")
    db = Database(prepared)
    token = accounts.create_token(
        Context(outbound=LOOPBACK, db=db, box=SecretBox(KEY), clock=FakeClock()), "acme", "t", "admin", actor=ACTOR
    ).token
    db.dispose()
    auth = {"Authorization": f"Bearer {token}"}
    for weak in (" " * 12, "123456789012", "bob@example.com", "Password2024!"):
        answer = http.put("/api/v1/tenants/acme/members/BOB@example.com", headers=auth,
                          json={"role": "viewer", "password": weak})  # fmt: skip
        assert answer.status_code == 422 and answer.json()["field"] == "password", (weak, answer.text)
    made = http.put("/api/v1/tenants/acme/members/BOB@example.com", headers=auth,
                    json={"role": "viewer", "password": "a fine long passphrase"})  # fmt: skip
    assert made.status_code == 200 and made.json()["username"] == "bob@example.com"
    same = http.put("/api/v1/tenants/acme/members/bob@EXAMPLE.com", headers=auth, json={"role": "billing"})
    assert same.status_code == 200 and same.json()["username"] == "bob@example.com"
    members = http.get("/api/v1/tenants/acme/members", headers=auth).json()
    assert sorted(m["username"] for m in members) == ["ann@example.com", "bob@example.com"]
    assert sign_in(http, "a fine long passphrase", username="Bob@Example.com") == 200
