"""A description template the billing core would not render is refused by PUT /configurations
with a 422 body naming the field, the position and what to write; nothing is stored."""

from __future__ import annotations

from tests.web.conftest import Api


def test_a_bad_description_template_answers_422_naming_description(api: Api) -> None:
    api.call("PUT", "/products/storage", json={"kind": "storage", "unit": "GB", "basis": "max",
                                               "cw_product": "BACKUP-STORAGE-GB"})  # fmt: skip
    api.call("PUT", "/customers/C1", json={"name": "One"})
    good = {"customer": "C1", "options": {"products": ["storage"], "description": "{product} {month}"}}
    api.call("PUT", "/configurations/c", json=good)
    for template, message in (
        ("{product:>1000000000}{customer:>1000000000}", "format specs"),
        ("{quantity:d}", "format specs"),
        ("{product:{period}}", "nested fields"),
        ("{product!r}", "conversions"),
        ("{product.x}", "attribute and index access"),
        ("{colour}", "unknown placeholder(s) {colour}"),
    ):
        for key in ("c", "new"):
            body = {"customer": "C1", "options": {"products": ["storage"], "description": template}}
            refused = api.call("PUT", f"/configurations/{key}", json=body, status=422)
            assert refused["kind"] == "invalid_input" and refused["field"] == "description", refused
            assert refused["position"] == 0 and message in refused["message"], refused
    shown = api.call("GET", "/configurations/c", role="viewer")
    assert shown["options"]["description"] == "{product} {month}"
    api.call("GET", "/configurations/new", role="viewer", status=404)
