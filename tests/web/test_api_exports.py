"""The billing export and the leak report in money over the REST API, on SQLite and PostgreSQL:
the file with its content type, read back (CSV parsed, XLSX opened with openpyxl) to the run's
totals; bad input answered 422 naming its field; what a viewer may read."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from openpyxl import load_workbook
from tests.web.conftest import Api
from tests.web.test_api_month import set_up

from meterbridge.services.billing_export import COLUMNS, MEDIA_TYPES
from meterbridge.services.views import ExportFormat

EXPORT = "/api/v1/tenants/acme/exports/billing"


def pushed_october(api: Api) -> dict[str, object]:
    set_up(api)
    samples = [
        {"customer": c, "product": "storage", "measured_at": "2026-10-20T00:00:00Z", "quantity": q, "unit": "GB"}
        for c, q in (("C1", "1500"), ("C2", "250"))
    ]
    api.call("POST", "/usage", json={"source": "api", "samples": samples})
    started = api.call("POST", "/pushes", json={"period": "2026-10", "force": True}, status=202)
    done: dict[str, object] = api.wait_for(int(started["id"]))
    return done


def test_the_billing_export_is_a_file_whose_totals_are_the_runs(api: Api) -> None:
    done = pushed_october(api)
    totals = done["summary"]["totals"]  # type: ignore[index]
    assert totals["billed_after"] == "165.00"  # 140.00 (1,500 GB on graduated tiers) + 25.00

    as_csv = api.http.get(EXPORT, params={"period": "2026-10"}, headers=api.auth("viewer"))
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"] == MEDIA_TYPES[ExportFormat.CSV]
    assert as_csv.headers["content-disposition"] == 'attachment; filename="meterbridge-acme-billing-2026-10.csv"'
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    *lines, total = rows
    assert tuple(rows[0]) == COLUMNS and total["row"] == "total"
    assert {r["configuration"]: (r["quantity"], r["unit_price"], r["amount"]) for r in lines if r["addition"]} == {
        "C1-storage": ("1500.00", "0.093333", "140.00"),
        "C2-storage": ("250.00", "0.10", "25.00"),
    }
    # the lines without usage (C1's servers, C3's storage) are listed too, billing nothing
    assert {r["configuration"]: r["amount"] for r in lines if not r["addition"]} == {
        "C1-servers": "0.00",
        "C3-storage": "0.00",
    }
    assert total["amount"] == totals["billed_after"] == str(sum(Decimal(r["amount"]) for r in lines))
    assert {int(r["run"]) for r in rows} == {done["id"]}

    as_xlsx = api.http.get(EXPORT, params={"period": "2026-10", "format": "xlsx"}, headers=api.auth("viewer"))
    assert as_xlsx.status_code == 200, as_xlsx.text
    assert as_xlsx.headers["content-type"] == MEDIA_TYPES[ExportFormat.XLSX]
    book = load_workbook(io.BytesIO(as_xlsx.content))
    assert book.sheetnames == ["2026-10"]
    *_, last = book["2026-10"].iter_rows(values_only=True)
    assert last[2] == "total" and Decimal(str(last[COLUMNS.index("amount")])) == Decimal("165")

    for params, field in (
        ({"period": "2026-13"}, "period"),
        ({"period": "2026-10", "to": "2026-09"}, "to"),
        ({"period": "2026-08"}, "period"),  # no push
        ({"period": "2026-10", "format": "pdf"}, "format"),
    ):
        refused = api.http.get(EXPORT, params=params, headers=api.auth("viewer"))
        assert refused.status_code == 422, (params, refused.text)
        assert refused.json()["field"] == field, (params, refused.json())


def test_the_leak_report_answers_its_totals_in_money(api: Api) -> None:
    pushed_october(api)
    api.call(
        "POST",
        "/usage",
        json={
            "source": "api",
            "samples": [
                {"customer": "C2", "product": "server", "measured_at": "2026-10-20T00:00:00Z", "quantity": "2",
                 "unit": "count"},
            ],
        },
    )  # fmt: skip
    report = api.call("GET", "/leaks", role="viewer", params={"period": "2026-10"})
    [leak] = report["leaks"]
    assert (leak["kind"], leak["customer"], leak["subject"], leak["amount"]) == (
        "usage-without-line",
        "C2",
        "server",
        "90.00",  # 2 servers at the price list's 45
    )
    assert (report["period"], report["unbilled"], report["billed_without_usage"]) == ("2026-10", "90.00", "0.00")
    assert "it would bill $90.00 at the price list" in leak["detail"]
