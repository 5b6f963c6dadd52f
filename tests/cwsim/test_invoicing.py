"""cwsim invoices agreements: which additions count in a period, proration, billCustomer, cents,
nextInvoiceDate moving on, invoices readable through ConnectWise's routes and the admin API."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient
from tests.cwsim.conftest import BASIC

from cwsim.rules import ALREADY_INVOICED
from cwsim.scenario import load_scenario, snapshot
from cwsim.sim import Simulator

OCTOBER = "2026-10-01T00:00:00Z"


def addition(agreement: int, product: str, quantity: float, price: float, start: str, **extra: Any) -> dict[str, Any]:
    return {
        "agreementId": agreement,
        "product": {"identifier": product},
        "quantity": quantity,
        "unitPrice": price,
        "billCustomer": extra.pop("bill", "Billable"),
        "effectiveDate": f"{start}T00:00:00Z",
        **{k: f"{v}T00:00:00Z" for k, v in extra.items()},
    }


SCENARIO: dict[str, Any] = {
    "companies": BASIC["companies"][:2],
    "contacts": BASIC["contacts"][:2],
    "agreementTypes": [{"name": "Backup Services"}],
    "catalog": BASIC["catalog"],  # BACKUP-GB, BACKUP-SERVER
    "agreements": [
        {  # 1: prorated, invoiced up to October
            "name": "Prorated",
            "type": {"name": "Backup Services"},
            "company": {"identifier": "Acme"},
            "billStartDate": "2026-01-01T00:00:00Z",
            "prorateFlag": True,
            "nextInvoiceDate": OCTOBER,
        },
        {  # 2: not prorated, invoiced up to October
            "name": "Full",
            "type": {"name": "Backup Services"},
            "company": {"identifier": "Globex"},
            "billStartDate": "2026-01-01T00:00:00Z",
            "prorateFlag": False,
            "nextInvoiceDate": OCTOBER,
        },
        {  # 3: billing since September, never invoiced
            "name": "New",
            "type": {"name": "Backup Services"},
            "company": {"identifier": "Globex"},
            "billStartDate": "2026-09-01T00:00:00Z",
            "prorateFlag": False,
        },
        {  # 4: cancelled
            "name": "Gone",
            "type": {"name": "Backup Services"},
            "company": {"identifier": "Acme"},
            "cancelledFlag": True,
            "billStartDate": "2026-01-01T00:00:00Z",
        },
    ],
    "additions": [
        addition(1, "BACKUP-GB", 100, 0.10, "2026-09-01"),  # 1: all October
        addition(1, "BACKUP-SERVER", 5, 45, "2026-10-11"),  # 2: October 11-31, 21 of 31 days
        addition(1, "BACKUP-GB", 200, 0.10, "2026-10-01", cancelledDate="2026-10-15"),  # 3: 15 of 31 days
        addition(1, "BACKUP-GB", 50, 0.10, "2026-10-01", bill="NoCharge"),  # 4: on the invoice at no charge
        addition(1, "BACKUP-GB", 70, 0.10, "2026-10-01", bill="DoNotBill"),  # 5: left off
        addition(1, "BACKUP-GB", 80, 0.10, "2026-08-01", cancelledDate="2026-09-30"),  # 6: ended before
        addition(1, "BACKUP-GB", 90, 0.10, "2026-11-01"),  # 7: starts after
        addition(2, "BACKUP-SERVER", 3, 45, "2026-10-20", cancelledDate="2026-10-25"),  # 8: a full month
        addition(2, "BACKUP-GB", 333.33, 0.105, "2026-10-01"),  # 9: 34.99965 -> 35.00
        addition(3, "BACKUP-GB", 10, 1, "2026-09-01", cancelledDate="2026-09-30"),  # 10: September only
        addition(3, "BACKUP-GB", 20, 1, "2026-10-01"),  # 11: from October
    ],
}


@pytest.fixture
def billing(sim: Simulator) -> Simulator:
    load_scenario(sim, SCENARIO)
    return sim


def amounts(invoice: dict[str, Any]) -> dict[int, float]:
    return {line["additionId"]: line["amount"] for line in invoice["lines"]}


def test_a_prorated_agreement_bills_the_days_each_addition_is_active(
    cw: TestClient, admin: TestClient, billing: Simulator
) -> None:
    made = cw.post("/finance/agreements/1/invoice")
    assert made.status_code == 200
    [invoice] = admin.get("/invoices", params={"agreement": 1}).json()
    assert invoice["id"] == made.json()
    assert invoice["period"] == "2026-10"
    # 100 x 0.10 all month; 225 x 21/31 = 152.419..; 20 x 15/31 = 9.677..; NoCharge at 0; DoNotBill,
    # an addition ended in September and one starting in November are not on it
    assert amounts(invoice) == {1: 10.0, 2: 152.42, 3: 9.68, 4: 0.0}
    assert {line["additionId"]: line["days"] for line in invoice["lines"]} == {1: 31, 2: 21, 3: 15, 4: 31}
    assert invoice["total"] == invoice["productTotal"] == 172.1
    assert cw.get("/finance/agreements/1").json()["nextInvoiceDate"] == "2026-11-01T00:00:00Z"
    # invoiced again: November now (addition 7 starts; 3 ended; 2 all month)
    cw.post("/finance/agreements/1/invoice")
    november = admin.get("/invoices", params={"agreement": 1, "period": "2026-11"}).json()[0]
    assert amounts(november) == {1: 10.0, 2: 225.0, 4: 0.0, 7: 9.0}


def test_an_agreement_not_prorated_bills_the_full_amount_and_refuses_what_is_dated_before_its_next_invoice(
    cw: TestClient, admin: TestClient, billing: Simulator
) -> None:
    cw.post("/finance/agreements/2/invoice")
    [invoice] = admin.get("/invoices", params={"agreement": 2}).json()
    assert amounts(invoice) == {8: 135.0, 9: 35.0}  # 3 x 45 though active 6 days; 34.99965 to the cent
    assert {line["days"] for line in invoice["lines"]} == {31}
    late = addition(2, "BACKUP-GB", 5, 1, "2026-10-05")
    refused = cw.post("/finance/agreements/2/additions", json={k: v for k, v in late.items() if k != "agreementId"})
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["message"] == ALREADY_INVOICED


def test_invoicing_a_month_invoices_every_agreement_up_to_it_once(admin: TestClient, billing: Simulator) -> None:
    made = admin.post("/invoices", json={"month": "2026-10"}).json()["invoices"]
    assert [(i["applyToId"], i["period"]) for i in made] == [
        (1, "2026-10"),
        (2, "2026-10"),
        (3, "2026-09"),
        (3, "2026-10"),
    ]
    assert amounts(made[2]) == {10: 10.0} and amounts(made[3]) == {11: 20.0}
    agreements = billing.state.collection("agreements").by_id
    assert {agreements[i].get("nextInvoiceDate") for i in (1, 2, 3)} == {"2026-11-01T00:00:00Z"}
    assert "nextInvoiceDate" not in agreements[4], "a cancelled agreement is not invoiced"
    assert admin.post("/invoices", json={"month": "2026-10"}).json()["invoices"] == []  # nothing twice
    assert admin.post("/invoices", json={"month": "2026-13"}).status_code == 400
    assert admin.post("/invoices", json={}).status_code == 400


def test_invoices_read_like_connectwise_and_only_read(cw: TestClient, admin: TestClient, billing: Simulator) -> None:
    admin.post("/invoices", json={"month": "2026-10"})
    listed = cw.get("/finance/invoices", params={"conditions": "applyToId = 3", "orderBy": "id"}).json()
    assert [i["topComment"] for i in listed] == [
        "Billing period 2026-09-01 to 2026-09-30",
        "Billing period 2026-10-01 to 2026-10-31",
    ]
    assert all("lines" not in i and "period" not in i for i in listed), "cwsim's own fields stay in the admin API"
    assert listed[0]["type"] == "Agreement" and listed[0]["company"]["identifier"] == "Globex"
    assert cw.get("/finance/invoices/count").json() == {"count": 4}
    one = cw.get(f"/finance/invoices/{listed[0]['id']}").json()
    assert one == listed[0]
    assert cw.post("/finance/invoices", json={"type": "Agreement"}).status_code == 405
    assert cw.delete(f"/finance/invoices/{one['id']}").status_code == 405


def test_an_invoiced_addition_cannot_be_deleted_and_a_cancelled_agreement_is_not_invoiced(
    cw: TestClient, billing: Simulator
) -> None:
    cw.post("/finance/agreements/1/invoice")
    refused = cw.delete("/finance/agreements/1/additions/1")
    assert refused.status_code == 409 and "invoiced" in refused.json()["message"]
    assert cw.delete("/finance/agreements/1/additions/7").status_code == 204  # never invoiced
    assert cw.post("/finance/agreements/4/invoice").status_code == 400
    assert cw.post("/finance/agreements/99/invoice").status_code == 404


def test_a_snapshot_keeps_the_invoices(admin: TestClient, billing: Simulator, sim: Simulator) -> None:
    admin.post("/invoices", json={"month": "2026-10"})
    taken = snapshot(billing)
    again = Simulator.create(seed=1)
    load_scenario(again, taken)
    assert snapshot(again)["invoices"] == taken["invoices"]
    assert again.state.collection("invoices").next_id == billing.state.collection("invoices").next_id
