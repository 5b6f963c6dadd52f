"""The outbound guard over every surface that sends a request out: ConnectWise, a pull source, a
webhook. Every written form of a loopback, private, link-local (metadata), ULA or CGNAT address is
refused, when an address is saved and again when a request connects (DNS can change after it was
saved), unless the operator allow-lists it; the refusal names the setting."""

from __future__ import annotations

import asyncio
import socket

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tests.services.conftest import World
from tests.services.test_usage_pulls import MAPPING, PRODUCTS, add_source, no_wait, vendor  # noqa: F401
from tests.support.actors import ACTOR
from tests.support.loopback import LOOPBACK
from tests.support.reference_month import PERIOD
from tests.support.server import serve

from meterbridge.outbound import AddressRefused, GuardedAsyncTransport, GuardedTransport, OutboundGuard, header_refusal
from meterbridge.services import notify, pulls, push
from meterbridge.services.context import Context
from meterbridge.services.errors import InvalidInput, ServiceError
from vendorsim.sim import VendorSim

STRICT = OutboundGuard()  # the default: nothing but public addresses
#: every form the adversarial run got accepted that resolves without the internet, and whether
#: it is loopback (what the development allow-list lets through)
LITERAL_FORMS = {
    "localhost": True, "127.0.0.1": True, "127.1": True, "2130706433": True, "0x7f.0.0.1": True, "[::1]": True,
    "[::ffff:127.0.0.1]": True, "169.254.169.254": False, "[fd00:ec2::254]": False, "100.100.100.200": False,
    "100.64.0.1": False, "10.0.0.1": False, "172.16.0.1": False, "192.168.1.1": False, "0.0.0.0": False,  # noqa: S104
    "[::]": False, "[fe80::1]": False,
}  # fmt: skip
#: names that resolve, through DNS, to such addresses (as nip.io or a cloud's metadata name does)
NAMED = {"169.254.169.254.nip.io": ["169.254.169.254"], "metadata.google.internal": ["169.254.169.254"],
         "rebound.example": ["93.184.216.34", "10.0.0.5"]}  # fmt: skip


@pytest.mark.parametrize("host", sorted(LITERAL_FORMS))
def test_every_written_form_of_a_non_public_address_is_refused_when_it_connects(host: str) -> None:
    url = httpx2.URL(f"http://{host}:8080/v1/usage")
    with pytest.raises(AddressRefused, match="MBRIDGE_OUTBOUND_ALLOW") as refused:
        STRICT.check_url(url)
    assert "meterbridge calls public addresses only" in str(refused.value)
    if LITERAL_FORMS[host]:
        LOOPBACK.check_url(url)  # the development allow-list lets loopback through, in every form
    else:
        with pytest.raises(AddressRefused):
            LOOPBACK.check_url(url)


@pytest.mark.parametrize("host", sorted(NAMED))
def test_a_name_is_judged_by_every_address_it_resolves_to(host: str) -> None:
    with pytest.raises(AddressRefused, match=r"non-public|link-local|private"):
        STRICT.check(host, NAMED[host])
    STRICT.check("example.com", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])  # public: allowed


def test_the_allow_list_is_parsed_and_a_bad_item_named() -> None:
    guard = OutboundGuard.parse("127.0.0.0/8, ::1")
    guard.check("localhost", ["127.0.0.1", "::1"])
    with pytest.raises(AddressRefused):
        guard.check("internal", ["10.1.2.3"])
    with pytest.raises(ValueError, match="MBRIDGE_OUTBOUND_ALLOW: 'lots' is not an address or network"):
        OutboundGuard.parse("127.0.0.1,lots")


def test_a_source_sends_no_hop_by_hop_or_metadata_header() -> None:
    for name in ("Metadata-Flavor", "X-Google-Metadata-Request", "Host", "Transfer-Encoding", "x-forwarded-for"):
        assert header_refusal(name) is not None, name
    for name in ("Authorization", "X-API-Key", "X-Auth-Token"):
        assert header_refusal(name) is None, name


def test_a_pull_source_is_refused_when_saved_and_again_when_it_connects(
    ctx: Context,
    vendor: tuple[VendorSim, str],  # noqa: F811
) -> None:
    sim, url = vendor
    ctx.outbound = STRICT
    with pytest.raises(InvalidInput, match="loopback address") as refused:
        add_source(ctx, url)
    assert refused.value.field == "url" and "MBRIDGE_OUTBOUND_ALLOW" in str(refused.value)
    with pytest.raises(InvalidInput, match="Metadata-Flavor is a header") as header:
        pulls.save_source(
            ctx, "default", "meta", url="https://vendor.example/v1/usage", mapping=dict(MAPPING),
            auth_header="Metadata-Flavor", auth_value="Google", actor=ACTOR, options={"values": PRODUCTS},
        )  # fmt: skip
    assert header.value.field == "auth_header"
    ctx.outbound = LOOPBACK  # saved while allowed (development) ...
    add_source(ctx, url)
    ctx.outbound = STRICT  # ... then the operator takes it off the list: the pull connects nowhere
    view = pulls.pull(ctx, "default", "vendor", actor=ACTOR, sleep=no_wait)
    assert view.status == "failed" and "MBRIDGE_OUTBOUND_ALLOW" in (view.message or ""), view
    assert sim.requests == [], "nothing reached the source"


