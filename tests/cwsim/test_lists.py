"""Lists: navigable and forward-only paging, count, conditions, orderBy and fields over HTTP."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient
from tests.cwsim.conftest import many_companies

from cwsim.conditions import GRAMMAR_HINT
from cwsim.scenario import load_scenario
from cwsim.sim import Simulator

LINK = re.compile(r'<([^>]+)>; rel="(\w+)"')


def links(header: str | None) -> dict[str, dict[str, list[str]]]:
    return {rel: parse_qs(urlsplit(url).query) for url, rel in LINK.findall(header or "")}


@pytest.fixture
def hundred(sim: Simulator) -> Simulator:
    load_scenario(sim, many_companies(120))
    return sim


def test_default_page_size_is_25(cw: TestClient, hundred: Simulator) -> None:
    rows = cw.get("/company/companies").json()
    assert [row["id"] for row in rows] == list(range(1, 26))


def test_navigable_paging_links_first_prev_next_last(cw: TestClient, hundred: Simulator) -> None:
    first = cw.get("/company/companies", params={"pageSize": 50, "conditions": "name like 'Company%'"})
    assert set(links(first.headers.get("link"))) == {"next", "last"}
    assert links(first.headers["link"])["next"]["page"] == ["2"]
    assert links(first.headers["link"])["last"]["page"] == ["3"]
    assert links(first.headers["link"])["next"]["conditions"] == ["name like 'Company%'"]

    # As in ConnectWise's own example, the URL ends with pageSize then page.
    assert LINK.findall(first.headers["link"])[0][0].endswith("&pageSize=50&page=2")

    middle = cw.get("/company/companies", params={"pageSize": 50, "page": 2})
    assert set(links(middle.headers["link"])) == {"first", "prev", "next", "last"}
    assert [r["id"] for r in middle.json()] == list(range(51, 101))

    last = cw.get("/company/companies", params={"pageSize": 50, "page": 3})
    assert set(links(last.headers["link"])) == {"first", "prev"}
    assert len(last.json()) == 20

    beyond = cw.get("/company/companies", params={"pageSize": 50, "page": 9})
    assert beyond.json() == []
    assert links(beyond.headers["link"])["prev"]["page"] == ["3"]


def test_single_page_has_no_link_header(cw: TestClient, hundred: Simulator) -> None:
    response = cw.get("/company/companies", params={"pageSize": 1000})
    assert len(response.json()) == 120
    assert "link" not in response.headers


def test_page_size_is_capped_at_1000(cw: TestClient, sim: Simulator) -> None:
    load_scenario(sim, many_companies(1005))
    response = cw.get("/company/companies", params={"pageSize": 5000})
    assert len(response.json()) == 1000
    assert links(response.headers["link"])["next"]["pageSize"] == ["1000"]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"pageSize": 0}, "pageSize"),
        ({"page": 0}, "page"),
        ({"page": "two"}, "page"),
        ({"pageSize": "x"}, "pageSize"),
    ],
)
def test_bad_paging_values_are_400(cw: TestClient, params: dict[str, object], fragment: str) -> None:
    response = cw.get("/company/companies", params=params)
    assert response.status_code == 400
    assert fragment in response.json()["message"]


def test_forward_only_paging_walks_by_id(cw: TestClient, hundred: Simulator) -> None:
    headers = {"pagination-type": "forward-only"}
    seen: list[int] = []
    params: dict[str, object] = {"pageSize": 50, "page": 3}  # page is ignored
    pages = 0
    while True:
        response = cw.get("/company/companies", params=params, headers=headers)
        assert response.status_code == 200
        seen.extend(row["id"] for row in response.json())
        pages += 1
        link = links(response.headers["link"]).get("next")
        if not link:
            assert response.headers["link"] == ""  # present and empty past the last record
            break
        params = {"pageSize": 50, "pageId": link["pageId"][0]}
    assert seen == list(range(1, 121))
    assert pages == 3


def test_forward_only_respects_conditions_and_rejects_order_by(cw: TestClient, hundred: Simulator) -> None:
    headers = {"pagination-type": "forward-only"}
    rows = cw.get("/company/companies", params={"pageId": 100, "conditions": "id <= 110"}, headers=headers).json()
    assert [r["id"] for r in rows] == list(range(101, 111))
    refused = cw.get("/company/companies", params={"orderBy": "name desc"}, headers=headers)
    assert refused.status_code == 400
    assert "orderBy" in refused.json()["message"]


def test_endpoint_without_forward_only_falls_back_to_pages(
    cw: TestClient, hundred: Simulator, admin: TestClient
) -> None:
    admin.patch("/settings", json={"forward_only_disabled": ["company/companies"]})
    response = cw.get("/company/companies", params={"pageSize": 50}, headers={"pagination-type": "forward-only"})
    assert set(links(response.headers["link"])) == {"next", "last"}


def test_count_applies_conditions(cw: TestClient, hundred: Simulator) -> None:
    assert cw.get("/company/companies/count").json() == {"count": 120}
    assert cw.get("/company/companies/count", params={"conditions": "id > 100 or id = 1"}).json() == {"count": 21}


def test_conditions_errors_are_400_with_connectwise_message(cw: TestClient, basic: Simulator) -> None:
    bad = cw.get("/finance/agreements", params={"conditions": "cancelledFlag = 1"})
    assert bad.status_code == 400
    assert bad.json()["message"] == f"Expected a boolean value, not a numeric. {GRAMMAR_HINT}"
    syntax = cw.get("/finance/agreements", params={"conditions": "name = 'x' and"})
    assert syntax.status_code == 400
    assert "position 14" in syntax.json()["message"]
    unknown = cw.get("/finance/agreements", params={"conditions": "colour = 'red'"})
    assert unknown.status_code == 400
    assert "Unknown field 'colour'" in unknown.json()["message"]


def test_conditions_on_references_and_keywords_any_case(cw: TestClient, basic: Simulator) -> None:
    rows = cw.get(
        "/finance/agreements",
        params={"conditions": 'TYPE/NAME = "backup services" AND Company/Identifier IN ("acme", "Globex")'},
    ).json()
    assert [r["id"] for r in rows] == [1, 2]
    rows = cw.get("/finance/agreements", params={"conditions": "cancelledFlag = true"}).json()
    assert [r["id"] for r in rows] == [4]
    rows = cw.get(
        "/finance/agreements", params={"conditions": "billStartDate >= [2026-10-01] or name like 'Man*'"}
    ).json()
    assert [r["id"] for r in rows] == [2, 3]


def test_conditions_on_info_last_updated(cw: TestClient, basic: Simulator, clock) -> None:  # type: ignore[no-untyped-def]
    clock.advance(days=1)
    cw.patch("/company/companies/2", json=[{"op": "replace", "path": "name", "value": "Globex Corp"}])
    since = "[2026-11-23T00:00:00Z]"
    rows = cw.get("/company/companies", params={"conditions": f"lastUpdated > {since}"}).json()
    assert [r["id"] for r in rows] == [2]
    rows = cw.get("/company/companies", params={"conditions": f"_info/lastUpdated > {since}"}).json()
    assert [r["id"] for r in rows] == [2]


def test_order_by_several_fields(cw: TestClient, basic: Simulator) -> None:
    rows = cw.get("/finance/agreements", params={"orderBy": "name desc, id desc", "pageSize": 10}).json()
    assert [(r["name"], r["id"]) for r in rows] == [("Old backup", 4), ("Managed", 3), ("Backup", 2), ("Backup", 1)]
    rows = cw.get("/finance/agreements", params={"orderBy": "company/name asc"}).json()
    assert [r["company"]["name"] for r in rows] == ["Acme Inc", "Globex Corporation", "Initech LLC", "Initech LLC"]
    assert cw.get("/finance/agreements", params={"orderBy": "colour"}).status_code == 400
    assert cw.get("/finance/agreements", params={"orderBy": "name sideways"}).status_code == 400


def test_fields_projects_paths(cw: TestClient, basic: Simulator) -> None:
    rows = cw.get(
        "/finance/agreements", params={"fields": "id,name,company/identifier,type/name", "pageSize": 1}
    ).json()
    assert rows == [{"id": 1, "name": "Backup", "company": {"identifier": "Acme"}, "type": {"name": "Backup Services"}}]
    one = cw.get("/finance/agreements/1", params={"fields": "id,billStartDate"}).json()
    assert one == {"id": 1, "billStartDate": "2026-01-01T00:00:00Z"}


def test_child_collection_lists_its_parent_only(cw: TestClient, basic: Simulator) -> None:
    assert [a["id"] for a in cw.get("/finance/agreements/1/additions").json()] == [1]
    assert cw.get("/finance/agreements/2/additions").json() == []
    assert cw.get("/finance/agreements/1/additions/count").json() == {"count": 1}
    missing = cw.get("/finance/agreements/999/additions")
    assert missing.status_code == 404
    assert "999" in missing.json()["message"]
    assert cw.get("/finance/agreements/2/additions/1").status_code == 404  # addition 1 is agreement 1's


def test_contacts_show_a_name_reference(cw: TestClient, basic: Simulator) -> None:
    agreement = cw.get("/finance/agreements/1").json()
    assert agreement["contact"] == {"id": 1, "name": "Ann Lee"}
    rows = cw.get("/company/contacts", params={"conditions": "company/identifier = 'Globex'"}).json()
    assert [(c["firstName"], c["company"]["identifier"]) for c in rows] == [("Hank", "Globex")]


def test_new_records_can_lag_behind_in_searches(cw: TestClient, admin: TestClient, clock) -> None:  # type: ignore[no-untyped-def]
    admin.patch("/settings", json={"search_visibility_lag_seconds": 30})
    created = cw.post("/company/companies", json={"identifier": "Fresh", "name": "Fresh Co"}).json()
    assert cw.get("/company/companies", params={"conditions": "identifier = 'Fresh'"}).json() == []
    assert cw.get(f"/company/companies/{created['id']}").status_code == 200  # by id: at once
    assert len(cw.get("/company/companies").json()) == 1  # no conditions: listed
    clock.advance(seconds=30)
    assert [c["id"] for c in cw.get("/company/companies", params={"conditions": "identifier = 'Fresh'"}).json()] == [
        created["id"]
    ]


def _ids(cw: TestClient, path: str, conditions: str, **params: object) -> list[int]:
    response = cw.get(path, params={"conditions": conditions, "pageSize": 1000, **params})
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()]


def test_lists_pinned_to_ids_answer_as_a_full_scan_does(cw: TestClient, hundred: Simulator) -> None:
    """``id in (...)`` and ``company/id = n`` read an index; an ``or`` of the same terms scans every
    record: both give the same records, in id order, also after a write changes what matches."""
    wanted = "id in (117, 5, 7, 300, 5) and name like 'Company%'"
    assert _ids(cw, "/company/companies", wanted) == [5, 7, 117]
    assert _ids(cw, "/company/companies", wanted) == _ids(
        cw, "/company/companies", "(id = 117 or id = 5 or id = 7 or id = 300) and name like 'Company%'"
    )
    assert cw.get("/company/companies/count", params={"conditions": "id in (1, 2, 999)"}).json() == {"count": 2}
    forward = cw.get(
        "/company/companies",
        params={"conditions": "id in (3, 4, 5)", "pageSize": 2, "pageId": 3},
        headers={"pagination-type": "forward-only"},
    )
    assert [row["id"] for row in forward.json()] == [4, 5]

    created = cw.post("/company/companies", json={"identifier": "Late", "name": "Company late"}).json()
    assert _ids(cw, "/company/companies", f"id in (5, {created['id']})") == [5, created["id"]]


def test_child_lists_pinned_to_a_reference_follow_writes(cw: TestClient, basic: Simulator) -> None:
    acme, initech = 1, 3
    pinned = f"company/id in ({acme}, {initech})"
    scanned = f"company/id = {acme} or company/id = {initech}"
    before = _ids(cw, "/finance/agreements", pinned)
    assert before == _ids(cw, "/finance/agreements", scanned)
    assert len(before) == 3
    assert _ids(cw, "/finance/agreements", f"company/id = {acme} and name = 'nothing'") == []

    body = {
        "name": "Second",
        "type": {"name": "Managed"},
        "company": {"id": acme},
        "contact": {"id": 1},
        "startDate": "2026-02-01T00:00:00Z",
    }
    created = cw.post("/finance/agreements", json=body)
    assert created.status_code == 201, created.text
    after = _ids(cw, "/finance/agreements", pinned)
    assert after == _ids(cw, "/finance/agreements", scanned) == sorted([*before, created.json()["id"]])
