"""Every route of the API, by the OpenAPI document it serves: without credentials it answers 401;
with a token of another tenant 404, exactly as for a tenant that does not exist (ids and keys do
not leak); with a role weaker than the one it names (x-role) 403; and no route is left out."""

from __future__ import annotations

import re
from typing import Any

import pytest
from tests.web.conftest import Api

RANK = {"viewer": 0, "billing": 1, "admin": 2}
SAMPLE = {"tenant": "acme", "run_id": "1", "token_id": "1", "target": "agreement"}


def operations(api: Api) -> list[tuple[str, str, str]]:
    spec = api.http.get("/openapi.json").json()
    return [(method.upper(), path, op["x-role"]) for path, item in spec["paths"].items() for method, op in item.items()]


def concrete(path: str, tenant: str = "acme") -> str:
    return re.sub(r"\{(\w+)\}", lambda m: tenant if m.group(1) == "tenant" else SAMPLE.get(m.group(1), "x"), path)


def request(api: Api, method: str, path: str, headers: dict[str, str] | None = None) -> Any:
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return api.http.request(method, path, headers=headers or {}, json=body)


def test_every_route_names_its_role_and_tenant_routes_need_one(api: Api) -> None:
    ops = operations(api)
    assert len(ops) >= 55
    for method, path, role in ops:
        if path.startswith("/api/v1/tenants/{tenant}"):
            assert role in RANK, f"{method} {path} names no tenant role"
        elif path in ("/healthz", "/readyz", "/metrics", "/api/v1/session", "/api/v1/tenants"):
            assert role == "none", f"{method} {path}"


def test_no_credentials_a_wrong_tenant_and_a_weak_role_are_refused_on_every_route(api: Api) -> None:
    checked = 0
    for method, path, role in operations(api):
        if role == "none":
            continue
        anonymous = request(api, method, concrete(path))
        assert anonymous.status_code == 401, f"{method} {path}: {anonymous.status_code} {anonymous.text}"
        assert anonymous.json()["kind"] == "unauthorized"
        for tenant in ("beta", "nosuch"):  # another tenant's, and one that does not exist: the same answer
            wrong = request(api, method, concrete(path, tenant), api.auth("admin", "acme"))
            assert wrong.status_code == 404, f"{method} {path} on {tenant}: {wrong.status_code} {wrong.text}"
            assert wrong.json() == {
                "kind": "not_found",
                "message": f"no tenant {tenant!r}",
                "field": "tenant",
                "row": None,
                "position": None,
                "hint": None,
                "action": None,
                "params": {},
            }
        for weaker in (r for r, rank in RANK.items() if rank < RANK[role]):
            refused = request(api, method, concrete(path), api.auth(weaker))
            assert refused.status_code == 403, f"{method} {path} as {weaker}: {refused.status_code} {refused.text}"
            assert refused.json()["kind"] == "forbidden"
        checked += 1
    assert checked >= 50


@pytest.mark.parametrize("token", ["mb_1_wrong", "mb_x_y", "nonsense", "mb_999_" + "a" * 43])
def test_a_bad_or_revoked_token_is_refused(api: Api, token: str) -> None:
    refused = api.http.get("/api/v1/tenants/acme/customers", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401 and refused.json()["kind"] == "unauthorized"


def test_a_revoked_token_stops_working_at_once_and_its_last_use_is_kept(api: Api) -> None:
    tokens = api.call("GET", "/tokens", role="admin")
    viewer = next(t for t in tokens if t["name"] == "acme-viewer")
    assert viewer["last_used_at"] is None
    api.call("GET", "/customers", role="viewer")
    used = next(t for t in api.call("GET", "/tokens", role="admin") if t["id"] == viewer["id"])
    assert used["last_used_at"] is not None
    api.call("DELETE", f"/tokens/{viewer['id']}", role="admin")
    gone = api.http.get("/api/v1/tenants/acme/customers", headers=api.auth("viewer"))
    assert gone.status_code == 401
    assert all("token" not in t for t in api.call("GET", "/tokens", role="admin")), "a token's value is shown once"


def test_the_tenants_a_caller_can_reach(api: Api) -> None:
    mine = api.http.get("/api/v1/tenants", headers=api.auth("viewer", "beta")).json()
    assert [(t["key"], t["role"]) for t in mine] == [("beta", "viewer")]
    assert api.http.get("/api/v1/tenants/acme", headers=api.auth("viewer", "beta")).status_code == 404
