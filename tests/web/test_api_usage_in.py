"""Usage in over the REST API: file uploads recorded as imports with a downloadable error report,
batches answering each refused sample, and pull sources (the auth value never shown)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from typing import Any

from tests.support.server import serve
from tests.web.conftest import Api

from meterbridge.web.limits import BATCH, BATCH_SAMPLES, BODY, UPLOAD
from vendorsim.app import create_app as create_vendor
from vendorsim.sim import VendorSim, generate

HEADER = "customer,product,measured_at,quantity,unit,customer_name\n"
GOOD = "C1,storage,2026-10-20T00:00:00Z,150,GB,One\n"
BAD = "C2,storage,2026-10-20T00:00:00Z,lots,GB,Two\n"
CSV = {"Content-Type": "text/csv"}
JSON = {"Content-Type": "application/json"}


def test_an_upload_stores_the_good_rows_and_its_error_report_downloads(api: Api) -> None:
    api.call("PUT", "/products/storage", json={"unit": "GB", "kind": "storage"})
    refused = api.call("POST", "/usage/csv", content=HEADER + GOOD + BAD, headers=CSV, status=422)
    assert (refused["row"], refused["field"]) == (3, "quantity") and "nothing was stored" in refused["message"]
    assert api.call("GET", "/usage", role="viewer") == []
    kept = api.call("POST", "/usage/csv", params={"mode": "valid"}, content=HEADER + GOOD + BAD, headers=CSV)
    assert (kept["added"], kept["rejected"], kept["errors"][0]["row"]) == (1, 1, 3)
    report = api.call("GET", f"/usage/imports/{kept['import_id']}/errors", role="viewer")
    rows = list(csv.reader(io.StringIO(report)))
    assert rows[0] == ["row", "column", "value", "message"] and rows[1][:3] == ["3", "quantity", "lots"]
    listed = api.call("GET", "/usage/imports", role="viewer")
    assert [(i["status"], i["origin"]) for i in listed] == [("partial", "api"), ("rejected", "api")]
    assert listed[1]["id"] == int(refused["params"]["import"])
    other = api.call("GET", f"/usage/imports/{kept['import_id']}", role="viewer", tenant="beta", status=404)
    assert other["kind"] == "not_found", "one tenant never sees another's imports"


def test_json_lines_and_batches_in_mode_valid(api: Api) -> None:
    api.call("PUT", "/products/storage", json={"unit": "GB", "kind": "storage"})
    lines = json.dumps({"customer": "C1", "product": "storage", "measured_at": "2026-10-20T00:00:00Z",
                        "quantity": 1.25, "unit": "GB", "customer_name": "One"}) + "\n"  # fmt: skip
    stored = api.call("POST", "/usage/csv", content=lines, headers={"Content-Type": "application/x-ndjson"})
    assert stored["added"] == 1
    sample = {"customer": "C1", "product": "storage", "measured_at": "2026-10-21T00:00:00Z", "quantity": "2",
              "unit": "GB"}  # fmt: skip
    batch = {"mode": "valid", "samples": [sample, {**sample, "product": "tape"}]}
    answer = api.call("POST", "/usage", json=batch)
    assert (answer["added"], answer["rejected"]) == (1, 1)
    assert answer["errors"][0]["row"] == 2 and "product 'tape' does not exist" in answer["errors"][0]["message"]


def test_a_pull_source_over_the_api(api: Api) -> None:
    api.call("PUT", "/products/storage", json={"unit": "GB", "kind": "storage"})
    sim = VendorSim(token="s3cret-token")
    sim.replace(generate(accounts=3, month="2026-10", metrics=("storage",)))
    with serve(create_vendor(sim)) as url:
        body = {
            "url": f"{url}/v1/usage", "auth_header": "Authorization", "auth_value": "Bearer s3cret-token",
            "mapping": {"customer": "account.id", "customer_name": "account.name", "product": "metric",
                        "measured_at": "measured_at", "quantity": "value", "unit": "unit"},
            "every": "hourly", "at_minute": 5, "options": {"paging": "cursor", "page_size": 2},
        }  # fmt: skip
        saved = api.call("PUT", "/sources/vendor", json=body, role="admin")
        assert saved["auth_header"] == "Authorization" and saved["every"] == "hourly"
        api.call("PUT", "/sources/vendor", json=body, role="billing", status=403)
        pulled = api.call("POST", "/sources/vendor/pull")
        assert (pulled["status"], pulled["added"], pulled["pages"]) == ("done", 3, 2)
        listed = api.call("GET", "/sources", role="viewer")
        assert listed[0]["last_import"] == pulled["id"] and "s3cret" not in json.dumps(listed)
        bad = api.call(
            "PUT", "/sources/vendor", json={**body, "options": {"paging": "scroll"}}, role="admin", status=422
        )
        assert bad["field"] == "paging"


def _realistic(i: int) -> dict[str, str]:
    """A sample as a vendor's batch sends it: a customer id and name, a product, an hourly time."""
    return {
        "customer": f"CUST-{i % 20_000:06d}", "product": "storage", "measured_at": f"2026-10-{1 + i % 28:02d}T"
        f"{i % 24:02d}:00:00Z", "quantity": f"{i % 100_000 / 100:.2f}", "unit": "GB",
        "customer_name": f"Customer {i % 20_000} Pty Ltd (Sydney office)",
    }  # fmt: skip