def test_a_webhook_is_refused_when_saved_and_never_delivered_to_a_refused_address(small_month: World) -> None:
    received: list[bytes] = []

    async def hook(request: Request) -> JSONResponse:
        received.append(await request.body())
        return JSONResponse({})

    ctx = small_month.ctx
    with serve(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as url:
        ctx.outbound = STRICT
        with pytest.raises(InvalidInput, match="loopback address") as refused:
            notify.add_webhook(ctx, "default", "books", f"{url}/hook", actor=ACTOR)
        assert refused.value.field == "url"
        ctx.outbound = LOOPBACK
        notify.add_webhook(ctx, "default", "books", f"{url}/hook", actor=ACTOR)
        asyncio.run(push.preview(ctx, "default", PERIOD, actor=ACTOR))
        asyncio.run(push.push(ctx, "default", PERIOD, force=True, actor=ACTOR))
        ctx.outbound = STRICT
        report = asyncio.run(notify.deliver_due(ctx))
        assert report.sent == 0
        waiting = [n for n in notify.list_notifications(ctx, "default") if n.channel == "webhook"]
        assert waiting and all("MBRIDGE_OUTBOUND_ALLOW" in (n.last_error or "") for n in waiting), waiting
    assert received == [], "nothing was delivered"


def test_connectwise_on_a_refused_address_is_never_called(small_month: World) -> None:
    ctx = small_month.ctx
    ctx.outbound = STRICT
    before = len(small_month.sim.state.collections["additions"].by_id)
    with pytest.raises(ServiceError, match="MBRIDGE_OUTBOUND_ALLOW"):
        asyncio.run(push.push(ctx, "default", PERIOD, force=True, actor=ACTOR))
    assert len(small_month.sim.state.collections["additions"].by_id) == before
    ctx.outbound = LOOPBACK
    assert asyncio.run(push.preview(ctx, "default", PERIOD, actor=ACTOR)).totals.writes.planned > 0


def test_localhost_resolves_here() -> None:
    """(The loopback forms above are judged by what they resolve to on this machine.)"""
    assert {a[4][0] for a in socket.getaddrinfo("localhost", 80)} & {"127.0.0.1", "::1"}


def test_the_connection_goes_to_the_address_the_guard_checked_not_to_a_name_resolved_again() -> None:
    """DNS rebinding: the guard resolves once, checks, and the request is pinned to that address.
    The name here resolves nowhere but through the guard's resolver (``.invalid`` never does), so
    the request reaching the loopback server proves nothing resolved the name again; the server
    sees the name in Host, and the answer's request still names it (messages and links)."""
    seen: list[str] = []

    async def where(request: Request) -> JSONResponse:
        seen.append(request.headers["host"])
        return JSONResponse({"ok": True})

    resolved: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        resolved.append(host)
        return ["127.0.0.1"]

    guard = OutboundGuard(LOOPBACK.allowed, resolver=resolver)
    with serve(Starlette(routes=[Route("/v1/usage", where)])) as url:
        port = httpx2.URL(url).port
        named = f"http://rebound.invalid:{port}/v1/usage"
        transport = GuardedTransport(httpx2.HTTPTransport(), guard)
        with httpx2.Client(transport=transport) as client:
            answer = client.get(named)
        assert answer.json() == {"ok": True} and seen == [f"rebound.invalid:{port}"]
        assert str(answer.request.url) == named
        asynchronous = GuardedAsyncTransport(httpx2.AsyncHTTPTransport(), guard)

        async def fetch() -> httpx2.Response:
            async with httpx2.AsyncClient(transport=asynchronous) as client:
                return await client.get(named)

        assert asyncio.run(fetch()).json() == {"ok": True}
    assert resolved == ["rebound.invalid", "rebound.invalid"], "resolved once a request, by the guard"
    with pytest.raises(AddressRefused):  # and what the guard resolves to is judged as ever
        OutboundGuard(resolver=lambda host, port: ["10.0.0.5"]).check_url(httpx2.URL("http://rebound.invalid/"))
    strict = httpx2.Client(transport=GuardedTransport(httpx2.HTTPTransport(), STRICT))
    with strict as client, pytest.raises(httpx2.ConnectError, match="does not resolve"):
        client.get(named)  # the system's resolver: the name is nowhere
