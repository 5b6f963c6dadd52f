"""Secrets stay secret: a ConnectWise private key, an API token's value and a password are never
in an answer of the API (after the one that shows a new token), a log line, the audit log, or
readable in the database."""

from __future__ import annotations

import logging
import re

import pytest
from sqlalchemy import text
from tests.web.conftest import Api

SECRETS = ("PK-never-show-me-7f3a", "another-password-long-enough")


def test_no_secret_in_any_answer_log_line_or_audit_entry(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    key, password = SECRETS
    site = api.call("GET", "/connection", role="viewer")["site"]
    saved = api.call(
        "PUT",
        "/connection",
        role="admin",
        json={"site": site, "company_id": "sim", "public_key": "simpub", "private_key": key, "client_id": "t"},
    )
    assert "private_key" not in saved and key not in str(saved)
    api.call("POST", "/connection/test")  # cwsim refuses the key: the failure must not echo it
    api.call("PUT", "/members/bob@example.com", role="admin", json={"role": "viewer", "password": password})
    created = api.call("POST", "/tokens", role="admin", json={"name": "script", "role": "viewer"}, status=201)
    token = created["token"]
    secrets = (key, password, token, token.split("_", 2)[2])  # mb_ID_RANDOM: the random part may hold "_" itself
    api.http.post("/api/v1/session", json={"username": "bob@example.com", "password": password})
    api.http.post("/api/v1/session", json={"username": "bob@example.com", "password": password + "x"})

    spec = api.http.get("/openapi.json").json()
    answers = []
    for path, item in spec["paths"].items():
        if "get" not in item or "{" in path.replace("{tenant}", ""):
            continue
        concrete = path.replace("{tenant}", "acme")
        params = (
            {"period": "2026-10"} if any(p.get("name") == "period" for p in item["get"].get("parameters", [])) else {}
        )
        answers.append(api.http.get(concrete, params=params, headers=api.auth("admin")).text)
    audit = api.call("GET", "/audit", role="admin", params={"limit": 1000})
    assert len(answers) > 20 and audit
    everything = "\n".join([*answers, str(audit), caplog.text])
    for secret in secrets:
        assert secret not in everything

    with api.ctx.db.engine.connect() as connection:
        dump = "\n".join(
            str(row)
            for table in ("connections", "api_tokens", "users", "web_sessions", "audit_log")
            for row in connection.execute(text(f"SELECT * FROM {table}"))  # noqa: S608 - fixed table names
        )
    for secret in secrets:
        assert secret not in dump
    assert re.search(r"\$argon2id\$", dump), "passwords are argon2 hashes"
