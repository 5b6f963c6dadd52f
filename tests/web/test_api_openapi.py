"""The OpenAPI document is stable: what the server serves is docs/openapi.json, so a change to
the API is made on purpose (run scripts/openapi and review the difference)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.web.conftest import Api

from meterbridge.web.openapi import document

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_the_served_openapi_document_is_the_committed_one(api: Api) -> None:
    served = api.http.get("/openapi.json").json()
    committed = json.loads(COMMITTED.read_text())
    assert served == committed, "the API changed: run scripts/openapi, review docs/openapi.json, commit it"
    assert document() == committed
    assert committed["info"]["version"] == "1.0.0"
    assert all(op.get("operationId") for item in committed["paths"].values() for op in item.values())
