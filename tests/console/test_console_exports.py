"""The console's money pages over plain HTTP, on SQLite and PostgreSQL: the history page's billing
export form downloads the workbook (one sheet per month, totals equal to the push's), a month
without a push comes back to the page saying so; the leak report shows its amounts as money."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from decimal import Decimal

import httpx2
import pytest
from openpyxl import load_workbook
from tests.support.actors import ACTOR
from tests.support.console_world import PASSWORD, ConsoleWorld, _run, set_up

from meterbridge.services import customers, prices, products, push, usage
from meterbridge.services.billing_export import COLUMNS, MEDIA_TYPES
from meterbridge.services.views import ExportFormat


@pytest.fixture
def http(world: ConsoleWorld) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=world.url, follow_redirects=False, timeout=60) as client:
        world.user("acme", "vera", "viewer")
        answer = client.post("/console/sign-in", data={"username": "vera", "password": PASSWORD, "next": "/console"})
        assert answer.status_code == 303, answer.text
        yield client


def test_the_history_page_downloads_the_billing_export(world: ConsoleWorld, http: httpx2.Client) -> None:
    set_up(world)
    pushed = _run(push.push(world.ctx, "acme", "2026-10", force=True, actor=ACTOR))
    history = http.get("/console/t/acme/runs")
    form = re.search(
        r'<form method="get" action="/console/t/acme/billing/export"[^>]*id="billing-export"', history.text
    )
    assert form is not None, "the history page has the export form"
    assert '<label for="xformat">Format</label>' in history.text

    answer = http.get("/console/t/acme/billing/export", params={"period": "2026-10", "to": "", "format": "xlsx"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == MEDIA_TYPES[ExportFormat.XLSX]
    assert answer.headers["content-disposition"] == 'attachment; filename="meterbridge-acme-billing-2026-10.xlsx"'
    book = load_workbook(io.BytesIO(answer.content))
    assert book.sheetnames == ["2026-10"]
    header, *lines, total = book["2026-10"].iter_rows(values_only=True)
    assert header == COLUMNS and total[2] == "total" and lines
    amount = COLUMNS.index("amount")
    billed = sum((Decimal(str(line[amount])) for line in lines), Decimal(0)).quantize(Decimal("0.01"))
    assert billed == Decimal(str(total[amount])).quantize(Decimal("0.01")) == pushed.totals.billed_after

    refused = http.get("/console/t/acme/billing/export", params={"period": "2026-08", "format": "csv"})
    assert refused.status_code == 303
    back = http.get(refused.headers["location"])
    assert "period: no push of 2026-08 has finished" in back.text


def test_the_leak_report_page_shows_its_amounts_as_money(world: ConsoleWorld, http: httpx2.Client) -> None:
    set_up(world)
    # 1,234.5 GB of a cold archive no configuration bills, at 1.10 a GB: $1,357.95 unbilled
    products.save_product(world.ctx, "acme", "archive", kind="storage", unit="GB", basis="max", actor=ACTOR)
    prices.set_price(world.ctx, "acme", "archive", unit_price="1.10", actor=ACTOR)
    customer = customers.list_customers(world.ctx, "acme")[0].external_id
    at = usage.parse_time("at", "2026-10-20T00:00:00Z")
    usage.store_samples(
        world.ctx, "acme", [usage.Sample(customer, "archive", at, Decimal("1234.5"), "GB")], source="t", actor=ACTOR
    )
    page = http.get("/console/t/acme/leaks", params={"period": "2026-10"})
    assert page.status_code == 200, page.text
    assert '<p id="leak-totals">Unbilled usage in 2026-10: <strong>$1,357.95</strong>' in page.text
    assert '<td class="num">$1,357.95</td>' in page.text
