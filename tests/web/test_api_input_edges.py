"""Input a fresh-clone trial of the API found answered badly: text the database cannot store,
paths that are not UTF-8, chunked bodies over the limit, JSON that does not parse, list items
counted two ways, CSV headers read in part, numbers and months in other scripts, a connection
that points at a metadata service. Each is a 4xx naming its field; nothing is stored."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest
from tests.support.actors import ACTOR
from tests.web.conftest import Api

from meterbridge.services import accounts, connections


def test_text_the_database_cannot_store_is_refused_by_field(api: Api) -> None:
    for path, body, field in (
        ("/customers/x", '{"name": "\\ud800"}', "name"),
        ("/customers/x", '{"name": "a\\u0000b"}', "name"),
        ("/products/storage", '{"cw_product": "\\udfff"}', "cw_product"),
        ("/customers/x/link", '{"company": "\\ud800"}', "company"),
    ):
        answer = api.call("PUT", path, content=body, headers={"Content-Type": "application/json"}, status=422)
        assert answer["field"] == field and ("surrogate" in answer["message"] or "NUL" in answer["message"])
    batch = (
        '{"source": "\\ud800", "samples": [{"customer": "c", "product": "p", "measured_at": "2026-10-01T00:00:00Z",'
        ' "quantity": "1", "unit": "GB"}]}'
    )
    answer = api.call("POST", "/usage", content=batch, headers={"Content-Type": "application/json"}, status=422)
    assert answer["field"] == "source"
    previews = api.call(
        "POST", "/previews", content='{"period": "2026-10", "customers": ["\\ud800"]}',
        headers={"Content-Type": "application/json"}, status=422,
    )  # fmt: skip
    assert previews["field"] == "customers"
    settings = api.call("PATCH", "/settings", role="admin", json={"currency": "a\x00"}, status=422)
    assert settings["field"] == "settings"
    assert api.call("GET", "/customers", role="viewer") == []  # nothing was stored


def test_a_path_or_query_that_is_not_utf8_or_holds_a_nul_is_refused(api: Api) -> None:
    for path in ("/customers/%FF", "/customers/a%00b", "/companies?q=%00", "/companies?q=%C3"):
        answer = api.http.request("PUT" if "customers" in path else "GET", f"/api/v1/tenants/acme{path}",
                                  headers=api.auth(), json={"name": "x"})  # fmt: skip
        assert answer.status_code == 422, (path, answer.text)
        assert answer.json()["field"] in ("path", "query")
    assert api.call("GET", "/customers", role="viewer") == []


def test_a_chunked_body_over_the_limit_is_413(api: Api) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(1100):
            yield b"x" * 1024
        yield b'"}'

    answer = api.http.put(
        "/api/v1/tenants/acme/customers/x", content=chunks(), headers={**api.auth(), "Content-Type": "application/json"}
    )
    assert answer.status_code == 413 and answer.json()["field"] == "body"
    small = api.http.put(
        "/api/v1/tenants/acme/customers/x", content=iter([b'{"name": ', b'"Small"}']),
        headers={**api.auth(), "Content-Type": "application/json"},
    )  # fmt: skip
    assert small.status_code == 200 and small.json()["name"] == "Small"  # a chunked body under it is read whole


def test_json_that_does_not_parse_names_the_body_and_the_character(api: Api) -> None:
    answer = api.call(
        "POST", "/previews", content='{"period": 2026-10}', headers={"Content-Type": "application/json"}, status=422
    )
    assert answer["field"] == "body" and answer["position"] == 15 and "not valid JSON" in answer["message"]


def test_list_items_are_counted_from_one_everywhere(api: Api) -> None:
    sample = {"customer": "c", "product": "p", "measured_at": "2026-10-01T00:00:00Z", "quantity": "1", "unit": "GB"}
    answer = api.call("POST", "/usage", json={"samples": [sample, {**sample, "quantity": "-1"}]}, status=422)
    assert answer["field"] == "samples[2].quantity" and answer["row"] == 2
    api.call("PUT", "/products/storage", json={"unit": "GB", "kind": "storage"})
    tiers = [{"up_to": "1000", "unit_price": "0.10"}, {"unit_price": "-1"}]
    answer = api.call("PUT", "/prices/storage", json={"tiers": tiers}, status=422)
    assert answer["field"] == "tiers[2].unit_price"


def test_a_csv_header_is_read_whole_or_refused(api: Api) -> None:
    api.call("PUT", "/products/storage", json={"unit": "GB", "kind": "storage"})
    for text, expected in (
        ("customer,product,measured_at,quantity,unit,unit\nc,storage,2026-10-01T00:00:00Z,1,GB,TB\n", "repeats"),
        ("customer,product,measured_at,quantity,unit,notes\nc,storage,2026-10-01T00:00:00Z,1,GB,x\n", "unknown"),
        ("customer,product,measured_at,quantity,unit\nc,storage,2026-10-01T00:00:00Z,1,GB,extra\n", "6 fields"),
    ):
        answer = api.call("POST", "/usage/csv", content=text, headers={"Content-Type": "text/csv"}, status=422)
        assert expected in answer["message"], answer
    answer = api.call(
        "POST", "/usage/csv", content='{"samples": []}', headers={"Content-Type": "application/json"}, status=422
    )
    assert answer["field"] == "Content-Type"
    assert api.call("GET", "/usage", role="viewer") == []


def test_numbers_and_months_are_written_in_ascii_digits(api: Api) -> None:
    api.call("PUT", "/products/storage", json={"unit": "GB", "kind": "storage"})
    for bad in ("1_000", "١٢", "1,5"):
        answer = api.call(
            "POST", "/usage/csv", content=f"customer,product,measured_at,quantity,unit,customer_name\n"
            f'c,storage,2026-10-01T00:00:00Z,"{bad}",GB,C\n', headers={"Content-Type": "text/csv"}, status=422,
        )  # fmt: skip
        assert answer["row"] == 2 and "not a number" in answer["message"], bad
    exported = "customer,product,measured_at,quantity,unit,customer_name\nc,storage,2026-10-01T00:00:00Z,1.5E3,GB,C\n"
    assert api.call("POST", "/usage/csv", content=exported, headers={"Content-Type": "text/csv"})["added"] == 1
    answer = api.call("POST", "/previews", json={"period": "２０２６-10"}, status=422)
    assert answer["field"] == "period"
    answer = api.call("POST", "/pushes", json={"period": "2026-13"}, status=422)
    assert answer["field"] == "period"  # the wrong month first, not the missing approval


@pytest.mark.parametrize(
    ("site", "codebase"), [("http://169.254.169.254", None), ("https://[fe80::1]", None), ("ok.example", "../../etc")]
)
def test_a_connection_never_points_at_a_metadata_service_or_a_path(api: Api, site: str, codebase: str | None) -> None:
    body = {"site": site, "company_id": "c", "public_key": "p", "private_key": "k", "client_id": "i"}
    answer = api.call("PUT", "/connection", role="admin", json={**body, "codebase": codebase}, status=422)
    assert answer["field"] == ("codebase" if codebase else "site")


def test_a_connection_change_may_keep_the_stored_private_key(api: Api) -> None:
    before = connections.show_connection(api.ctx, "acme")
    body = {"site": before.site, "company_id": "sim", "public_key": "simpub", "client_id": "changed"}
    assert api.call("PUT", "/connection", role="admin", json=body)["client_id"] == "changed"
    assert api.call("POST", "/connection/test")["ok"] is True  # the key was kept
    answer = api.call("PUT", "/connection", role="admin", tenant="beta", json=body, status=422)
    assert answer["field"] == "private_key"  # a new connection needs one
    [entry] = [e for e in api.call("GET", "/audit", role="admin") if e["action"] == "connection.set"][:1]
    assert entry["after"]["private key"] == "kept"


def test_what_changes_nothing_is_not_audited_and_a_push_is(api: Api) -> None:
    api.call("PUT", "/customers/x", json={"name": "X"})
    api.call("PUT", "/customers/x", json={"name": "X"})
    updates = [e for e in api.call("GET", "/audit", role="admin") if e["action"].startswith("customer.")]
    assert [e["action"] for e in updates] == ["customer.create"]
    started = api.call("POST", "/pushes", json={"period": "2026-10", "force": True}, status=202)
    api.wait_for(started["id"])
    [start] = [e for e in api.call("GET", "/audit", role="admin") if e["action"] == "push.start"]
    assert start["actor"].startswith("token:acme-billing") and start["after"]["forced"] is True


def test_health_answers_head_and_sign_out_clears_a_secure_cookie(api: Api) -> None:
    assert api.http.head("/healthz").status_code == 200
    accounts.add_member(api.ctx, "acme", "sam@example.com", "viewer", password="a long enough pw", actor=ACTOR)
    credentials = {"username": "sam@example.com", "password": "a long enough pw"}
    signed = httpx2.post(f"{api.url}/api/v1/session", json=credentials)
    out = httpx2.delete(f"{api.url}/api/v1/session", cookies=signed.cookies)
    cleared = out.headers["set-cookie"].lower()
    assert "mb_session=" in cleared and "httponly" in cleared and "samesite=lax" in cleared
