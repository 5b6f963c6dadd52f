"""The ConnectWise client against cwsim over loopback HTTP: every operation, paging, errors, retries."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import httpx2
import pytest
from tests.connectwise.conftest import PRIVATE_KEY, SharedTime, add_companies, settings_for
from tests.cwsim.conftest import BASIC
from tests.support.server import free_port

from cwsim.faults import FaultRule
from cwsim.scenario import load_scenario
from cwsim.sim import Simulator
from cwsim.state import Member
from meterbridge.connectwise import (
    Addition,
    AuthError,
    ConfigurationError,
    ConnectionSettings,
    ConnectWiseClient,
    ConnectWiseError,
    F,
    NotFound,
    ProductRef,
    RateLimited,
    TemporaryError,
    ValidationFailed,
    changed_fields,
)

pytestmark = pytest.mark.anyio
MakeClient = Callable[..., ConnectWiseClient]


# -- connection ------------------------------------------------------------------------------


async def test_discovers_codebase_once_and_caches_it(client: ConnectWiseClient, sim: Simulator) -> None:
    assert await client.codebase() == "v2026_4/"
    await client.companies()
    await client.companies()
    paths = [entry["path"] for entry in sim.traffic.requests()]
    assert paths.count("login/companyinfo/sim") == 1
    assert paths.count("company/companies") == 2


async def test_unknown_company_id_is_a_configuration_error(make_client: MakeClient) -> None:
    async with make_client(company_id="nobody") as client:
        with pytest.raises(ConfigurationError, match="does not know the company id 'nobody'"):
            await client.companies()


async def test_codebase_is_rediscovered_once_after_a_404(make_client: MakeClient, sim: Simulator) -> None:
    cache: dict[tuple[str, str], str] = {}
    async with make_client() as first:
        first._codebases = cache
        await first.companies()
    # The hosted codebase moves: the old one stops routing.
    sim.state.settings.codebases = ("v4_6_release/", "v2027_1/")
    async with make_client() as second:
        second._codebases = cache
        assert await second.companies() == []
        assert cache[second._cache_key] == "v2027_1/"
    calls = [(e["path"], e["status"]) for e in sim.traffic.requests()]
    assert calls == [
        ("login/companyinfo/sim", 200),
        ("company/companies", 200),
        ("company/companies", 404),  # the old codebase: Cannot route
        ("login/companyinfo/sim", 200),
        ("company/companies", 200),
    ]


def test_cloud_sites_use_the_api_host() -> None:
    settings = settings_for("na.myconnectwise.net")
    assert settings.api_host("v2026_4/") == "api-na.myconnectwise.net"
    assert settings.api_host("v4_6_release/") == "na.myconnectwise.net"
    assert settings_for("api-eu.myconnectwise.net").api_host("v2026_4/") == "api-eu.myconnectwise.net"
    assert settings_for("cw.example.com").api_host("v2026_4/") == "cw.example.com"  # on premise
    assert settings_for("https://na.myconnectwise.net/").login_host == "na.myconnectwise.net"
    with pytest.raises(ValueError, match="without a path"):
        settings_for("na.myconnectwise.net/v4_6_release")
    with pytest.raises(ValueError, match="api_version"):
        settings_for("x", api_version="latest")


async def test_every_request_carries_connectwise_headers() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        if request.url.path.startswith("/login/companyinfo"):
            return httpx2.Response(200, json={"Codebase": "v2026_4/"})
        if request.method == "POST":
            return httpx2.Response(201, json={"id": 1})
        return httpx2.Response(200, json=[])

    settings = settings_for("cw.example.com", api_version="2025.8")
    async with ConnectWiseClient(settings, transport=httpx2.MockTransport(handler)) as client:
        await client.companies()
        await client.create("company/companies", {"identifier": "x", "name": "x"})
    login, listing, post = seen
    assert "authorization" not in login.headers  # discovery needs no credentials
    expected_auth = "Basic " + base64.b64encode(b"sim+simpub:simpriv").decode()
    for request in (listing, post):
        assert request.headers["authorization"] == expected_auth
        assert request.headers["clientid"] == settings.client_id
        assert request.headers["accept"] == "application/vnd.connectwise.com+json; version=2025.8"
    assert "content-type" not in listing.headers
    assert post.headers["content-type"] == "application/json"
    assert str(listing.url).startswith("https://cw.example.com/v2026_4/apis/3.0/company/companies?")


# -- reading ---------------------------------------------------------------------------------


async def test_pages_forward_only_across_2500_records(client: ConnectWiseClient, sim: Simulator) -> None:
    add_companies(sim, 2500)
    companies = await client.companies()
    assert [c.id for c in companies] == list(range(1, 2501))
    listing = [e for e in sim.traffic.requests() if e["path"] == "company/companies"]
    assert len(listing) == 3
    assert all("pageSize=1000" in e["query"] for e in listing)
    assert await client.count("company/companies") == 2500
    assert await client.count("company/companies", F("id").gt(2400)) == 100


async def test_falls_back_to_pages_where_forward_only_is_missing(client: ConnectWiseClient, sim: Simulator) -> None:
    add_companies(sim, 2500)
    sim.state.settings.forward_only_disabled = ("company/companies",)
    companies = await client.companies(F("name").starts_with("Company"))
    assert len(companies) == 2500
    assert len({c.id for c in companies}) == 2500
    queries = [e["query"] for e in sim.traffic.requests() if e["path"] == "company/companies"]
    assert len(queries) == 3
    assert "page=2" in queries[1]


async def test_hostile_condition_values_find_exactly_their_record(client: ConnectWiseClient, sim: Simulator) -> None:
    names = ['Say "hi"', "it's", "C:\\temp\\", "100% [real]_deal*", "ünïcødé ☃", "a and b or c"]
    load_scenario(
        sim,
        {
            "companies": [{"identifier": f"H{i}", "name": n} for i, n in enumerate(names)]
            + [{"identifier": "decoy", "name": "100 percent real deal"}]
        },
    )
    for name in names:
        found = await client.companies(F("name").eq(name))
        assert [c.name for c in found] == [name]
        contained = await client.companies(F("name").contains(name[1:-1] if len(name) > 2 else name))
        assert name in [c.name for c in contained]
    assert [c.name for c in await client.companies(F("name").contains("% [real]_"))] == ["100% [real]_deal*"]


async def test_typed_reads_keep_decimals_and_unknown_fields(client: ConnectWiseClient, sim: Simulator) -> None:
    load_scenario(sim, BASIC)
    agreements = await client.agreements(F("type/name").eq("Backup Services"))
    assert [a.id for a in agreements] == [1, 2, 4]
    first = agreements[0]
    assert first.bill_start_date == datetime(2026, 1, 1, tzinfo=UTC)
    assert first.company is not None
    assert first.company.identifier == "Acme"
    assert first.model_extra is not None
    assert "billTime" in first.model_extra  # not modelled, kept
    [addition] = await client.additions(1)
    assert addition.unit_price == Decimal("0.12")
    assert addition.ext_price == Decimal("12.0")
    assert isinstance(addition.quantity, Decimal)
    items = await client.catalog_items()
    assert items[0].price == Decimal("0.12")
    assert (await client.system_info())["isCloud"] is True


async def test_bulk_reads_chunk_company_ids_and_fetch_additions_concurrently(
    client: ConnectWiseClient, sim: Simulator
) -> None:
    from cwsim.generate import generate

    load_scenario(sim, generate(600, 4, datetime(2026, 11, 3, tzinfo=UTC).date()))
    company_ids = range(1, 601)
    agreements = await client.agreements_of_companies(company_ids, F("cancelledFlag").eq(False))
    assert {a.company.id for a in agreements if a.company} <= set(company_ids)
    expected = [a for a in sim.state.collection("agreements").scope(None) if not a["cancelledFlag"]]
    assert sorted(a.id for a in agreements if a.id) == sorted(a["id"] for a in expected)
    listing = [e for e in sim.traffic.requests() if e["path"] == "finance/agreements"]
    assert len(listing) >= 2  # 600 ids do not fit one URL
    assert all(len(e["query"]) + 60 < 2000 for e in listing)
    additions = await client.additions_of_agreements(a.id for a in agreements if a.id)
    assert len(additions) == len(agreements)
    assert sum(len(v) for v in additions.values()) == sum(
        1 for a in sim.state.collection("additions").scope(None) if a["agreementId"] in additions
    )


async def test_bulk_reads_with_fields_get_partial_records_and_count_them_in_the_url(
    client: ConnectWiseClient, sim: Simulator
) -> None:
    from cwsim.generate import generate

    load_scenario(sim, generate(600, 4, datetime(2026, 11, 3, tzinfo=UTC).date()))
    whole = await client.agreements_of_companies(range(1, 601))
    whole_calls = len([e for e in sim.traffic.requests() if e["path"] == "finance/agreements"])
    fields = ("id", "name", "company/id", "billStartDate")
    partial = await client.agreements_of_companies(range(1, 601), fields=fields)
    listing = [e for e in sim.traffic.requests() if e["path"] == "finance/agreements"][whole_calls:]
    assert sorted(a.id for a in partial if a.id) == sorted(a.id for a in whole if a.id)
    for agreement in partial:
        assert set(agreement.model_dump(by_alias=True, exclude_none=True)) <= {"id", "name", "company", "billStartDate"}
        assert agreement.company is not None and agreement.company.identifier is None  # company/id only
    assert all("fields=" in e["query"] and len(e["query"]) + 60 < 2000 for e in listing)  # fields counted
    assert len(listing) >= whole_calls


# -- writing ---------------------------------------------------------------------------------


async def test_create_patch_put_cancel_delete(client: ConnectWiseClient, sim: Simulator) -> None:
    load_scenario(sim, BASIC)
    created = await client.create_addition(
        1,
        Addition(
            product=ProductRef(identifier="BACKUP-GB"),
            quantity=Decimal("1536.25"),
            unit_price=Decimal("0.1"),
            bill_customer="Billable",
            effective_date=datetime(2026, 10, 1, tzinfo=UTC),
        ),
    )
    assert created.id is not None
    assert created.quantity == Decimal("1536.25")
    assert created.ext_price == Decimal("153.63")
    stored = sim.state.collection("additions").by_id[created.id]
    assert stored["quantity"] == 1536.25

    updated = created.model_copy(update={"quantity": Decimal("2000"), "invoice_description": "October"})
    changes = changed_fields(created, updated)
    assert changes == {"invoiceDescription": "October", "quantity": Decimal("2000")}
    patched = await client.update_addition(1, created.id, changes)
    assert patched.quantity == Decimal("2000")
    assert patched.invoice_description == "October"

    replaced = await client.replace(
        f"finance/agreements/1/additions/{created.id}", {"invoiceDescription": None, "unitCost": Decimal("0.04")}
    )
    assert "invoiceDescription" not in replaced
    assert replaced["unitCost"] == Decimal("0.04")
    assert replaced["quantity"] == Decimal("2000")  # kept by the merge

    cancelled = await client.cancel_addition(1, created.id, datetime(2026, 10, 31, tzinfo=UTC))
    assert cancelled.cancelled_date == datetime(2026, 10, 31, tzinfo=UTC)

    await client.delete(f"finance/agreements/1/additions/{created.id}")
    assert created.id not in sim.state.collection("additions").by_id


async def test_errors_are_typed_and_name_method_and_path(make_client: MakeClient, sim: Simulator) -> None:
    load_scenario(sim, BASIC)
    async with make_client() as client:
        with pytest.raises(ValidationFailed) as refused:
            await client.create_addition(
                2,
                {
                    "product": {"identifier": "BACKUP-GB"},
                    "billCustomer": "Billable",
                    "effectiveDate": "2026-10-01T00:00:00Z",
                },
            )
        error = refused.value
        assert error.status == 400
        assert error.code == "InvalidObject"
        assert error.errors[0].field == "effectiveDate"
        assert "effectiveDate cannot be less than the agreement billing start date" in str(error)
        assert str(error).startswith("POST finance/agreements/2/additions -> 400")
        with pytest.raises(NotFound, match="GET finance/agreements/99/additions -> 404"):
            await client.additions(99)
        retries_before = client.stats.retries
    assert client.stats.retries == retries_before == 0  # 4xx are never retried
    async with make_client(private_key="wrong") as bad:
        with pytest.raises(AuthError) as denied:
            await bad.companies()
        assert denied.value.status == 401
        assert bad.stats.retries == 0


# -- retries ---------------------------------------------------------------------------------


async def test_429_storm_ends_with_correct_results(
    client: ConnectWiseClient, sim: Simulator, shared_time: SharedTime
) -> None:
    add_companies(sim, 50)
    sim.state.settings.rate_limit_per_minute = 10
    results = []
    for company_id in range(1, 31):
        results.append((await client.get(f"company/companies/{company_id}"))["identifier"])
    assert results == [f"C{i:05d}" for i in range(1, 31)]
    throttled = [e for e in sim.traffic.requests() if e["status"] == 429]
    assert 1 <= len(throttled) <= 10  # 10 free tokens, then the client learns the rate (one a 6 s) and keeps to it
    assert client.stats.rate_limited == len(throttled)
    assert 120 <= sum(shared_time.slept) <= 120 * 1.15  # 20 calls past the burst, one a 6 s: waited, none failed


async def test_ten_percent_500s_are_retried_to_correct_results(client: ConnectWiseClient, sim: Simulator) -> None:
    load_scenario(
        sim,
        {**BASIC, "companies": BASIC["companies"] + [{"identifier": f"X{i}", "name": f"X{i}"} for i in range(2497)]},
    )
    sim.faults.configure(21, [FaultRule(methods=["GET"], error_ratio=0.1)])
    for _ in range(12):
        assert len(await client.companies()) == 2500
    for _ in range(100):
        assert [a.quantity for a in await client.additions(1)] == [Decimal(100)]
    faulted = sum(1 for e in sim.traffic.requests() if e["fault"] == "status 500")
    assert faulted > 10
    assert client.stats.retries == faulted
    assert client.stats.rate_limited == 0


async def test_hangs_time_out_and_are_retried(make_client: MakeClient, sim: Simulator) -> None:
    load_scenario(sim, BASIC)
    async with make_client(timeout_seconds=0.3) as client:
        sim.faults.configure(
            2, [FaultRule(methods=["GET"], path="finance/agreements", hang_ratio=1.0, hang_seconds=2, limit=2)]
        )
        agreements = await client.agreements()
        assert len(agreements) == 4
        assert client.stats.retries == 2


async def test_post_is_not_retried_once_it_may_have_arrived(make_client: MakeClient, sim: Simulator) -> None:
    load_scenario(sim, BASIC)
    body = {"product": {"identifier": "BACKUP-GB"}, "billCustomer": "Billable", "quantity": 5}
    async with make_client() as client:
        await client.codebase()
        sim.faults.configure(1, [FaultRule(methods=["POST"], drop_ratio=1.0, drop_after_processing=True, limit=1)])
        with pytest.raises(TemporaryError) as dropped:
            await client.create_addition(1, body)
        assert dropped.value.maybe_applied is True
        assert len(sim.state.collection("additions").by_id) == 2  # it did arrive: not retried, not doubled
        sim.faults.configure(1, [FaultRule(methods=["POST"], error_ratio=1.0, limit=1)])
        with pytest.raises(TemporaryError) as failed:
            await client.create_addition(1, body)
        assert failed.value.maybe_applied is True
        assert failed.value.status == 500
        posts = [e for e in sim.traffic.requests() if e["method"] == "POST"]
        assert len(posts) == 2
        assert client.stats.retries == 0


async def test_post_is_retried_when_it_cannot_have_arrived(shared_time: SharedTime) -> None:
    closed = free_port()
    settings = settings_for(f"http://127.0.0.1:{closed}", codebase="v4_6_release/", max_attempts=3)
    async with ConnectWiseClient(settings, sleep=shared_time.sleep, jitter=lambda low, high: low) as client:
        with pytest.raises(TemporaryError) as refused:
            await client.create("company/companies", {"identifier": "x", "name": "x"})
    assert refused.value.maybe_applied is False
    assert "ConnectError, 3 attempts" in str(refused.value)
    assert client.stats.retries == 2
    assert shared_time.slept == [0.125, 0.25]  # exponential backoff (half fixed, half jitter)


async def test_backoff_is_capped_and_attempts_are_bounded(
    make_client: MakeClient, sim: Simulator, shared_time: SharedTime
) -> None:
    async with make_client(max_attempts=5, backoff_base_seconds=1, backoff_cap_seconds=3) as client:
        await client.codebase()
        sim.faults.configure(1, [FaultRule(methods=["GET"], error_ratio=1.0)])
        with pytest.raises(TemporaryError) as failed:
            await client.companies()
        assert failed.value.status == 500
        assert failed.value.maybe_applied is False
    assert shared_time.slept == [1.0, 2.0, 3.0, 3.0]


async def test_rate_limited_error_after_endless_429s(make_client: MakeClient, sim: Simulator) -> None:
    async with make_client(max_attempts=2, rate_limit_patience_seconds=16) as client:
        await client.codebase()
        sim.faults.configure(1, [FaultRule(error_ratio=1.0, error_status=429, retry_after=2)])
        with pytest.raises(RateLimited) as limited:
            await client.companies()
        assert limited.value.retry_after == 2
        assert client.stats.rate_limited == 8


async def test_client_bucket_keeps_under_its_own_limit(
    make_client: MakeClient, sim: Simulator, shared_time: SharedTime
) -> None:
    add_companies(sim, 5)
    async with make_client(rate_limit_per_minute=60) as client:
        for _ in range(70):
            await client.get("company/companies/1")
    assert not any(e["status"] == 429 for e in sim.traffic.requests())
    assert sum(shared_time.slept) == pytest.approx(11.0, abs=0.01)  # 71 calls, 60 free, then one a second
    stats = client.stats.as_dict()
    assert stats["GET company/companies/{id}"]["calls"] == 70


# -- secrets -----------------------------------------------------------------------------------


async def test_secrets_never_reach_logs_reprs_or_errors(
    make_client: MakeClient, sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    sim.state.members.append(Member("secretpub", PRIVATE_KEY, "Secret"))
    load_scenario(sim, {**BASIC, "members": [{"publicKey": "secretpub", "privateKey": PRIVATE_KEY}]})
    caplog.set_level(logging.DEBUG)
    errors: list[str] = []
    async with make_client(public_key="secretpub", private_key=PRIVATE_KEY) as client:
        sim.faults.configure(3, [FaultRule(methods=["GET"], error_ratio=0.5)])
        await client.agreements()
        try:
            await client.create_addition(
                2, {"product": {"id": 1}, "billCustomer": "Billable", "effectiveDate": "2020-01-01T00:00:00Z"}
            )
        except ValidationFailed as error:
            errors.append(str(error))
            errors.append(repr(error))
        texts = [repr(client), str(client.settings), repr(client.settings), client.settings.model_dump_json()]
    async with make_client(private_key=PRIVATE_KEY + "-wrong") as bad:
        try:
            await bad.companies()
        except AuthError as error:
            errors.append(str(error))
    encoded = base64.b64encode(f"sim+secretpub:{PRIVATE_KEY}".encode()).decode()
    everything = "\n".join([caplog.text, *errors, *texts])
    assert "retry" in caplog.text  # the retries were logged...
    assert PRIVATE_KEY not in everything  # ...without the key, plain or encoded
    assert encoded not in everything
    assert errors


def test_settings_hide_the_private_key() -> None:
    settings = ConnectionSettings(
        site="x.example.com", company_id="c", public_key="p", private_key=PRIVATE_KEY, client_id="id"
    )
    assert PRIVATE_KEY not in repr(settings)
    assert PRIVATE_KEY not in str(settings)
    assert PRIVATE_KEY not in settings.model_dump_json()
    assert settings.private_key.get_secret_value() == PRIVATE_KEY


async def test_a_site_that_echoes_the_request_puts_no_key_in_an_error() -> None:
    """A ConnectWise site (or whatever the address is) answering with what it was sent: the error
    meterbridge keeps and shows carries neither the private key nor the Authorization value."""
    encoded = base64.b64encode(f"sim+secretpub:{PRIVATE_KEY}".encode()).decode()

    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.path.startswith("/login/companyinfo"):
            return httpx2.Response(200, json={"Codebase": "v2026_4/"})
        sent = request.headers["authorization"]
        echoed = {"code": "Echo", "message": f"you sent {sent} ({PRIVATE_KEY})", "errors": [{"message": sent}]}
        return httpx2.Response(400 if request.method == "POST" else 401, json=echoed)

    settings = ConnectionSettings(
        site="cw.example.com", company_id="sim", public_key="secretpub", private_key=PRIVATE_KEY, client_id="id"
    )

    said = []
    async with ConnectWiseClient(settings, transport=httpx2.MockTransport(handler)) as client:
        for call in (client.companies(), client.create("company/companies", {"identifier": "x"})):
            try:
                await call
            except ConnectWiseError as error:
                said.append(f"{error} {[str(e) for e in getattr(error, 'errors', ())]}")
    assert len(said) == 2 and all("[redacted]" in text for text in said), said
    assert not any(PRIVATE_KEY in text or encoded in text for text in said), said
