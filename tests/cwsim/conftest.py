"""Scenarios for the cwsim tests."""

from __future__ import annotations

from typing import Any

import pytest

from cwsim.scenario import load_scenario
from cwsim.sim import Simulator

BASIC: dict[str, Any] = {
    "companies": [
        {"id": 1, "identifier": "Acme", "name": "Acme Inc"},
        {"id": 2, "identifier": "Globex", "name": "Globex Corporation"},
        {"id": 3, "identifier": "Initech", "name": "Initech LLC"},
    ],
    "contacts": [
        {"id": 1, "firstName": "Ann", "lastName": "Lee", "company": {"identifier": "Acme"}},
        {"id": 2, "firstName": "Hank", "lastName": "Scorpio", "company": {"identifier": "Globex"}},
        {"id": 3, "firstName": "Bill", "lastName": "Lumbergh", "company": {"identifier": "Initech"}},
    ],
    "agreementTypes": [{"id": 1, "name": "Backup Services", "prorateFlag": True}, {"id": 2, "name": "Managed"}],
    "catalog": [
        {
            "id": 1,
            "identifier": "BACKUP-GB",
            "description": "Backup storage per GB",
            "price": 0.12,
            "cost": 0.05,
            "subcategory": {"name": "Backup"},
            "type": {"name": "Service"},
            "customerDescription": "Backup storage",
            "unitOfMeasure": {"id": 3, "name": "GB"},
        },
        {
            "id": 2,
            "identifier": "BACKUP-SERVER",
            "description": "Server backup",
            "price": 40,
            "cost": 15,
            "subcategory": {"name": "Backup"},
            "type": {"name": "Service"},
            "customerDescription": "Server backup",
        },
    ],
    "configurationTypes": [{"id": 1, "name": "Backup Stats"}],
    "agreements": [
        {
            "id": 1,
            "name": "Backup",
            "type": {"name": "Backup Services"},
            "company": {"identifier": "Acme"},
            "startDate": "2026-01-01T00:00:00Z",
            "billStartDate": "2026-01-01T00:00:00Z",
            "prorateFlag": True,
        },
        {
            "id": 2,
            "name": "Backup",
            "type": {"name": "Backup Services"},
            "company": {"identifier": "Globex"},
            "startDate": "2026-10-15T00:00:00Z",
            "billStartDate": "2026-10-15T00:00:00Z",
            "prorateFlag": True,
        },
        {
            "id": 3,
            "name": "Managed",
            "type": {"name": "Managed"},
            "company": {"identifier": "Initech"},
            "startDate": "2025-01-01T00:00:00Z",
            "billStartDate": "2025-01-01T00:00:00Z",
            "prorateFlag": False,
            "nextInvoiceDate": "2026-11-01T00:00:00Z",
        },
        {
            "id": 4,
            "name": "Old backup",
            "type": {"name": "Backup Services"},
            "company": {"identifier": "Initech"},
            "startDate": "2024-01-01T00:00:00Z",
            "cancelledFlag": True,
        },
    ],
    "additions": [
        {
            "id": 1,
            "agreementId": 1,
            "product": {"identifier": "BACKUP-GB"},
            "quantity": 100,
            "billCustomer": "Billable",
            "effectiveDate": "2026-09-01T00:00:00Z",
        },
    ],
}


@pytest.fixture
def basic(sim: Simulator) -> Simulator:
    load_scenario(sim, BASIC)
    return sim


def many_companies(n: int) -> dict[str, Any]:
    return {"companies": [{"identifier": f"C{i:05d}", "name": f"Company {i:05d}"} for i in range(1, n + 1)]}
