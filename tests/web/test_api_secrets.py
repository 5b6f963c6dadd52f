"""Secrets stay secret: a ConnectWise private key, an API token's value, a password, a pull
source's auth value (echoed back by the source when pulled) and a webhook's signing secret are
never in an answer of the API (after the one that shows a new token or secret), a log line, the
audit log, or readable in the database."""

from __future__ import annotations

import logging
import re

import pytest
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from tests.support.server import serve
from tests.web.conftest import Api

SECRETS = ("PK-never-show-me-7f3a", "another-password-long-enough")
SOURCE_TOKEN = "vendor-token-never-shown-91c2"
HOOK_SECRET = "hook-signing-secret-never-shown-5b"
TABLES = ("connections", "api_tokens", "users", "web_sessions", "audit_log", "usage_sources", "usage_imports",
          "usage_import_errors", "webhooks")  # fmt: skip


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
    secrets = (*secrets, SOURCE_TOKEN, HOOK_SECRET)

    async def echo(request: Request) -> PlainTextResponse:  # a source that answers with what it was sent
        return PlainTextResponse(f"denied: {request.headers.get('authorization')}", status_code=401)

    with serve(Starlette(routes=[Route("/v1/usage", echo), Route("/hook", echo, methods=["POST"])])) as echoing:
        source = {
            "url": f"{echoing}/v1/usage", "auth_header": "Authorization", "auth_value": f"Bearer {SOURCE_TOKEN}",
            "mapping": {"customer": "c", "product": "p", "measured_at": "t", "quantity": "q", "unit": "u"},
        }  # fmt: skip
        shown = api.call("PUT", "/sources/vendor", role="admin", json=source)
        assert SOURCE_TOKEN not in str(shown)
        pulled = api.call("POST", "/sources/vendor/pull", role="admin")
        assert pulled["status"] == "failed" and "401" in pulled["message"], pulled
        hook = {"name": "books", "url": f"{echoing}/hook", "secret": HOOK_SECRET}
        api.call("POST", "/webhooks", role="admin", json=hook, status=201)

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
            for table in TABLES
            for row in connection.execute(text(f"SELECT * FROM {table}"))  # noqa: S608 - fixed table names
        )
    for secret in secrets:
        assert secret not in dump
    assert re.search(r"\$argon2id\$", dump), "passwords are argon2 hashes"
