"""The rate limit (token bucket per member) and seeded latency and faults."""

from __future__ import annotations

import time
from typing import Any

import httpx2
import pytest
from starlette.testclient import TestClient
from tests.conftest import BASE_PATH, CW_HEADERS
from tests.support.clocks import FakeMonotonic

from cwsim.faults import FaultRule, Faults
from cwsim.ratelimit import RateLimiter
from cwsim.sim import Simulator
from cwsim.state import Member


def test_token_bucket_allows_the_limit_then_says_how_long_to_wait() -> None:
    clock = FakeMonotonic()
    limiter = RateLimiter(per_minute=60, clock=clock)
    assert all(limiter.take("a") is None for _ in range(60))
    assert limiter.take("a") == 1  # one token a second
    assert limiter.take("b") is None  # buckets are per member
    clock.advance(0.5)
    assert limiter.take("a") == 1
    clock.advance(0.6)
    assert limiter.take("a") is None
    clock.advance(3600)
    assert sum(limiter.take("a") is None for _ in range(100)) == 60  # never more than a full bucket


def test_retry_after_grows_with_the_deficit() -> None:
    clock = FakeMonotonic()
    limiter = RateLimiter(per_minute=6, clock=clock)  # one token per 10 seconds
    for _ in range(6):
        limiter.take("a")
    assert limiter.take("a") == 10
    clock.advance(4)
    assert limiter.take("a") == 6


def test_429_carries_retry_after_and_documented_body(
    cw: TestClient, admin: TestClient, sim: Simulator, monotonic: FakeMonotonic
) -> None:
    admin.patch("/settings", json={"rate_limit_per_minute": 5})
    statuses = [cw.get("/company/companies").status_code for _ in range(7)]
    assert statuses == [200] * 5 + [429] * 2
    limited = cw.get("/company/companies")
    assert limited.headers["retry-after"] == "12"
    assert limited.json() == {
        "error": "ConnectWiseAPI",
        "message": "Too many requests. Please try again in 12 seconds.",
    }
    monotonic.advance(12)
    assert cw.get("/company/companies").status_code == 200
    sim.state.members.append(Member("otherpub", "otherpriv", "Other"))
    import base64

    other = {"Authorization": "Basic " + base64.b64encode(b"sim+otherpub:otherpriv").decode()}
    assert cw.get("/company/companies", headers=other).status_code == 200  # its own bucket


def test_rate_limit_zero_means_unlimited(cw: TestClient, admin: TestClient) -> None:
    admin.patch("/settings", json={"rate_limit_per_minute": 0})
    assert {cw.get("/company/companies").status_code for _ in range(50)} == {200}


def test_fault_rules_match_methods_and_paths() -> None:
    rule = FaultRule(methods=["post"], path="finance/agreements/*/additions")
    assert rule.matches("POST", "finance/agreements/12/additions")
    assert not rule.matches("GET", "finance/agreements/12/additions")
    assert not rule.matches("POST", "finance/agreements/12/additions/3")
    assert FaultRule().matches("DELETE", "anything/at/all")


def test_fault_draws_are_reproducible_for_a_seed() -> None:
    def run(seed: int) -> list[str]:
        faults = Faults(seed, [FaultRule(error_ratio=0.3, drop_ratio=0.1, hang_ratio=0.1, jitter_ms=50)])
        return [f"{d.action}:{d.latency_s:.6f}" for d in (faults.decide("GET", "x") for _ in range(200))]

    assert run(11) == run(11)
    assert run(11) != run(12)
    actions = [entry.split(":")[0] for entry in run(11)]
    assert 40 <= actions.count("error") <= 80  # about 30 % of 200
    assert actions.count("drop") > 5
    assert actions.count("hang") > 5


def test_fault_limit_caps_the_faults_of_a_rule() -> None:
    faults = Faults(1, [FaultRule(error_ratio=1.0, limit=3)])
    assert [faults.decide("GET", "x").action for _ in range(5)] == ["error"] * 3 + ["none"] * 2


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"colour": 1}, "unknown fault rule field"),
        ({"error_ratio": 2}, "between 0 and 1"),
        ({"error_status": 200}, "HTTP error status"),
    ],
)
def test_bad_fault_rules_are_refused(admin: TestClient, data: dict[str, Any], fragment: str) -> None:
    response = admin.put("/faults", json={"seed": 1, "rules": [data]})
    assert response.status_code == 400
    assert fragment in response.json()["message"]
    assert admin.get("/faults").json()["rules"] == []


