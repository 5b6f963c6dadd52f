"""vendorsim's GET /v1/usage: auth, the item format, the stable order, paging three ways, since."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient
from tests.support.server import serve

from vendorsim.app import create_app
from vendorsim.sim import Sample, VendorSim, generate

AUTH = {"Authorization": "Bearer vendor-token"}


@pytest.fixture
def vendor() -> VendorSim:
    return VendorSim(dataset=generate(7, days=3, metrics=("storage", "licenses")))  # 42 samples


@pytest.fixture
def api(vendor: VendorSim) -> Iterator[TestClient]:
    with TestClient(create_app(vendor)) as client:
        yield client


def usage(api: TestClient, **params: Any) -> dict[str, Any]:
    response = api.get("/v1/usage", params=params, headers=AUTH)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = json.loads(response.text, parse_float=Decimal)
    return body


def an_item(ident: str, name: str, metric: str, value: Decimal | int, unit: str, at: str) -> dict[str, Any]:
    return {"account": {"id": ident, "name": name}, "metric": metric, "value": value, "unit": unit, "measured_at": at}


def key(item: dict[str, Any]) -> tuple[str, str, str]:
    return (item["measured_at"], item["account"]["id"], item["metric"])


def everything(api: TestClient, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = usage(api, page_size=1000, **params)["data"]
    return items


def test_usage_needs_the_bearer_token(api: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "vendor-token"}):
        response = api.get("/v1/usage", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"
        assert response.json()["message"]
    assert api.get("/v1/usage", headers=AUTH).status_code == 200
    assert api.put("/_sim/token", json={"token": "fresh"}).json() == {"ok": True}
    assert api.get("/v1/usage", headers=AUTH).status_code == 401
    assert api.get("/v1/usage", headers={"Authorization": "Bearer fresh"}).status_code == 200


def test_items_have_the_contract_shape_and_storage_has_exactly_two_decimals(api: TestClient) -> None:
    api.post("/_sim/reset")
    samples = [
        {
            "account": {"id": "x-1", "name": "X"},
            "metric": "storage",
            "value": "100",
            "measured_at": "2026-10-31T23:00:00Z",
        },
        {
            "account": {"id": "x-1", "name": "X"},
            "metric": "licenses",
            "value": 7,
            "measured_at": "2026-10-31T23:00:00Z",
        },
        {
            "account": {"id": "x-2", "name": "Y"},
            "metric": "storage",
            "value": 0.1,
            "measured_at": "2026-10-31T23:00:00Z",
        },
        {
            "account": {"id": "x-2", "name": "Y"},
            "metric": "devices",
            "value": "3",
            "measured_at": "2026-11-01T00:30:00+01:00",
        },
    ]
    assert api.post("/_sim/samples", json={"samples": samples}).json() == {"added": 4, "samples": 4}
    response = api.get("/v1/usage", headers=AUTH)
    assert '"value":100.00' in response.text and '"value":0.10' in response.text  # numbers, never strings
    body = json.loads(response.text, parse_float=Decimal)
    at, later = "2026-10-31T23:00:00Z", "2026-10-31T23:30:00Z"  # +01:00 is rendered in UTC and sorts last
    assert body["data"] == [
        an_item("x-1", "X", "licenses", 7, "count", at),
        an_item("x-1", "X", "storage", Decimal("100"), "GB", at),
        an_item("x-2", "Y", "storage", Decimal("0.1"), "GB", at),
        an_item("x-2", "Y", "devices", 3, "count", later),
    ]
    assert [type(item["value"]) for item in body["data"]] == [int, Decimal, Decimal, int]
    assert {k: body[k] for k in ("page", "page_size", "total", "next_cursor", "links")} == {
        "page": 1,
        "page_size": 100,
        "total": 4,
        "next_cursor": None,
        "links": {"next": None},
    }


def test_samples_set_from_python_render_with_two_decimals_too(api: TestClient, vendor: VendorSim) -> None:
    vendor.reset()
    vendor.add([Sample("py", "storage", Decimal("5"), datetime(2026, 10, 31, 23, tzinfo=UTC))], {"py": "Py Ltd"})
    assert '"value":5.00,"unit":"GB","measured_at":"2026-10-31T23:00:00Z"' in api.get("/v1/usage", headers=AUTH).text
    with pytest.raises(ValueError, match="no name"):
        vendor.add([Sample("nameless", "licenses", 1, datetime(2026, 10, 31, tzinfo=UTC))], {})


def test_generate_is_deterministic_and_covers_the_last_days_of_the_month() -> None:
    data = generate(3, month="2026-02", days=2, metrics=("storage", "licenses", "devices"), seed=5)
    assert data == generate(3, month="2026-02", days=2, metrics=("storage", "licenses", "devices"), seed=5)
    assert data != generate(3, month="2026-02", days=2, metrics=("storage", "licenses", "devices"), seed=6)
    assert data.accounts == {
        "acc-0001": "Account 0001 Ltd",
        "acc-0002": "Account 0002 Ltd",
        "acc-0003": "Account 0003 Ltd",
    }
    assert len(data.samples) == 3 * 3 * 2
    assert {s.measured_at for s in data.samples} == {datetime(2026, 2, d, 23, tzinfo=UTC) for d in (27, 28)}
    for sample in data.samples:
        if sample.metric == "storage":
            assert isinstance(sample.value, Decimal) and sample.value.as_tuple().exponent == -2
        else:
            assert type(sample.value) is int and sample.value >= 0
    storage = [
        s.value for s in sorted(data.samples, key=lambda s: (s.account_id, s.measured_at)) if s.metric == "storage"
    ]
    assert all(a <= b for a, b in zip(storage[::2], storage[1::2], strict=True))  # it grows from day to day
    for bad in ({"month": "2026-13"}, {"month": "Oct"}, {"days": 0}, {"days": 32}, {"metrics": ("traffic",)}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            generate(1, **bad)


def test_samples_come_in_the_stable_order(api: TestClient, vendor: VendorSim) -> None:
    items = everything(api)
    assert len(items) == len(vendor.samples) == 42
    assert [key(i) for i in items] == sorted(key(i) for i in items)
    late = {
        "account": {"id": "acc-0000", "name": "Zero"},
        "metric": "storage",
        "value": 1,
        "measured_at": "2026-10-29T23:00:00Z",
    }
    api.post("/_sim/samples", json={"samples": [late]})
    assert key(everything(api)[0]) == ("2026-10-29T23:00:00Z", "acc-0000", "storage")  # appended, yet first


def test_paging_by_page_returns_every_sample_exactly_once(api: TestClient) -> None:
    pages = [usage(api, page=n, page_size=5) for n in range(1, 11)]
    assert [len(p["data"]) for p in pages] == [5] * 8 + [2, 0]
    assert all(p["total"] == 42 and p["page_size"] == 5 for p in pages)
    assert [p["page"] for p in pages] == list(range(1, 11))
    assert [p["next_cursor"] is None for p in pages] == [False] * 8 + [True, True]
    walked = [item for p in pages for item in p["data"]]
    assert walked == everything(api)
    assert len(usage(api)["data"]) == 42  # the default page size is 100


def test_paging_by_cursor_returns_every_sample_exactly_once_and_ignores_page(api: TestClient) -> None:
    walked: list[dict[str, Any]] = []
    body = usage(api, page_size=10)
    walked.extend(body["data"])
    while body["next_cursor"] is not None:
        body = usage(api, page_size=10, cursor=body["next_cursor"], page=1)  # page is ignored
        walked.extend(body["data"])
    assert walked == everything(api)
    assert body["page"] == 5 and len(body["data"]) == 2


def test_walking_links_next_returns_every_sample_exactly_once_and_keeps_since(api: TestClient) -> None:
    body = usage(api, page_size=4, since="2026-10-30")
    walked = list(body["data"])
    links = []
    while body["links"]["next"] is not None:
        links.append(body["links"]["next"])
        response = api.get(body["links"]["next"], headers=AUTH)
        body = json.loads(response.text, parse_float=Decimal)
        walked.extend(body["data"])
    assert walked == everything(api, since="2026-10-30")
    assert len(walked) == 28  # two of the three days
    assert links[0] == "http://testserver/v1/usage?since=2026-10-30&page_size=4&page=2"
    assert links[-1].endswith("page=7") and len(links) == 6


@pytest.mark.parametrize("size", ["0", "1001", "-1", "ten", "1.5", ""])
def test_page_size_outside_1_to_1000_is_a_bad_request(api: TestClient, size: str) -> None:
    response = api.get("/v1/usage", params={"page_size": size}, headers=AUTH)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert response.json()["message"].startswith("page_size: ")


def test_page_size_limits_and_page_validation(api: TestClient) -> None:
    assert len(usage(api, page_size=1)["data"]) == 1
    assert usage(api, page_size=1000)["page_size"] == 1000
    for page in ("0", "x"):
        response = api.get("/v1/usage", params={"page": page}, headers=AUTH)
        assert response.status_code == 400 and response.json()["message"].startswith("page: ")


def test_a_malformed_cursor_is_a_bad_request(api: TestClient) -> None:
    forged = [
        "not a cursor!",
        base64.urlsafe_b64encode(b"hello").decode(),
        base64.urlsafe_b64encode(b"offset:-1").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        "",
    ]
    for cursor in forged:
        response = api.get("/v1/usage", params={"cursor": cursor}, headers=AUTH)
        assert response.status_code == 400, cursor
        assert response.json()["error"] == "bad_request" and response.json()["message"].startswith("cursor: ")


def test_since_keeps_samples_measured_at_or_after_it(api: TestClient) -> None:
    assert {i["measured_at"] for i in everything(api, since="2026-10-31")} == {"2026-10-31T23:00:00Z"}
    assert len(everything(api, since="2026-10-30T23:00:00Z")) == 28  # at it counts
    assert len(everything(api, since="2026-10-30T23:00:01+00:00")) == 14
    assert len(everything(api, since="2026-10-31T01:00:00+02:00")) == 28  # 2026-10-30T23:00Z
    assert len(everything(api, since="2026-10-31T02:00:00+02:00")) == 14  # 2026-10-31T00:00Z
    assert len(everything(api, since="2026-10-30T23:00:01")) == 14  # no time zone: UTC
    assert len(everything(api, since="2026-10-29")) == 42
    assert everything(api, since="2026-11-01") == []
    assert usage(api, since="2026-10-31")["total"] == 14
    response = api.get("/v1/usage", params={"since": "yesterday"}, headers=AUTH)
    assert response.status_code == 400 and response.json()["message"].startswith("since: ")


def test_links_next_is_an_absolute_url_over_real_http(vendor: VendorSim) -> None:
    with serve(create_app(vendor)) as base, httpx2.Client(headers=AUTH, timeout=5) as client:
        url: str | None = f"{base}/v1/usage?page_size=20"
        seen: list[tuple[str, str, str]] = []
        while url is not None:
            assert url.startswith(base)
            body = client.get(url).json()
            seen.extend((i["measured_at"], i["account"]["id"], i["metric"]) for i in body["data"])
            url = body["links"]["next"]
    assert len(seen) == len(set(seen)) == 42
