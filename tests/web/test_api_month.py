"""The month's billing over the REST API, as a script would do it, against cwsim over loopback
HTTP, on SQLite and PostgreSQL: set-up, usage in, preview with explanations a page at a time,
a push by checksum that answers 202 and is followed to its end, the history, the reports, and
an Idempotency-Key that makes a retried push start nothing."""

from __future__ import annotations

from decimal import Decimal

from tests.web.conftest import Api

CSV = "customer,product,measured_at,quantity,unit\nC2,storage,2026-10-20T00:00:00Z,250,GB\n"


def set_up(api: Api) -> None:
    api.call("POST", "/companies/import")
    for key, kind, unit, basis, cw in (
        ("storage", "storage", "GB", "max", "BACKUP-STORAGE-GB"),
        ("server", "license", "count", "last", "BACKUP-SERVER"),
    ):
        api.call("PUT", f"/products/{key}", json={"kind": kind, "unit": unit, "basis": basis, "cw_product": cw})
    api.call(
        "PUT", "/prices/storage", json={"tiers": [{"up_to": "1000", "unit_price": "0.10"}, {"unit_price": "0.08"}]}
    )
    api.call("PUT", "/prices/server", json={"unit_price": "45", "unit_cost": "18"})
    api.call("PUT", "/rules/default-agreement", json={"text": 'type/name = "Backup Services"'})
    for customer in ("C1", "C2", "C3"):
        api.call("PUT", f"/customers/{customer}", json={"name": f"Company {customer[1:]}"})
        api.call(
            "PUT",
            f"/configurations/{customer}-storage",
            json={"customer": customer, "options": {"products": ["storage"]}},
        )
    api.call("PUT", "/configurations/C1-servers", json={"customer": "C1", "options": {"products": ["server"]}})
    report = api.call("POST", "/links/auto")
    assert sorted(link["external_id"] for link in report["linked"]) == ["C1", "C2", "C3"]


def test_a_month_of_billing_over_http(api: Api) -> None:
    set_up(api)
    stored = api.call(
        "POST",
        "/usage",
        json={
            "source": "console",
            "samples": [
                {
                    "customer": "C1",
                    "product": "storage",
                    "measured_at": "2026-10-20T00:00:00Z",
                    "quantity": "1500",
                    "unit": "GB",
                },
                {
                    "customer": "C1",
                    "product": "server",
                    "measured_at": "2026-10-20T00:00:00Z",
                    "quantity": "3",
                    "unit": "count",
                },
                {
                    "customer": "C3",
                    "product": "storage",
                    "measured_at": "2026-10-20T00:00:00Z",
                    "quantity": "80",
                    "unit": "GB",
                },
            ],
        },
    )
    assert (stored["added"], stored["source"]) == (3, "console")
    uploaded = api.call(
        "POST", "/usage/csv", params={"source": "file"}, content=CSV, headers={"Content-Type": "text/csv"}
    )
    assert uploaded["added"] == 1
    again = api.call("POST", "/usage/csv", params={"source": "file"}, content=CSV, headers={"Content-Type": "text/csv"})
    assert (again["added"], again["unchanged"]) == (0, 1), "the same file twice changes nothing"

    preview = api.call("POST", "/previews", json={"period": "2026-10"}, status=201)
    assert (preview["status"], preview["counts"]["create"], preview["verdict"]) == ("previewed", 4, "apply")
    assert preview["totals"]["billed_after"] == "308.00"  # 140.00 (tiers) + 135.00 + 25.00 + 8.00
    page = api.call("GET", f"/runs/{preview['run']}/changes", role="viewer", params={"customer": "C1", "limit": 1})
    assert (page["total"], len(page["items"])) == (2, 1)
    creates = api.call("GET", f"/runs/{preview['run']}/changes", role="viewer", params={"kind": "create"})
    by_key = {c["key"]: c for c in creates["items"]}
    storage = by_key["C1/C1-storage/BACKUP-STORAGE-GB/running"]
    assert (storage["values"]["unitPrice"], storage["new_amount"]) == ("0.093333", "140.00")
    assert "graduated: 1000 x 0.10 + 500 x 0.08 = 140.00" in [s["detail"] for s in storage["explanation"]]

    response = api.http.post(
        "/api/v1/tenants/acme/pushes",
        json={"period": "2026-10", "checksum": preview["checksum"]},
        headers={**api.auth("billing"), "Idempotency-Key": "october-1"},
    )
    assert response.status_code == 202, response.text
    started = response.json()
    assert response.headers["location"] == f"/api/v1/tenants/acme/runs/{started['id']}"
    done = api.wait_for(started["id"])
    assert done["status"] == "done" and done["summary"]["totals"]["writes"] == {"planned": 4, "landed": 4, "failed": 0}
    assert done["started_by"].startswith("token:acme-billing#") and done["trigger"] == "manual"

    retried = api.http.post(
        "/api/v1/tenants/acme/pushes",
        json={"period": "2026-10", "checksum": preview["checksum"]},
        headers={**api.auth("billing"), "Idempotency-Key": "october-1"},
    )
    assert (retried.status_code, retried.json()["id"], retried.headers["idempotent-replayed"]) == (
        202,
        started["id"],
        "true",
    )
    other = api.http.post(
        "/api/v1/tenants/acme/pushes",
        json={"period": "2026-10", "force": True},
        headers={**api.auth("billing"), "Idempotency-Key": "october-1"},
    )
    assert other.status_code == 409 and other.json()["field"] == "Idempotency-Key"
    pushes = api.call("GET", "/runs", role="viewer", params={"kind": "push"})
    assert [r["id"] for r in pushes] == [started["id"]], "a retried request never starts a second push"

    amounts = sorted(Decimal(str(a["extPrice"])) for a in api.additions())
    assert amounts == [Decimal("8.0"), Decimal("25.0"), Decimal("135.0"), Decimal("140.0")]
    landed = api.call("GET", f"/runs/{started['id']}/changes", role="viewer", params={"status": "done"})
    assert landed["total"] == 4 and all(item["addition_id"] for item in landed["items"])

    history = api.call("GET", "/runs.csv", role="viewer")
    assert history.splitlines()[0].startswith("id,period,kind,trigger,started_by")
    assert f"{started['id']},2026-10,push,manual,{done['started_by']}" in history
    leaked = api.call("GET", "/leaks", role="viewer", params={"period": "2026-10"})
    assert (leaked["leaks"], leaked["unbilled"], leaked["billed_without_usage"]) == ([], "0.00", "0.00")
    findings = api.call("GET", "/doctor", role="viewer", params={"period": "2026-10"})["findings"]
    assert {f["severity"] for f in findings} == {"ok"}
    audit = api.call("GET", "/audit", role="admin", params={"limit": 500})
    assert done["started_by"] in {entry["actor"] for entry in audit}
    assert any(entry["action"] == "configuration.create" for entry in audit)


