"""Generate a realistic, reproducible scenario: an MSP's ConnectWise with N client companies.

The same ``companies``, ``seed`` and ``as_of`` always give the same document. ``as_of`` is the
day the data is "taken" (the demo and benchmarks pass today's date). Mix per company (drawn from
the seed; fractions are approximate):

* 80 % one "Backup Services" agreement named "Backup - <company>", prorated;
* 5 % two matching backup agreements (an ambiguous case for agreement rules);
* 5 % no backup agreement at all (a missing case), only "Managed Services";
* 4 % a cancelled backup agreement;
* 6 % a backup agreement whose billStartDate is mid-way through the previous month (an
  addition dated the start of that month is refused);
* 15 % also a "Managed Services" agreement, not prorated and invoiced up to next month (new
  additions dated earlier hit the "already invoiced" rule), with a hand-made flat-fee addition
  that is not meterbridge's;
* 10 % a "Backup Stats" configuration from an earlier month.
"""

from __future__ import annotations

import random
import re
from datetime import date, timedelta
from typing import Any

ADJECTIVES = (
    "Northwind",
    "Blue Ridge",
    "Harbor",
    "Summit",
    "Cedar",
    "Granite",
    "Silver Lake",
    "Redwood",
    "Lakeside",
    "Pioneer",
    "Evergreen",
    "Riverside",
    "Copper",
    "Maple",
    "Oakridge",
    "Sunrise",
    "Prairie",
    "Atlas",
    "Beacon",
    "Keystone",
    "Meridian",
    "Orchard",
    "Highland",
    "Coastal",
    "Union",
    "Liberty",
)
NOUNS = (
    "Dental",
    "Logistics",
    "Law Group",
    "Veterinary",
    "Accounting",
    "Builders",
    "Clinic",
    "Realty",
    "Engineering",
    "Bakery",
    "Motors",
    "Insurance",
    "Architects",
    "Pharmacy",
    "Consulting",
    "Foods",
    "Printing",
    "Studios",
    "Outfitters",
    "Labs",
    "Partners",
    "Academy",
    "Hotel",
    "Brewing",
)
SUFFIXES = ("LLC", "Inc", "Ltd", "Co", "PC", "")
FIRST_NAMES = ("Ann", "Ben", "Chloé", "Dmitri", "Eva", "Farah", "Gus", "Hana", "Ivan", "Jo", "Kemal", "Lena")
LAST_NAMES = ("Lee", "O'Brien", "Müller", "Nakamura", "Okafor", "Patel", "Quinn", "Rossi", "Silva", "Tran")

CATALOG: tuple[dict[str, Any], ...] = (
    {
        "identifier": "BACKUP-STORAGE-GB",
        "description": "Cloud backup storage (per GB)",
        "price": 0.12,
        "cost": 0.04,
        "unitOfMeasure": {"name": "GB"},
    },
    {
        "identifier": "BACKUP-STORAGE-GB-T2",
        "description": "Cloud backup storage over 1 TB (per GB)",
        "price": 0.09,
        "cost": 0.03,
        "unitOfMeasure": {"name": "GB"},
    },
    {
        "identifier": "BACKUP-SERVER",
        "description": "Server backup license",
        "price": 45.0,
        "cost": 18.0,
        "unitOfMeasure": {"name": "Each"},
    },
    {
        "identifier": "BACKUP-WORKSTATION",
        "description": "Workstation backup license",
        "price": 12.0,
        "cost": 4.5,
        "unitOfMeasure": {"name": "Each"},
    },
    {
        "identifier": "BACKUP-M365-USER",
        "description": "Microsoft 365 backup (per user)",
        "price": 3.5,
        "cost": 1.2,
        "unitOfMeasure": {"name": "User"},
    },
    {
        "identifier": "MANAGED-SERVICES",
        "description": "Managed services flat fee",
        "price": 1500.0,
        "cost": 0.0,
        "unitOfMeasure": {"name": "Month"},
    },
)


