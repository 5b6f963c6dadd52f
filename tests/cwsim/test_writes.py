"""Writes: POST, PUT, PATCH and DELETE semantics, validation bodies, and the business rules."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient
from tests.support.clocks import FakeClock
from tests.support.contract import ContractLog

from cwsim.rules import ALREADY_INVOICED, CANCELLED_AGREEMENT, EFFECTIVE_BEFORE_BILL_START
from cwsim.sim import Simulator

ADDITION = {
    "product": {"identifier": "BACKUP-GB"},
    "billCustomer": "Billable",
    "quantity": 250.5,
    "effectiveDate": "2026-10-01T00:00:00Z",
    "cancelledDate": "2026-10-31T00:00:00Z",
}


def field_errors(response: Any) -> dict[str, str]:
    body = response.json()
    assert body["code"] == "InvalidObject"
    return {error["field"]: error["message"] for error in body["errors"]}


# -- POST ----------------------------------------------------------------------------------


def test_post_answers_201_with_stored_record_and_info(cw: TestClient, basic: Simulator, clock: FakeClock) -> None:
    created = cw.post("/company/companies", json={"identifier": "Umbrella", "name": "Umbrella Corp", "city": "Raccoon"})
    assert created.status_code == 201
    body = created.json()
    assert body["id"] == 4
    assert body["_info"] == {
        "lastUpdated": "2026-11-22T12:00:00Z",
        "updatedBy": "SimAPI",
        "dateEntered": "2026-11-22T12:00:00Z",
        "enteredBy": "SimAPI",
    }
    assert created.headers["location"].endswith("/company/companies/4")
    assert cw.get("/company/companies/4").json() == body


def test_post_ignores_unknown_read_only_and_null_fields_and_matches_names_loosely(
    cw: TestClient, contract_log: ContractLog
) -> None:
    # ConnectWise's JSON binding is this lenient; the schema is stricter, so say it is on purpose.
    contract_log.allow("'identifier' is a required property")
    body = cw.post(
        "/company/companies",
        json={"id": 999, "Identifier": "Lower", "name": "Case Insensitive", "colour": "red", "website": None},
    ).json()
    assert body["id"] == 1  # the id is the server's
    assert body["identifier"] == "Lower"
    assert "colour" not in body
    assert "website" not in body  # ConnectWise leaves nulls out of its answers


def test_addition_post_computes_and_defaults(cw: TestClient, basic: Simulator) -> None:
    body = cw.post("/finance/agreements/1/additions", json=ADDITION).json()
    assert body["product"] == {"id": 1, "identifier": "BACKUP-GB"}
    assert body["agreementId"] == 1
    assert body["agreementStatus"] == "Active"
    assert body["unitPrice"] == 0.12  # the catalog's price, since the body sent none
    assert body["unitCost"] == 0.05
    assert body["extPrice"] == round(250.5 * 0.12, 2)
    assert body["extCost"] == round(250.5 * 0.05, 2)
    assert body["margin"] == round(body["extPrice"] - body["extCost"], 2)
    assert body["description"] == "Backup storage per GB"
    assert body["uom"] == "GB"
    defaulted = cw.post(
        "/finance/agreements/1/additions", json={"product": {"id": 2}, "billCustomer": "NoCharge", "unitPrice": 0}
    ).json()
    assert defaulted["quantity"] == 1
    assert defaulted["effectiveDate"] == "2026-01-01T00:00:00Z"  # the agreement's billStartDate
    assert defaulted["unitPrice"] == 0


def test_quantities_keep_full_precision(cw: TestClient, basic: Simulator) -> None:
    body = cw.post("/finance/agreements/1/additions", json={**ADDITION, "quantity": 1234.5678}).json()
    assert body["quantity"] == 1234.5678


def test_required_max_length_enum_and_type_errors_are_listed_per_field(cw: TestClient, basic: Simulator) -> None:
    response = cw.post(
        "/finance/agreements/1/additions",
        json={"billCustomer": "Sometimes", "serialNumber": "x" * 51, "quantity": "lots", "taxableFlag": "yes"},
    )
    assert response.status_code == 400
    assert response.json()["message"] == "addition object is invalid"
    errors = field_errors(response)
    assert errors["product"] == "The product field is required."
    assert "Valid values: Billable, DoNotBill, NoCharge" in errors["billCustomer"]
    assert errors["serialNumber"] == "The field serialNumber must be a string with a maximum length of 50."
    assert "quantity" in errors
    assert "taxableFlag" in errors
    assert {e["resource"] for e in response.json()["errors"]} == {"addition"}


def test_custom_fields_are_typed_as_connectwise_describes_them(cw: TestClient, basic: Simulator) -> None:
    wrong = cw.post(
        "/company/companies",
        json={"identifier": "Odd", "name": "Odd", "customFields": [{"id": 4, "userDefinedFieldRecId": [[-3]]}]},
    )
    assert wrong.status_code == 400
    assert "customFields/userDefinedFieldRecId" in field_errors(wrong)
    fine = cw.post(
        "/company/companies",
        json={"identifier": "Fine", "name": "Fine", "customFields": [{"id": 4, "caption": "Tier", "noise": 1}]},
    )
    assert fine.status_code == 201
    assert fine.json()["customFields"] == [{"id": 4, "caption": "Tier"}]


def test_enum_values_are_case_insensitive_and_stored_canonical(
    cw: TestClient, basic: Simulator, contract_log: ContractLog
) -> None:
    contract_log.allow("'donotbill' is not one of")  # lenient binding, on purpose
    body = cw.post("/finance/agreements/1/additions", json={**ADDITION, "billCustomer": "donotbill"}).json()
    assert body["billCustomer"] == "DoNotBill"


def test_body_that_is_not_json_or_not_an_object(cw: TestClient, basic: Simulator) -> None:
    garbage = cw.post("/company/companies", content=b"{not json", headers={"Content-Type": "application/json"})
    assert garbage.status_code == 400
    assert "not valid JSON" in garbage.json()["message"]
    array = cw.post("/company/companies", json=[{"identifier": "x"}])
    assert array.status_code == 400
    wrong_type = cw.post("/company/companies", content=b"identifier=x", headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415
    assert basic.state.counts()["companies"] == 3


def test_duplicate_company_identifier_is_object_exists(cw: TestClient, basic: Simulator) -> None:
    response = cw.post("/company/companies", json={"identifier": "ACME", "name": "Another Acme"})
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error == {
        "code": "ObjectExists",
        "message": "Company ID already in use.",
        "resource": "company",
        "field": "identifier",
    }


def test_year_established_range_uses_connectwise_message(cw: TestClient) -> None:
    response = cw.post("/company/companies", json={"identifier": "Y", "name": "Y", "yearEstablished": 12})
    assert field_errors(response)["yearEstablished"] == "The field yearEstablished must be between 1900 and 9999."


# -- agreement rules -------------------------------------------------------------------------


def test_agreement_defaults_bill_start_date_and_required_on_update_fields(cw: TestClient, basic: Simulator) -> None:
    body = cw.post(
        "/finance/agreements",
        json={
            "name": "New",
            "type": {"name": "Backup Services"},
            "company": {"identifier": "Acme"},
            "contact": {"id": 1},
            "startDate": "2026-11-05T00:00:00Z",
        },
    ).json()
    assert body["billStartDate"] == "2026-11-05T00:00:00Z"
    assert body["prorateFlag"] is True  # from its agreement type
    for field in ("employeeCompRate", "invoicingCycle", "billTime", "billExpenses", "billProducts"):
        assert field in body
    assert body["agreementStatus"] == "Active"
    assert body["type"] == {"id": 1, "name": "Backup Services"}
    assert body["company"] == {"id": 1, "identifier": "Acme", "name": "Acme Inc"}


def test_agreement_references_must_exist_and_fit(cw: TestClient, basic: Simulator) -> None:
    response = cw.post(
        "/finance/agreements",
        json={"name": "Bad", "type": {"name": "Nope"}, "company": {"id": 1}, "contact": {"id": 2}},
    )
    errors = field_errors(response)
    assert errors["type"].startswith("Agreement type not found")
    assert errors["contact"] == "The contact does not belong to the agreement's company."
    missing = cw.post("/finance/agreements", json={"name": "Bad", "type": {"id": 1}, "company": {"id": 1}})
    assert field_errors(missing)["contact"] == "The contact field is required."


def test_cancelled_agreement_status_flows_to_additions(cw: TestClient, basic: Simulator) -> None:
    cw.patch("/finance/agreements/1", json=[{"op": "replace", "path": "cancelledFlag", "value": True}])
    agreement = cw.get("/finance/agreements/1").json()
    assert agreement["agreementStatus"] == "Cancelled"
    assert agreement["dateCancelled"] == "2026-11-22T12:00:00Z"
    assert cw.get("/finance/agreements/1/additions/1").json()["agreementStatus"] == "Cancelled"


# -- addition rules --------------------------------------------------------------------------


def test_effective_date_before_bill_start_date_is_refused(cw: TestClient, basic: Simulator) -> None:
    # Agreement 2 starts billing on 2026-10-15.
    response = cw.post("/finance/agreements/2/additions", json=ADDITION)
    assert response.status_code == 400
    assert field_errors(response) == {"effectiveDate": EFFECTIVE_BEFORE_BILL_START}
    ok = cw.post("/finance/agreements/2/additions", json={**ADDITION, "effectiveDate": "2026-10-15T00:00:00Z"})
    assert ok.status_code == 201
    # The same rule holds for PUT and PATCH.
    moved = cw.patch(
        f"/finance/agreements/2/additions/{ok.json()['id']}",
        json=[{"op": "replace", "path": "effectiveDate", "value": "2026-10-14T00:00:00Z"}],
    )
    assert field_errors(moved) == {"effectiveDate": EFFECTIVE_BEFORE_BILL_START}


def test_already_invoiced_rule_on_non_prorated_agreements_is_switchable(
    cw: TestClient, basic: Simulator, admin: TestClient
) -> None:
    # Agreement 3 is not prorated and has been invoiced up to 2026-11-01.
    body = {**ADDITION, "product": {"identifier": "BACKUP-SERVER"}}
    refused = cw.post("/finance/agreements/3/additions", json=body)
    assert field_errors(refused) == {"effectiveDate": ALREADY_INVOICED}
    after = cw.post(
        "/finance/agreements/3/additions",
        json={**body, "effectiveDate": "2026-11-01T00:00:00Z", "cancelledDate": "2026-11-30T00:00:00Z"},
    )
    assert after.status_code == 201
    admin.patch("/settings", json={"invoiced_rule": False})
    assert cw.post("/finance/agreements/3/additions", json=body).status_code == 201


def test_additions_on_cancelled_agreements_are_refused(cw: TestClient, basic: Simulator) -> None:
    response = cw.post("/finance/agreements/4/additions", json={**ADDITION, "effectiveDate": "2026-01-01T00:00:00Z"})
    assert field_errors(response) == {"agreementId": CANCELLED_AGREEMENT}


def test_product_must_exist_in_catalog(cw: TestClient, basic: Simulator) -> None:
    response = cw.post("/finance/agreements/1/additions", json={**ADDITION, "product": {"identifier": "NOPE"}})
    assert field_errors(response)["product"] == "Product not found (identifier=NOPE)."
    by_id = cw.post("/finance/agreements/1/additions", json={**ADDITION, "product": {"id": 77}})
    assert field_errors(by_id)["product"] == "Product not found (id=77)."


def test_cancelled_date_before_effective_date_is_refused(cw: TestClient, basic: Simulator) -> None:
    response = cw.post("/finance/agreements/1/additions", json={**ADDITION, "cancelledDate": "2026-09-30T00:00:00Z"})
    assert field_errors(response) == {"cancelledDate": "cancelledDate cannot be less than effectiveDate."}


# -- PUT -----------------------------------------------------------------------------------


def test_put_replaces_and_resets_omitted_fields(cw: TestClient, basic: Simulator, clock: FakeClock) -> None:
    created = cw.post("/company/companies", json={"identifier": "Put", "name": "Put Co", "city": "Leeds"}).json()
    clock.advance(hours=1)
    replaced = cw.put(f"/company/companies/{created['id']}", json={"identifier": "Put", "name": "Put Company"})
    assert replaced.status_code == 200
    body = replaced.json()
    assert body["name"] == "Put Company"
    assert "city" not in body  # omitted on PUT: reset
    assert body["_info"]["dateEntered"] == "2026-11-22T12:00:00Z"
    assert body["_info"]["lastUpdated"] == "2026-11-22T13:00:00Z"


def test_put_requires_required_on_update_fields_so_get_merge_put_works(cw: TestClient, basic: Simulator) -> None:
    bare = cw.put(
        "/finance/agreements/1", json={"name": "Renamed", "type": {"id": 1}, "company": {"id": 1}, "contact": {"id": 1}}
    )
    assert bare.status_code == 400
    assert set(field_errors(bare)) == {"employeeCompRate", "invoicingCycle", "billTime", "billExpenses", "billProducts"}
    current = cw.get("/finance/agreements/1").json()
    current.pop("_info")
    merged = cw.put("/finance/agreements/1", json={**current, "name": "Renamed"})
    assert merged.status_code == 200
    assert merged.json()["name"] == "Renamed"
    assert merged.json()["billStartDate"] == current["billStartDate"]


def test_put_of_missing_record_is_404(cw: TestClient, basic: Simulator) -> None:
    assert cw.put("/company/companies/77", json={"identifier": "x", "name": "x"}).status_code == 404


# -- PATCH ---------------------------------------------------------------------------------


def test_patch_replace_add_remove_with_or_without_slash(cw: TestClient, basic: Simulator) -> None:
    response = cw.patch(
        "/finance/agreements/1/additions/1",
        json=[
            {"op": "replace", "path": "quantity", "value": 300},
            {"op": "Add", "path": "/invoiceDescription", "value": "Backup, October"},
            {"op": "replace", "path": "cancelledDate", "value": "2026-10-31T00:00:00Z"},
        ],
    )
    assert response.status_code == 200
    body = response.json()
    assert body["quantity"] == 300
    assert body["extPrice"] == 36.0  # recomputed
    assert body["invoiceDescription"] == "Backup, October"
    removed = cw.patch("/finance/agreements/1/additions/1", json=[{"op": "remove", "path": "invoiceDescription"}])
    assert "invoiceDescription" not in removed.json()


def test_patch_replaces_whole_reference_objects(cw: TestClient, basic: Simulator) -> None:
    moved = cw.patch(
        "/finance/agreements/1/additions/1",
        json=[{"op": "replace", "path": "product", "value": {"identifier": "BACKUP-SERVER"}}],
    )
    assert moved.json()["product"] == {"id": 2, "identifier": "BACKUP-SERVER"}
    nested = cw.patch(
        "/finance/agreements/1/additions/1",
        json=[{"op": "replace", "path": "product/identifier", "value": "BACKUP-GB"}],
    )
    assert nested.status_code == 400
    assert "replace the whole object with path 'product'" in nested.json()["message"]


@pytest.mark.parametrize(
    ("operations", "status", "fragment"),
    [
        ({"op": "replace"}, 400, "non-empty array"),
        ([], 400, "non-empty array"),
        ([{"op": "move", "path": "quantity", "value": 1}], 400, "op must be one of"),
        ([{"op": "replace", "value": 1}], 400, "path must name a field"),
        ([{"op": "replace", "path": "quantity"}], 400, "needs a value"),
        ([{"op": "replace", "path": "Quantity", "value": 1}], 400, "addition object is invalid"),  # case-sensitive
        ([{"op": "replace", "path": "quantity", "value": "many"}], 400, "addition object is invalid"),
    ],
)
def test_bad_patches_are_refused_and_change_nothing(
    cw: TestClient, basic: Simulator, operations: Any, status: int, fragment: str
) -> None:
    before = cw.get("/finance/agreements/1/additions/1").json()
    response = cw.patch("/finance/agreements/1/additions/1", json=operations)
    assert response.status_code == status
    assert fragment in response.json()["message"]
    assert cw.get("/finance/agreements/1/additions/1").json() == before


def test_patch_validates_the_whole_object(cw: TestClient, basic: Simulator) -> None:
    response = cw.patch("/finance/agreements/1/additions/1", json=[{"op": "remove", "path": "product"}])
    assert field_errors(response) == {"product": "The product field is required."}


# -- DELETE --------------------------------------------------------------------------------


def test_delete_answers_204_and_refuses_records_in_use(cw: TestClient, basic: Simulator) -> None:
    in_use = cw.delete("/procurement/catalog/1")
    assert in_use.status_code == 409
    assert "in use by addition 1" in in_use.json()["message"]
    deleted = cw.delete("/finance/agreements/1/additions/1")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert cw.get("/finance/agreements/1/additions/1").status_code == 404
    assert cw.delete("/procurement/catalog/1").status_code == 204
    assert cw.delete("/procurement/catalog/1").status_code == 404


def test_non_numeric_ids(cw: TestClient, basic: Simulator) -> None:
    response = cw.get("/company/companies/abc")
    assert response.status_code == 400
    assert cw.get("/company/companies/99999999999").status_code == 404


# -- other resources -----------------------------------------------------------------------


def test_configurations_carry_backup_stats(cw: TestClient, basic: Simulator) -> None:
    created = cw.post(
        "/company/configurations",
        json={
            "name": "Acme backup",
            "type": {"name": "Backup Stats"},
            "company": {"identifier": "Acme"},
            "backupBillableSpaceGb": 1536.25,
            "backupYear": 2026,
            "backupMonth": 10,
        },
    )
    assert created.status_code == 201
    body = created.json()
    assert body["type"] == {"id": 1, "name": "Backup Stats"}
    assert body["company"]["identifier"] == "Acme"
    found = cw.get("/company/configurations", params={"conditions": "type/name = 'Backup Stats' and backupMonth = 10"})
    assert [c["id"] for c in found.json()] == [body["id"]]
    bad_month = cw.patch(
        f"/company/configurations/{body['id']}", json=[{"op": "replace", "path": "backupMonth", "value": 13}]
    )
    assert field_errors(bad_month) == {"backupMonth": "The field backupMonth must be between 1 and 12."}


def test_agreement_types_and_catalog_crud(cw: TestClient) -> None:
    bare = cw.post("/finance/agreements/types", json={"name": "Backup"})
    assert set(field_errors(bare)) == {
        "employeeCompRate",
        "employeeCompNotExceed",
        "invoicingCycle",
        "billTime",
        "billExpenses",
        "billProducts",
    }
    agreement_type = cw.post(
        "/finance/agreements/types",
        json={
            "name": "Backup",
            "employeeCompRate": "Actual",
            "employeeCompNotExceed": "Billing",
            "invoicingCycle": "CalendarYear",
            "billTime": "Billable",
            "billExpenses": "Billable",
            "billProducts": "Billable",
            "prorateFlag": True,
        },
    ).json()
    assert agreement_type["prorateFlag"] is True
    item = cw.post(
        "/procurement/catalog",
        json={
            "identifier": "NEW",
            "description": "New",
            "subcategory": {"id": 1},
            "type": {"id": 1},
            "customerDescription": "New thing",
            "price": 9.99,
        },
    ).json()
    assert item["productClass"] == "NonInventory"  # "Defaults to Non-Inventory"
    duplicate = cw.post(
        "/procurement/catalog",
        json={
            "identifier": "new",
            "description": "Dup",
            "subcategory": {"id": 1},
            "type": {"id": 1},
            "customerDescription": "Dup",
        },
    )
    assert duplicate.json()["errors"][0]["code"] == "ObjectExists"
    assert cw.get("/procurement/catalog/count").json() == {"count": 1}
    assert cw.get("/finance/agreements/types/count").json() == {"count": 1}
