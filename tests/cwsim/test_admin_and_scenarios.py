"""The /_sim/ admin API, scenarios (load, snapshot, errors) and the generator."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import yaml
from starlette.testclient import TestClient
from tests.cwsim.conftest import BASIC

from cwsim.generate import generate
from cwsim.scenario import ScenarioError, load_scenario, read_scenario, snapshot
from cwsim.sim import Simulator


def test_health_and_reset(cw: TestClient, admin: TestClient, basic: Simulator) -> None:
    assert admin.get("/health").json()["records"]["agreements"] == 4
    admin.patch("/settings", json={"rate_limit_per_minute": 3})
    reset = admin.post("/reset").json()
    assert set(reset["records"].values()) == {0}
    assert admin.get("/settings").json()["rate_limit_per_minute"] == 1000
    assert cw.get("/company/companies").json() == []


def test_scenario_loads_over_the_admin_api_as_json_or_yaml(cw: TestClient, admin: TestClient) -> None:
    loaded = admin.post("/scenario", json=BASIC).json()
    assert loaded["records"]["additions"] == 1
    assert cw.get("/finance/agreements/1/additions/1").json()["quantity"] == 100
    text = yaml.safe_dump({"companies": [{"identifier": "Y", "name": "From YAML"}]})
    admin.post("/scenario", content=text.encode(), headers={"Content-Type": "application/yaml"})
    assert [c["name"] for c in cw.get("/company/companies").json()] == ["From YAML"]


def test_bad_scenario_names_the_item_and_field_and_keeps_the_state(admin: TestClient, basic: Simulator) -> None:
    before = snapshot(basic)
    bad = {
        **BASIC,
        "additions": [
            {
                "agreementId": 2,
                "product": {"identifier": "BACKUP-GB"},
                "billCustomer": "Billable",
                "effectiveDate": "2026-01-01",
            }
        ],
    }
    response = admin.post("/scenario", json=bad)
    assert response.status_code == 400
    message = response.json()["message"]
    assert message.startswith("additions[0]: addition object is invalid")
    assert "effectiveDate cannot be less than the agreement billing start date" in message
    assert snapshot(basic) == before
    for body, fragment in [
        ({"widgets": []}, "unknown scenario section"),
        ({"companies": {"identifier": "x"}}, "companies: expected a list"),
        ({"settings": {"nope": 1}}, "settings: unknown or invalid setting"),
        ({"members": [{"publicKey": "x"}]}, "members[0]: needs publicKey and privateKey"),
        ({"additions": [{"product": {"id": 1}}]}, "additions[0]: names no existing agreement"),
        ({"faults": {"rules": [{"error_ratio": 5}]}}, "faults: error_ratio must be between 0 and 1"),
    ]:
        refused = admin.post("/scenario", json=body)
        assert refused.status_code == 400, body
        assert fragment in refused.json()["message"], body
    assert (
        admin.post("/scenario", content=b"[unclosed", headers={"Content-Type": "application/json"}).status_code == 400
    )


def test_snapshot_loads_back_into_the_identical_state(cw: TestClient, admin: TestClient, basic: Simulator) -> None:
    cw.post("/finance/agreements/1/additions", json={"product": {"id": 2}, "billCustomer": "Billable", "quantity": 3})
    cw.delete("/finance/agreements/1/additions/1")
    admin.put("/faults", json={"seed": 9, "rules": [{"path": "x/*", "error_ratio": 0.5}]})
    first = admin.get("/snapshot").json()
    admin.post("/reset")
    admin.post("/scenario", json=first)
    assert admin.get("/snapshot").json() == first
    # The next id continues after deleted ones, as ConnectWise never reuses ids.
    created = cw.post("/finance/agreements/1/additions", json={"product": {"id": 2}, "billCustomer": "Billable"})
    assert created.json()["id"] == 3


def test_members_from_a_scenario_authenticate(cw: TestClient, admin: TestClient) -> None:
    admin.post("/scenario", json={"members": [{"publicKey": "alpha", "privateKey": "beta", "identifier": "Billing"}]})
    import base64

    assert cw.get("/company/companies").status_code == 401  # simpub is gone
    headers = {"Authorization": "Basic " + base64.b64encode(b"sim+alpha:beta").decode()}
    cw.post("/company/companies", headers=headers, json={"identifier": "M", "name": "M"})
    assert cw.get("/company/companies/1", headers=headers).json()["_info"]["enteredBy"] == "Billing"


def test_request_log_and_counters(cw: TestClient, admin: TestClient, basic: Simulator) -> None:
    admin.delete("/requests")
    cw.get("/finance/agreements/1/additions")
    cw.get("/finance/agreements/2/additions")
    cw.post("/finance/agreements/1/additions", json={"product": {"id": 2}, "billCustomer": "Billable"})
    cw.get("/company/companies", params={"conditions": "id = 1"})
    cw.get("/company/companies", headers={"Authorization": "Basic eDp5"})
    counters = admin.get("/counters").json()
    by_endpoint = {(e["method"], e["path"]): e for e in counters["endpoints"]}
    assert counters["total"] == 5
    assert by_endpoint[("GET", "finance/agreements/{id}/additions")]["count"] == 2
    assert by_endpoint[("POST", "finance/agreements/{id}/additions")]["statuses"] == {"201": 1}
    assert by_endpoint[("GET", "company/companies")]["statuses"] == {"200": 1, "401": 1}
    log = admin.get("/requests").json()
    assert [entry["status"] for entry in log] == [200, 200, 201, 200, 401]
    assert log[3]["query"] == "conditions=id+%3D+1"
    assert log[0]["member"] == "SimAPI"
    assert log[4]["member"] is None
    assert len(admin.get("/requests", params={"limit": 2}).json()) == 2


def test_clock_can_be_frozen_and_released(cw: TestClient, admin: TestClient) -> None:
    admin.put("/clock", json={"now": "2027-01-31T23:00:00Z"})
    assert admin.get("/clock").json() == {"now": "2027-01-31T23:00:00Z", "frozen": True}
    created = cw.post("/company/companies", json={"identifier": "T", "name": "T"}).json()
    assert created["_info"]["dateEntered"] == "2027-01-31T23:00:00Z"
    assert admin.put("/clock", json={"now": "tomorrow"}).status_code == 400
    assert admin.put("/clock", json={"now": None}).json()["frozen"] is False


def test_settings_are_validated(admin: TestClient) -> None:
    assert admin.patch("/settings", json={"rate_limit_per_minute": "fast"}).status_code == 400
    assert admin.patch("/settings", json={"warp_speed": True}).status_code == 400
    assert admin.get("/settings").json()["rate_limit_per_minute"] == 1000


def test_generator_is_reproducible_and_loads(sim: Simulator) -> None:
    first = generate(200, 5, date(2026, 11, 3))
    assert first == generate(200, 5, date(2026, 11, 3))
    assert first != generate(200, 6, date(2026, 11, 3))
    load_scenario(sim, first)
    counts = sim.state.counts()
    assert counts["companies"] == 200
    agreements = list(sim.state.collection("agreements").scope(None))
    backup = [a for a in agreements if a["type"]["name"] == "Backup Services"]
    per_company: dict[int, int] = {}
    for agreement in backup:
        if agreement["agreementStatus"] == "Active":
            per_company[agreement["company"]["id"]] = per_company.get(agreement["company"]["id"], 0) + 1
    assert sum(1 for n in per_company.values() if n == 2) >= 3  # ambiguous cases
    assert 200 - len(per_company) >= 10  # companies with no active backup agreement
    assert any(a["agreementStatus"] == "Cancelled" for a in backup)
    assert any(a["billStartDate"] > "2026-10-01T00:00:00Z" for a in backup)  # starts mid-period
    assert counts["additions"] > 0
    assert counts["configurations"] > 0
    identifiers = [c["identifier"] for c in sim.state.collection("companies").scope(None)]
    assert len({i.lower() for i in identifiers}) == 200


def test_scenario_files_in_yaml_and_json(tmp_path: Path, sim: Simulator) -> None:
    yaml_file = tmp_path / "s.yaml"
    yaml_file.write_text(
        "companies:\n  - {identifier: A, name: A}\nagreementTypes:\n  - {name: T}\n"
        "agreements:\n  - {name: X, type: {name: T}, company: {identifier: A}, billStartDate: 2026-10-01}\n"
        "contacts:\n  - {firstName: Z, company: {identifier: A}}\n"
    )
    load_scenario(sim, read_scenario(yaml_file))
    agreement = sim.state.collection("agreements").by_id[1]
    assert agreement["billStartDate"] == "2026-10-01T00:00:00Z"  # a YAML date becomes ConnectWise's format
    assert agreement["contact"]["name"] == "Z"  # the company's first contact
    json_file = tmp_path / "s.json"
    json_file.write_text(json.dumps(snapshot(sim)))
    other = Simulator.create()
    load_scenario(other, read_scenario(json_file))
    assert snapshot(other)["agreements"] == snapshot(sim)["agreements"]
    broken = tmp_path / "broken.yaml"
    broken.write_text("companies: [")
    try:
        read_scenario(broken)
    except ScenarioError as error:
        assert "broken.yaml" in str(error)
    else:
        raise AssertionError("a broken file must not load")
