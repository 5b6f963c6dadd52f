"""Auth, clientId, API versions, codebases, company info and system info."""

from __future__ import annotations

import base64

from starlette.testclient import TestClient
from tests.conftest import CW_HEADERS
from tests.support.contract import ContractLog

from cwsim.sim import Simulator
from cwsim.state import Member


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_default_member_lists_companies_and_gets_version_headers(cw: TestClient) -> None:
    response = cw.get("/company/companies")
    assert response.status_code == 200
    assert response.json() == []
    assert response.headers["api-current-version"] == "2026.4"
    assert response.headers["content-type"] == "application/vnd.connectwise.com+json; version=2026.4"


def test_company_id_is_case_insensitive_keys_are_not(cw: TestClient) -> None:
    ok = cw.get("/company/companies", headers={"Authorization": _basic("SIM+simpub", "simpriv")})
    assert ok.status_code == 200
    wrong_key = cw.get("/company/companies", headers={"Authorization": _basic("sim+SIMPUB", "simpriv")})
    assert wrong_key.status_code == 401


def test_bad_credentials_answer_401_with_connectwise_body(cw: TestClient) -> None:
    cases = {
        "missing": {"Authorization": ""},
        "not basic": {"Authorization": "Bearer abc"},
        "not base64": {"Authorization": "Basic !!!"},
        "wrong private key": {"Authorization": _basic("sim+simpub", "nope")},
        "wrong company": {"Authorization": _basic("other+simpub", "simpriv")},
    }
    for name, headers in cases.items():
        response = cw.get("/company/companies", headers=headers)
        assert response.status_code == 401, name
        body = response.json()
        assert body["code"] == "Unauthorized", name
        assert body["message"], name


def test_private_key_never_echoed_in_errors(cw: TestClient) -> None:
    response = cw.get("/company/companies", headers={"Authorization": _basic("sim+simpub", "s3cr3t-value")})
    assert "s3cr3t-value" not in response.text


def test_client_id_required_and_switchable(cw: TestClient, admin: TestClient, contract_log: ContractLog) -> None:
    contract_log.allow("Missing required header parameter: clientId")  # switched off below, on purpose
    headers = {k: v for k, v in CW_HEADERS.items() if k != "clientId"}
    missing = cw.get("/company/companies", headers={"clientId": ""})
    assert missing.status_code == 401
    assert missing.json()["code"] == "ClientIdRequired"
    assert admin.patch("/settings", json={"missing_client_id_status": 400}).status_code == 200
    assert cw.get("/company/companies", headers={"clientId": ""}).status_code == 400
    admin.patch("/settings", json={"require_client_id": False})
    with TestClient(cw.app, base_url=str(cw.base_url), headers=headers) as no_client_id:
        assert no_client_id.get("/company/companies").status_code == 200


def test_accept_version_is_honoured(cw: TestClient) -> None:
    pinned = cw.get("/company/companies", headers={"Accept": "application/vnd.connectwise.com+json; version=2019.1"})
    assert pinned.status_code == 200
    assert pinned.headers["content-type"].endswith("version=2019.1")
    assert pinned.headers["api-current-version"] == "2026.4"
    latest = cw.get("/company/companies", headers={"Accept": "*/*"})
    assert latest.headers["content-type"].endswith("version=2026.4")
    future = cw.get("/company/companies", headers={"Accept": "application/vnd.connectwise.com+json; version=2099.1"})
    assert future.status_code == 400
    assert "2099.1" in future.json()["message"]
    garbage = cw.get("/company/companies", headers={"Accept": "application/vnd.connectwise.com+json; version=abc"})
    assert garbage.status_code == 400


def test_both_codebases_route_and_unknown_ones_do_not(cw: TestClient) -> None:
    for codebase in ("v4_6_release", "v2026_4"):
        url = f"http://127.0.0.1/{codebase}/apis/3.0/company/companies"
        assert cw.get(url).status_code == 200, codebase
    unknown = cw.get("http://127.0.0.1/v2017_3/apis/3.0/company/companies")
    assert unknown.status_code == 404
    assert unknown.json()["message"] == "Cannot route. Codebase/company is invalid"


def test_company_info_discovers_codebase(cw: TestClient) -> None:
    info = cw.get("http://127.0.0.1/login/companyinfo/sim", headers={"Authorization": ""})
    assert info.status_code == 200
    body = info.json()
    assert body["Codebase"] == "v2026_4/"
    assert body["Codebase"].endswith("/")
    assert body["IsCloud"] == "True"  # a string, as ConnectWise sends it
    assert body["CompanyID"] == "sim"
    routed = cw.get(f"http://127.0.0.1/{body['Codebase']}apis/3.0/company/companies")
    assert routed.status_code == 200
    unknown = cw.get("http://127.0.0.1/login/companyinfo/nobody")
    assert unknown.status_code == 200
    assert unknown.text == "null"


def test_on_premise_company_info_gives_v4_6_release(cw: TestClient, admin: TestClient) -> None:
    admin.patch("/settings", json={"is_cloud": False})
    assert cw.get("http://127.0.0.1/login/companyinfo/sim").json()["Codebase"] == "v4_6_release/"


def test_system_info(cw: TestClient) -> None:
    body = cw.get("/system/info").json()
    assert body["version"] == "v2026.4"
    assert body["isCloud"] is True
    assert body["serverTimeZone"]


def test_read_only_member_gets_403_on_writes(sim: Simulator, cw: TestClient) -> None:
    sim.state.members.append(Member("ropub", "ropriv", "ReadOnly", read_only=True))
    headers = {"Authorization": _basic("sim+ropub", "ropriv")}
    assert cw.get("/company/companies", headers=headers).status_code == 200
    denied = cw.post("/company/companies", headers=headers, json={"identifier": "X", "name": "X"})
    assert denied.status_code == 403
    assert "Improper security role" in denied.json()["message"]
    assert sim.state.counts()["companies"] == 0


def test_unknown_routes_and_methods_answer_json(cw: TestClient) -> None:
    missing = cw.get("/service/tickets")
    assert missing.status_code == 404
    assert missing.json()["code"] == "NotFound"
    not_allowed = cw.post("/company/companies/count", json={})
    assert not_allowed.status_code == 405
    assert not_allowed.json()["code"] == "MethodNotAllowed"