def _stamp(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _identifier(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9]", "", name)[:24] or "Company"
    candidate, n = base, 2
    while candidate.lower() in taken:
        candidate, n = f"{base}{n}", n + 1
    taken.add(candidate.lower())
    return candidate


def generate(companies: int, seed: int, as_of: date) -> dict[str, Any]:
    """A scenario document (see scenario.py) for ``companies`` client companies."""
    if companies < 0:
        raise ValueError("companies must be zero or more")
    rng = random.Random(seed)  # noqa: S311 - reproducible test data
    month_start = as_of.replace(day=1)
    previous_start = (month_start - timedelta(days=1)).replace(day=1)
    year_ago = month_start.replace(year=month_start.year - 1)
    next_month = (month_start + timedelta(days=32)).replace(day=1)

    catalog = [
        {
            **item,
            "subcategory": {"name": "Backup"},
            "type": {"name": "Service"},
            "customerDescription": item["description"],
            "productClass": "Service",
        }
        for item in CATALOG
    ]
    scenario: dict[str, Any] = {
        "companies": [],
        "contacts": [],
        "agreementTypes": [
            {"name": "Backup Services", "prorateFlag": True, "billingCycle": {"id": 2, "name": "Monthly"}},
            {"name": "Managed Services", "prorateFlag": False, "billingCycle": {"id": 2, "name": "Monthly"}},
        ],
        "catalog": catalog,
        "configurationTypes": [{"name": "Backup Stats"}, {"name": "Server"}, {"name": "Workstation"}],
        "agreements": [],
        "additions": [],
        "configurations": [],
    }
    taken: set[str] = set()

    def agreement(company_id: int, name: str, type_name: str, **fields: Any) -> int:
        agreement_id = len(scenario["agreements"]) + 1
        scenario["agreements"].append(
            {
                "id": agreement_id,
                "name": name[:100],
                "type": {"name": type_name},
                "company": {"id": company_id},
                "contact": {"id": company_id},
                "startDate": _stamp(year_ago),
                "billStartDate": _stamp(year_ago),
                "prorateFlag": type_name == "Backup Services",
                **fields,
            }
        )
        return agreement_id

    for index in range(1, companies + 1):
        suffix = rng.choice(SUFFIXES)
        name = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}{(' ' + suffix) if suffix else ''}"
        if name.lower() in taken:
            name = f"{name} {index}"
        taken.add(name.lower())
        identifier = _identifier(name, taken)
        scenario["companies"].append(
            {
                "id": index,
                "identifier": identifier,
                "name": name,
                "city": rng.choice(("Austin", "Leeds", "Perth")),
                "phoneNumber": f"555-{rng.randrange(1000, 9999)}",
            }
        )
        scenario["contacts"].append(
            {
                "id": index,
                "firstName": rng.choice(FIRST_NAMES),
                "lastName": rng.choice(LAST_NAMES),
                "company": {"id": index},
            }
        )
        draw = rng.random()

        if draw < 0.80:
            agreement(index, f"Backup - {name}", "Backup Services")
        elif draw < 0.85:
            agreement(index, f"Backup - {name}", "Backup Services")
            agreement(index, f"Backup (legacy) - {name}", "Backup Services")
        elif draw < 0.90:
            pass
        elif draw < 0.94:
            agreement(
                index,
                f"Backup - {name}",
                "Backup Services",
                cancelledFlag=True,
                dateCancelled=_stamp(previous_start),
                reasonCancelled="Customer left",
            )
        else:
            late_start = previous_start + timedelta(days=14)
            agreement(
                index,
                f"Backup - {name}",
                "Backup Services",
                startDate=_stamp(late_start),
                billStartDate=_stamp(late_start),
            )
        if 0.85 <= draw < 0.90 or rng.random() < 0.15:
            managed = agreement(
                index, f"Managed Services - {name}", "Managed Services", nextInvoiceDate=_stamp(next_month)
            )
            scenario["additions"].append(
                {
                    "agreementId": managed,
                    "product": {"identifier": "MANAGED-SERVICES"},
                    "quantity": 1,
                    "billCustomer": "Billable",
                    "effectiveDate": _stamp(year_ago),
                    "invoiceDescription": "Managed services, monthly",
                }
            )
        if rng.random() < 0.10:
            scenario["configurations"].append(
                {
                    "name": f"{identifier} backup statistics"[:100],
                    "type": {"name": "Backup Stats"},
                    "company": {"id": index},
                    "backupBillableSpaceGb": round(rng.uniform(10, 5000), 2),
                    "backupYear": previous_start.year,
                    "backupMonth": previous_start.month,
                    "billFlag": True,
                }
            )
    return scenario
