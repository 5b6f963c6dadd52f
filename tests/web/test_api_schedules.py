"""Schedules, webhooks and notifications over the REST API: errors by field, roles, secrets once."""

from __future__ import annotations

from tests.web.conftest import Api


def test_schedules_over_the_api_with_errors_by_field_and_roles(api: Api) -> None:
    created = api.call(
        "PUT", "/schedules/monthly", role="admin", json={"kind": "monthly", "day": 31, "missing_day": "skip"}
    )
    assert (created["kind"], created["day"], created["missing_day"], created["at"]) == ("monthly", 31, "skip", "02:00")
    assert created["next_period"] == "2026-11" and created["next_run_at"] == "2026-12-31T02:00:00Z"
    assert "a month without day 31 does not run" in created["description"]
    changed = api.call("PUT", "/schedules/monthly", role="admin", json={"at": "06:30"})
    assert (changed["day"], changed["at"]) == (31, "06:30")
    assert [s["name"] for s in api.call("GET", "/schedules", role="viewer")] == ["monthly"]
    api.call("PUT", "/schedules/monthly", role="billing", json={"at": "07:00"}, status=403)
    assert api.call("GET", "/schedules", role="viewer", tenant="beta") == []
    wrong = api.call("PUT", "/schedules/daily", role="admin", json={"kind": "auto_billing", "minute": 5}, status=422)
    assert wrong["field"] == "minute" and "applies to refresh schedules" in wrong["message"]
    wrong = api.call("PUT", "/schedules/daily", role="admin", json={"kind": "auto_billing", "at": "2am"}, status=422)
    assert wrong["field"] == "at"
    wrong = api.call("PUT", "/schedules/daily", role="admin", json={"kind": "monthly", "days": "x"}, status=422)
    assert wrong["field"] == "days"
    for since in ("1999-12-31", "3001-01-01T00:00Z"):
        wrong = api.call("PUT", "/schedules/daily", role="admin", json={"kind": "monthly", "since": since}, status=422)
        assert wrong["field"] == "since" and wrong["message"] == f"since: {since} is not in the years 2000 to 2999"
    api.call("GET", "/schedules/none", role="viewer", status=404)
    assert api.call("DELETE", "/schedules/monthly", role="admin")["key"] == "monthly"
    assert api.call("GET", "/schedules", role="viewer") == []


def test_webhooks_over_the_api_show_their_secret_once(api: Api) -> None:
    hook = api.call(
        "POST", "/webhooks", role="admin", json={"name": "books", "url": "https://hooks.example.com/mb"}, status=201
    )
    assert len(hook["secret"]) >= 32
    listed = api.call("GET", "/webhooks", role="viewer")
    assert listed == [{k: hook[k] for k in ("name", "url", "enabled", "created_at")}]
    assert hook["secret"] not in str(listed)
    api.call("POST", "/webhooks", role="admin", json={"name": "books", "url": "https://x.example.com"}, status=409)
    metadata = {"name": "meta", "url": "http://169.254.169.254/"}
    bad = api.call("POST", "/webhooks", role="admin", json=metadata, status=422)
    assert bad["field"] == "url"
    assert api.call("PATCH", "/webhooks/books", role="admin", json={"enabled": False})["enabled"] is False
    assert api.call("DELETE", "/webhooks/books", role="admin")["key"] == "books"
    assert api.call("GET", "/notifications", role="viewer") == []
