"""An upload's encoding over the REST API: only text encodings; a codec such as rot13, hex, base64
or zlib_codec, or a name Python does not know, answers 422 with the error body naming the field
(never a 500), before anything is recorded; and the error report downloads formula-safe."""

from __future__ import annotations

import csv
import io

import pytest
from tests.web.conftest import Api

HEADER = "customer,product,measured_at,quantity,unit,customer_name\n"
GOOD = "C1,storage,2026-10-20T00:00:00Z,150,GB,One\n"
CSV = {"Content-Type": "text/csv"}
REFUSED = ["rot13", "hex", "base64", "zlib_codec", "nope", "punycode", "undefined", "bz2_codec"]


def test_an_encoding_that_is_not_a_text_encoding_answers_422_naming_the_field(api: Api) -> None:
    api.call("PUT", "/products/storage", json={"unit": "GB", "kind": "storage"})
    for name in REFUSED:
        for kind in ("text/csv", "application/x-ndjson"):
            refused = api.call(
                "POST", "/usage/csv", params={"encoding": name}, content=HEADER + GOOD,
                headers={"Content-Type": kind}, status=422,
            )  # fmt: skip
            assert (refused["kind"], refused["field"]) == ("invalid_input", "encoding"), refused
            assert f"encoding: {name!r}" in refused["message"], refused
            assert "utf-8, utf-16, latin-1 or cp1252" in refused["message"], refused
    assert api.call("GET", "/usage/imports", role="viewer") == [], "refused before anything is recorded"
    stored = api.call("POST", "/usage/csv", params={"encoding": "latin-1"}, content=HEADER + GOOD, headers=CSV)
    assert stored["added"] == 1


@pytest.mark.parametrize(("name", "field"), [("x" * 41, "encoding"), ("utf-8\x00", "query"), ("", "encoding")])
def test_an_encoding_too_long_empty_or_with_a_nul_answers_422(api: Api, name: str, field: str) -> None:
    refused = api.call("POST", "/usage/csv", params={"encoding": name}, content=HEADER + GOOD, headers=CSV, status=422)
    assert (refused["kind"], refused["field"]) == ("invalid_input", field), refused


def test_the_error_report_download_is_formula_safe(api: Api) -> None:
    api.call("PUT", "/products/storage", json={"unit": "GB", "kind": "storage"})
    bad = (
        '"=HYPERLINK(""https://evil.example"",""open"")",storage,2026-10-20T00:00:00Z,1,GB,\n'
        "C1,storage,2026-10-20T00:00:00Z,-2+3,GB,One\n"
        "C1,storage,2026-10-20T00:00:00Z,1,@SUM(A1),One\n"
        'C1,storage,2026-10-20T00:00:00Z,"\t=1",GB,One\n'
    )
    kept = api.call("POST", "/usage/csv", params={"mode": "valid"}, content=HEADER + GOOD + bad, headers=CSV)
    assert (kept["added"], kept["rejected"]) == (1, 4)
    report = api.call("GET", f"/usage/imports/{kept['import_id']}/errors", role="viewer")
    values = [row[2] for row in list(csv.reader(io.StringIO(report)))[1:]]
    assert values == ['\'=HYPERLINK("https://evil.example","open")', "'-2+3", "'@SUM(A1)", "'\t=1"]
