"""vendorsim's admin API: dataset, samples, rename and delete, reset, faults, the request log."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient
from tests.support.server import serve

from vendorsim.app import create_app
from vendorsim.sim import Fault, VendorSim, generate

AUTH = {"Authorization": "Bearer vendor-token"}
AT = "2026-10-31T23:00:00Z"


@pytest.fixture
def vendor() -> VendorSim:
    return VendorSim(dataset=generate(3, days=2))  # 3 accounts x 2 metrics x 2 days


@pytest.fixture
def api(vendor: VendorSim) -> Iterator[TestClient]:
    with TestClient(create_app(vendor)) as client:
        yield client


def items(api: TestClient, **params: Any) -> list[dict[str, Any]]:
    response = api.get("/v1/usage", params={"page_size": 1000, **params}, headers=AUTH)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def statuses(api: TestClient, count: int) -> list[int]:
    return [api.get("/v1/usage", headers=AUTH).status_code for _ in range(count)]


def test_health_and_reset(api: TestClient, vendor: VendorSim) -> None:
    assert api.get("/_sim/health").json() == {"ok": True}
    api.post("/_sim/faults", json={"status": 500, "times": 5})
    api.get("/v1/usage", headers=AUTH)
    assert vendor.samples and vendor.faults and vendor.requests
    assert api.post("/_sim/reset").json() == {"ok": True}
    assert (vendor.accounts, vendor.samples, vendor.faults, vendor.requests) == ({}, [], [], [])
    assert api.get("/v1/usage", headers=AUTH).json()["total"] == 0  # no fault left


def test_put_dataset_generates_and_replaces(api: TestClient) -> None:
    body = {"accounts": 4, "month": "2026-09", "days": 3, "metrics": ["devices"], "seed": 2}
    assert api.put("/_sim/dataset", json=body).json() == {"accounts": 4, "samples": 12}
    got = items(api)
    assert {i["metric"] for i in got} == {"devices"}
    assert {i["measured_at"] for i in got} == {f"2026-09-{d}T23:00:00Z" for d in (28, 29, 30)}
    assert api.put("/_sim/dataset", json=body).json() == {"accounts": 4, "samples": 12}
    assert items(api) == got  # the same seed, the same data
    for bad in ({"accounts": 1, "days": 31, "month": "2026-09"}, {"accounts": 1, "metrics": ["x"]}, {"accounts": -1}):
        response = api.put("/_sim/dataset", json=bad)
        assert response.status_code == 400 and response.json()["error"] == "bad_request"
    assert api.put("/_sim/dataset", json={"accounts": 1, "colour": "red"}).json()["message"].startswith("colour")
    assert len(items(api)) == 12  # the bad ones changed nothing


def test_post_samples_validates_each_item(api: TestClient) -> None:
    good = {"account": {"id": "new", "name": "New Co"}, "metric": "storage", "value": 2.5, "measured_at": AT}
    bad_items = [
        {**good, "metric": "traffic"},
        {**good, "unit": "count"},
        {**good, "value": 1.005},
        {**good, "value": "lots"},
        {**good, "value": True},
        {**good, "metric": "licenses", "value": 2.5, "unit": "count"},
        {**good, "measured_at": "tomorrow"},
        {**good, "account": "new"},
        {**good, "account": {"id": "new"}},
    ]
    for bad in bad_items:
        response = api.post("/_sim/samples", json={"samples": [good, bad]})
        assert response.status_code == 400, bad
        assert response.json()["error"] == "bad_request"
    assert api.post("/_sim/samples", content=b"[1]").status_code == 400
    assert all(i["account"]["id"] != "new" for i in items(api))  # nothing of a bad batch was added
    assert api.post("/_sim/samples", json={"samples": [good]}).json() == {"added": 1, "samples": 13}
    assert [i["value"] for i in items(api) if i["account"]["id"] == "new"] == [2.5]


def test_rename_changes_the_name_in_all_the_accounts_items(api: TestClient) -> None:
    response = api.post("/_sim/accounts/acc-0002/rename", json={"name": "Renamed plc"})
    assert response.json() == {"id": "acc-0002", "name": "Renamed plc"}
    names = {(i["account"]["id"], i["account"]["name"]) for i in items(api)}
    assert names == {("acc-0001", "Account 0001 Ltd"), ("acc-0002", "Renamed plc"), ("acc-0003", "Account 0003 Ltd")}
    assert sum(i["account"]["name"] == "Renamed plc" for i in items(api)) == 4
    assert api.post("/_sim/accounts/acc-0009/rename", json={"name": "Nobody"}).status_code == 404
    assert api.post("/_sim/accounts/acc-0002/rename", json={"name": ""}).status_code == 400


def test_delete_removes_the_account_and_its_samples(api: TestClient) -> None:
    assert api.delete("/_sim/accounts/acc-0001").json() == {"deleted": "acc-0001", "samples": 4}
    got = items(api)
    assert len(got) == 8 and {i["account"]["id"] for i in got} == {"acc-0002", "acc-0003"}
    response = api.delete("/_sim/accounts/acc-0001")
    assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_a_status_fault_lets_after_through_then_faults_times_requests(api: TestClient) -> None:
    assert api.post("/_sim/faults", json={"status": 500, "times": 2, "after": 1}).json() == {"queued": 1}
    responses = [api.get("/v1/usage", headers=AUTH) for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 500, 500, 200]
    assert responses[1].json() == {"error": "injected", "message": "injected fault"}
    assert [r["status"] for r in api.get("/_sim/requests").json()] == [200, 500, 500, 200]  # faulted ones logged too


def test_faults_queue_in_order_per_path_and_can_be_cleared(api: TestClient) -> None:
    api.post("/_sim/faults", json={"status": 503})
    api.post("/_sim/faults", json={"status": 429, "path": "/v1/other"})  # another path: not in usage's queue
    api.post("/_sim/faults", json={"status": 500, "times": 2})
    assert statuses(api, 4) == [503, 500, 500, 200]
    assert api.get("/v1/other").status_code == 429
    assert api.get("/v1/other").status_code == 404
    api.post("/_sim/faults", json={"status": 502, "times": 3})
    assert statuses(api, 1) == [502]
    assert api.delete("/_sim/faults").json() == {"cleared": 1}
    assert statuses(api, 2) == [200, 200]


def test_a_hang_fault_sleeps_then_answers_normally(api: TestClient, vendor: VendorSim) -> None:
    api.post("/_sim/faults", json={"hang": 0.2, "times": 1, "after": 1})
    assert statuses(api, 1) == [200]  # let through
    started = time.monotonic()
    response = api.get("/v1/usage", headers=AUTH)
    assert time.monotonic() - started >= 0.2
    assert response.status_code == 200 and response.json()["total"] == 12
    assert vendor.faults == []  # used up


@pytest.mark.parametrize(
    "body",
    [
        {"status": 500, "hang": 1.0},
        {"times": 1},
        {"status": 200},
        {"hang": 0},
        {"status": 500, "times": 0},
        {"status": 500, "after": -1},
        {"status": 500, "path": "/_sim/health"},
        {"status": 500, "ratio": 0.5},
    ],
)
def test_a_bad_fault_is_refused(api: TestClient, vendor: VendorSim, body: dict[str, Any]) -> None:
    response = api.post("/_sim/faults", json=body)
    assert response.status_code == 400 and response.json()["error"] == "bad_request"
    assert vendor.faults == []


def test_the_request_log_holds_the_v1_requests_only(api: TestClient) -> None:
    api.get("/v1/usage", params={"page_size": 2, "since": "2026-10-31"}, headers=AUTH)
    api.get("/v1/usage")
    api.get("/v1/usage", params={"page_size": "0"}, headers=AUTH)
    api.get("/_sim/health")
    api.put("/_sim/token", json={"token": "t2"})
    assert api.get("/_sim/requests").json() == [
        {"method": "GET", "path": "/v1/usage", "query": {"page_size": "2", "since": "2026-10-31"}, "status": 200},
        {"method": "GET", "path": "/v1/usage", "query": {}, "status": 401},
        {"method": "GET", "path": "/v1/usage", "query": {"page_size": "0"}, "status": 400},
    ]


def test_a_client_that_gives_up_on_a_hang_times_out_and_the_next_request_is_served(vendor: VendorSim) -> None:
    vendor.faults.append(Fault(hang=3.0))
    with serve(create_app(vendor)) as base, httpx2.Client(headers=AUTH) as client:
        started = time.monotonic()
        with pytest.raises(httpx2.ReadTimeout):
            client.get(f"{base}/v1/usage", timeout=0.3)
        assert time.monotonic() - started < 2.5
        assert client.get(f"{base}/v1/usage", timeout=5).json()["total"] == 12