def test_a_batch_of_100000_samples_fits_its_body_limit_and_one_more_byte_does_not(api: Api) -> None:
    """The documented batch (100,000 samples) fits the JSON body limit (32 MiB) with room to spare;
    a body of exactly the limit is read, one byte over it is refused with 413 before it is read."""
    api.call("PUT", "/products/storage", json={"unit": "GB", "kind": "storage"})
    batch = json.dumps({"mode": "valid", "samples": [_realistic(i) for i in range(BATCH_SAMPLES)]}).encode()
    assert len(batch) < BATCH / 1.5, len(batch)  # about 19 MB
    stored = api.call("POST", "/usage", content=batch, headers=JSON)
    assert (stored["added"], stored["rejected"]) == (BATCH_SAMPLES, 0)
    more = json.dumps({"samples": [_realistic(i) for i in range(BATCH_SAMPLES + 1)]}).encode()
    too_many = api.call("POST", "/usage", content=more, headers=JSON, status=422)
    assert too_many["field"] == "samples", too_many
    edge = b'{"samples": []' + b" " * (BATCH - len(b'{"samples": []}')) + b"}"
    assert len(edge) == BATCH
    assert api.call("POST", "/usage", content=edge, headers=JSON)["added"] == 0
    over = api.call("POST", "/usage", content=edge + b" ", headers=JSON, status=413)
    assert over["field"] == "body" and "32 MiB" in over["message"]
    other = api.call("PUT", "/products/tape", content=b"{" + b" " * BODY + b"}", headers=JSON, status=413)
    assert "1 MiB" in other["message"], "the batch's limit is its route's only"


def test_a_usage_file_is_limited_to_256_mib_exactly(api: Api) -> None:
    """The app's limit for /usage/csv, at its edge: a declared length of exactly 256 MiB reaches the
    route (which then wants a token: 401), one byte more is refused with 413 (nothing is sent)."""
    answers: list[Any] = []

    async def send(message: Any) -> None:
        answers.append(message)

    async def receive() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    for size in (UPLOAD, UPLOAD + 1):
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": "/api/v1/tenants/acme/usage/csv", "raw_path": b"/api/v1/tenants/acme/usage/csv",
            "query_string": b"", "root_path": "", "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1),
            "headers": [(b"content-type", b"text/csv"), (b"content-length", b"%d" % size)],
        }  # fmt: skip
        asyncio.run(api.app(scope, receive, send))
    statuses = [m["status"] for m in answers if m["type"] == "http.response.start"]
    assert statuses == [401, 413]
    assert "256 MiB" in json.loads(answers[-1]["body"])["message"]
