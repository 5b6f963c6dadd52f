"""What a careless or hostile caller tries: another tenant's member, a burst of sign-ins,
numbers and dates at the edge of the calendar, huge bodies, made-up methods, a retried
request whose first try failed. Each is refused with a 4xx body, or counted, never a 500,
and never a way into another tenant."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx2
from tests.support.actors import ACTOR
from tests.web.conftest import Api

from meterbridge.services import accounts


def test_an_admin_cannot_take_over_or_take_in_another_tenants_member(api: Api) -> None:
    accounts.add_member(api.ctx, "beta", "bob@example.com", "admin", password="bob's own password", actor=ACTOR)
    reset = api.call(
        "PUT",
        "/members/bob@example.com",
        role="admin",
        json={"role": "viewer", "password": "attacker chosen pw"},
        status=409,
    )
    assert reset["field"] == "username" and "beta" not in str(reset)
    api.call("PUT", "/members/bob@example.com", role="admin", json={"role": "viewer"}, status=409)
    assert (
        api.http.post(
            "/api/v1/session", json={"username": "bob@example.com", "password": "attacker chosen pw"}
        ).status_code
        == 401
    )
    assert (
        api.http.post(
            "/api/v1/session", json={"username": "bob@example.com", "password": "bob's own password"}
        ).status_code
        == 200
    )
    mine = api.call(
        "PUT", "/members/carol@example.com", role="admin", json={"role": "billing", "password": "a fine long password"}
    )
    assert mine["role"] == "billing"
    again = api.call("PUT", "/members/carol@example.com", role="admin", json={"role": "viewer"})
    assert again["role"] == "viewer", "a member of this tenant alone is this tenant's to manage"
    [entry] = [e for e in api.call("GET", "/audit", role="admin") if e["action"] == "member.set"][:1]
    assert (entry["before"], entry["after"]["role"]) == ({"username": "carol@example.com", "role": "billing"}, "viewer")


def test_a_burst_of_sign_ins_is_counted_whole(api: Api) -> None:
    def attempt(_: int) -> int:
        # a generous timeout: 20 sign-ins hash at once, and what is checked is the count, not the speed
        with httpx2.Client(base_url=api.url, timeout=60) as client:
            return client.post("/api/v1/session", json={"username": "ann@example.com", "password": "wrong"}).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(attempt, range(40)))
    assert statuses.count(401) <= 5 and statuses.count(429) >= 35, statuses
    limiter = api.app.state.sign_ins
    for n in range(300):  # one address, many usernames: the address is stopped, the table stays small
        api.http.post("/api/v1/session", json={"username": f"guess{n}@example.com", "password": "x"})
    assert limiter.keys < 30


def test_numbers_dates_and_tokens_at_the_edges_are_4xx(api: Api) -> None:
    api.call("PUT", "/products/storage", json={"kind": "storage", "unit": "GB", "basis": "max"})
    sample = {"customer": "C1", "product": "storage", "measured_at": "2026-10-20T00:00:00Z", "unit": "GB"}
    huge = api.call("POST", "/usage", json={"samples": [{**sample, "quantity": "1e999999"}]}, status=422)
    assert huge["field"] == "samples[1].quantity" and huge["row"] == 1
    ancient = {**sample, "quantity": "1", "measured_at": "0001-01-01T00:00:00+14:00", "customer_name": "One"}
    assert api.call("POST", "/usage", json={"samples": [ancient]}, status=422)["field"] == "measured_at"
    assert api.call("PUT", "/prices/storage", json={"unit_price": "1e999999"}, status=422)["field"] == "unit_price"
    assert api.call("POST", "/previews", json={"period": "0001-01"}, status=422)["field"] == "period"
    config = {"customer": "C1", "options": {"products": ["storage"], "block_size": "1E+999999"}}
    api.call("PUT", "/customers/C1", json={"name": "One"})
    assert api.call("PUT", "/configurations/c", json=config, status=422)["kind"] == "invalid_input"
    assert (
        api.call("PATCH", "/settings", role="admin", json={"lease_seconds": 1e300}, status=422)["field"]
        == "lease_seconds"
    )
    assert api.call("PATCH", "/settings", role="admin", json={"nosuch": 1}, status=422)["field"] == "nosuch"
    for token in ("mb_\u00b2_x", "mb_99999999999999999999999_x", "mb_00000000001_x"):
        refused = api.http.get("/api/v1/tenants/acme/customers", headers={"Authorization": f"Bearer {token}".encode()})
        assert refused.status_code == 401, token


def test_a_body_over_its_routes_limit_is_refused_before_it_is_read(api: Api) -> None:
    too_big = api.http.post(
        "/api/v1/session", content=b"{" + b" " * (2 * 1024 * 1024) + b"}", headers={"Content-Type": "application/json"}
    )
    assert too_big.status_code == 413 and too_big.json()["field"] == "body"
    csv = "customer,product,measured_at,quantity,unit\n" + "C1,storage,2026-10-20T00:00:00Z,1,GB\n" * 40_000  # 1.6 MB
    api.call("PUT", "/products/storage", json={"kind": "storage", "unit": "GB", "basis": "max"})
    api.call("PUT", "/customers/C1", json={"name": "One"})
    stored = api.call("POST", "/usage/csv", content=csv, headers={"Content-Type": "text/csv"})
    assert stored["added"] == 1 and stored["unchanged"] == 0, "a large upload is fine (the same sample 40,000 times)"


def test_metrics_keep_their_labels_to_known_methods(api: Api) -> None:
    for n in range(5):
        api.http.request(f"X{n}", "/healthz")
    metrics = api.http.get("/metrics").text
    assert 'method="other",route="/healthz"' in metrics and 'method="X0"' not in metrics


def test_a_retry_after_a_refusal_runs_and_a_dead_reservation_is_taken_over(api: Api) -> None:
    headers = {**api.auth("billing"), "Idempotency-Key": "k-1"}
    first = api.http.post("/api/v1/tenants/acme/pushes", json={"period": "2026-13", "force": True}, headers=headers)
    assert first.status_code == 422, "refused before anything started: the key is free again"
    second = api.http.post("/api/v1/tenants/acme/pushes", json={"period": "2026-13", "force": True}, headers=headers)
    assert second.status_code == 422 and "idempotent-replayed" not in second.headers
    from meterbridge.services import idempotency
    from meterbridge.services.scope import open_tenant

    tenant = open_tenant(api.ctx, "acme").id
    print_ = idempotency.fingerprint("POST", "/api/v1/tenants/acme/previews", {})
    assert idempotency.begin(api.ctx, tenant, "k-2", print_) is None  # reserved by a request that then died
    api.clock.advance(minutes=16)
    assert idempotency.begin(api.ctx, tenant, "k-2", print_) is None, "taken over, not 409 for ever"