def test_a_running_push_shows_its_progress_and_the_lines_that_landed(api: Api) -> None:
    from cwsim.faults import FaultRule

    set_up(api)
    api.call(
        "POST",
        "/usage",
        json={
            "samples": [
                {
                    "customer": c,
                    "product": "storage",
                    "measured_at": "2026-10-20T00:00:00Z",
                    "quantity": "100",
                    "unit": "GB",
                }
                for c in ("C1", "C2", "C3")
            ]
        },
    )
    api.call("PATCH", "/settings", role="admin", json={"max_concurrency": 1})  # one write at a time
    api.sim.faults.configure(1, [FaultRule(methods=["POST"], path="*/additions", latency_ms=300)])
    started = api.call("POST", "/pushes", json={"period": "2026-10", "force": True}, status=202)
    seen: list[dict] = []  # type: ignore[type-arg]
    while True:
        view = api.call("GET", f"/runs/{started['id']}", role="viewer")
        if view["status"] != "running":
            break
        seen.append(view)
    midway = [v for v in seen if v["progress"] and 0 < v["progress"]["done"] < 3]
    assert midway, f"never seen part way: {seen[-1:] or view}"
    assert midway[0]["progress"]["total"] == 3 and midway[0]["companies"], "the lines landed so far, by company"
    assert view["status"] == "done" and view["progress"] is None, "the finished run has the final word"
    assert view["summary"]["totals"]["writes"]["landed"] == 3


def test_a_push_whose_server_died_is_interrupted_wherever_it_is_read_and_a_replay_says_so(api: Api) -> None:
    """A push's server died mid-push: its run says running, nobody holds the tenant's lease. The
    run is shown interrupted (the run, the list), and a retry with the push's Idempotency-Key is
    told what happened and how to finish it, not "202 running" again for 30 days."""
    from tests.support.actors import ACTOR

    from meterbridge.services import idempotency, runs
    from meterbridge.services.scope import open_tenant
    from meterbridge.services.views import RunKind
    from meterbridge.web.api.bodies import PushIn

    set_up(api)
    tenant_id = open_tenant(api.ctx, "acme").id
    dead = runs.start_run(api.ctx, tenant_id, "2026-10", RunKind.PUSH, actor=ACTOR)  # its process is gone
    body = PushIn(period="2026-10", force=True).model_dump(mode="json")
    key = idempotency.fingerprint("POST", "/api/v1/tenants/acme/pushes", body)
    assert idempotency.begin(api.ctx, tenant_id, "died-1", key) is None
    idempotency.finish(api.ctx, tenant_id, "died-1", 202, {"id": dead, "status": "running", "kind": "push"})

    listed = api.call("GET", "/runs", role="viewer", params={"kind": "push"})
    assert [(r["id"], r["status"]) for r in listed] == [(dead, "interrupted")]
    shown = api.call("GET", f"/runs/{dead}", role="viewer")
    assert shown["status"] == "interrupted" and "its process is gone" in shown["summary"]["interrupted"]["found"]

    retried = api.http.post(
        "/api/v1/tenants/acme/pushes", json=body, headers={**api.auth("billing"), "Idempotency-Key": "died-1"}
    )
    assert retried.status_code == 409, retried.text
    said = retried.json()
    assert f"run {dead}" in said["message"] and "was interrupted" in said["message"]
    assert "new Idempotency-Key" in said["hint"]
    # as the hint says: a push with a new key runs and completes the month
    again = api.http.post(
        "/api/v1/tenants/acme/pushes", json=body, headers={**api.auth("billing"), "Idempotency-Key": "died-2"}
    )
    assert again.status_code == 202, again.text
    assert api.wait_for(again.json()["id"])["status"] == "done"