def test_injected_500s_and_429s_over_http(cw: TestClient, admin: TestClient, sim: Simulator) -> None:
    admin.put("/faults", json={"seed": 3, "rules": [{"path": "company/companies", "error_ratio": 1.0, "limit": 2}]})
    statuses = [cw.get("/company/companies").status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    admin.put(
        "/faults", json={"seed": 3, "rules": [{"error_ratio": 1.0, "error_status": 429, "retry_after": 7, "limit": 1}]}
    )
    storm = cw.get("/company/companies")
    assert storm.status_code == 429
    assert storm.headers["retry-after"] == "7"
    log = admin.get("/requests").json()
    assert [entry["fault"] for entry in log[-4:]] == ["status 500", "status 500", None, "status 429"]


def test_latency_is_added(cw: TestClient, admin: TestClient) -> None:
    admin.put("/faults", json={"rules": [{"latency_ms": 150}]})
    started = time.perf_counter()
    cw.get("/company/companies")
    elapsed = time.perf_counter() - started
    assert elapsed >= 0.15
    logged = admin.get("/requests", params={"limit": 1}).json()[0]
    assert logged["duration_ms"] >= 150


def test_dropped_connections_and_hangs_over_real_http(live_url: str, admin: TestClient, sim: Simulator) -> None:
    url = f"{live_url}{BASE_PATH}/company/companies"
    admin.put("/faults", json={"seed": 1, "rules": [{"methods": ["GET"], "drop_ratio": 1.0, "limit": 1}]})
    with httpx2.Client(headers=CW_HEADERS, timeout=5) as client:
        with pytest.raises(httpx2.RemoteProtocolError):
            client.get(url)
        assert client.get(url).status_code == 200  # the limit of one drop is spent
        admin.put("/faults", json={"seed": 1, "rules": [{"hang_ratio": 1.0, "hang_seconds": 3, "limit": 1}]})
        with pytest.raises(httpx2.ReadTimeout):  # the client gave up; cwsim was still holding it
            client.get(url, timeout=0.5)
        assert admin.get("/faults").json()["rules"][0]["faulted"] == 1


def test_drop_after_processing_still_writes(live_url: str, admin: TestClient, basic: Simulator) -> None:
    """The nastiest case for a client: the write happened, the answer was lost."""
    admin.put(
        "/faults",
        json={
            "seed": 1,
            "rules": [{"methods": ["POST"], "drop_ratio": 1.0, "drop_after_processing": True, "limit": 1}],
        },
    )
    body = {"identifier": "Lost", "name": "Answer lost"}
    with httpx2.Client(headers=CW_HEADERS, timeout=5) as client, pytest.raises(httpx2.RemoteProtocolError):
        client.post(f"{live_url}{BASE_PATH}/company/companies", json=body)
    identifiers = [c["identifier"] for c in basic.state.collection("companies").scope(None)]
    assert "Lost" in identifiers
    assert admin.get("/requests", params={"limit": 1}).json()[0]["fault"] == "drop after processing"


def test_an_error_after_processing_still_writes(cw: TestClient, admin: TestClient, basic: Simulator) -> None:
    """The same through an in-process transport: stored, then answered with the error."""
    rule = {"methods": ["POST"], "error_ratio": 1.0, "error_status": 502, "error_after_processing": True, "limit": 1}
    admin.put("/faults", json={"seed": 1, "rules": [rule]})
    answered = cw.post("/company/companies", json={"identifier": "Lost", "name": "Answer lost"})
    assert answered.status_code == 502 and answered.json()["code"] == "InjectedFault"
    assert "Lost" in [c["identifier"] for c in basic.state.collection("companies").scope(None)]
    assert admin.get("/requests", params={"limit": 1}).json()[0]["fault"] == "status 502 after processing"
    again = cw.post("/company/companies", json={"identifier": "Kept", "name": "Answered"})
    assert again.status_code == 201, "the rule's limit is spent"
