"""Usage files in, streamed: encodings and line endings, all-or-nothing vs store-the-good-rows with an
error report, sample identity (a file twice changes nothing), customers from the file (new, renamed),
late data for a pushed period, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from tests.services.conftest import World
from tests.support.actors import ACTOR
from tests.support.reference_month import PERIOD, identifier

from meterbridge.services import imports, push, usage
from meterbridge.services.context import Context
from meterbridge.services.errors import InvalidInput
from meterbridge.services.ingest import Mode
from meterbridge.services.views import ImportView
from meterbridge.store.models import Customer, CustomerRename, UsageSampleRow

HEADER = "customer,product,measured_at,quantity,unit,customer_name"


def file_import(ctx: Context, data: bytes | str, mode: Mode = Mode.ALL, **options: str) -> ImportView:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return imports.import_file(ctx, "default", io.BytesIO(raw), actor=ACTOR, mode=mode, name="usage.csv", **options)


def stored(ctx: Context) -> list[tuple[str, str, str, str]]:
    with ctx.db.session() as session:
        rows = session.execute(
            select(Customer.external_id, UsageSampleRow.quantity, UsageSampleRow.unit, UsageSampleRow.received_at)
            .join(Customer, Customer.id == UsageSampleRow.customer_id)
            .order_by(Customer.external_id, UsageSampleRow.measured_at)
        ).all()
    return [(c, str(q), u, r.isoformat()) for c, q, u, r in rows]


def customer_count(ctx: Context) -> int:
    with ctx.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(Customer)) or 0)


def test_a_file_twice_changes_nothing_and_a_new_value_is_a_correction(ctx: Context) -> None:
    text = f"{HEADER}\nC1,storage,2026-10-20T00:00:00Z,100.50,GB,One\nC2,server,2026-10-20T00:00:00Z,3,count,Two\n"
    first = file_import(ctx, text)
    assert (first.status, first.rows, first.added, first.new_customers) == ("done", 2, 2, ["C1", "C2"])
    before = stored(ctx)
    assert before[0][1] == "100.5", "quantities are kept as their shortest exact text"
    ctx.clock.advance(hours=1)  # type: ignore[attr-defined]
    again = file_import(ctx, text.replace("100.50", "100.500") + text.splitlines()[1] + "\n")
    assert (again.added, again.replaced, again.unchanged, again.repeated) == (0, 0, 2, 1), "a row twice: repeated"
    assert stored(ctx) == before, "the same values again touch nothing, not even when they were received"
    corrected = file_import(ctx, text.replace("100.50", "90"))
    assert (corrected.added, corrected.replaced, corrected.unchanged) == (0, 1, 1)
    assert stored(ctx)[0][1] == "90" and stored(ctx)[0][3] != before[0][3]


@pytest.mark.parametrize(
    ("encoded", "encoding"),
    [
        (b"\xef\xbb\xbf" + f"{HEADER}\r\nC1,storage,2026-10-20T00:00:00Z,1,GB,Caf\u00e9 S.A.\r\n".encode(), "utf-8"),
        (f"{HEADER}\r\nC1,storage,2026-10-20T00:00:00Z,1,GB,Caf\u00e9 S.A.\r\n".encode("cp1252"), "cp1252"),
        (f"{HEADER}\nC1,storage,2026-10-20T00:00:00Z,1,GB,Caf\u00e9 S.A.\n".encode("utf-16"), "utf-8"),
    ],
    ids=["utf8-bom-crlf", "cp1252", "utf16-bom"],
)
def test_byte_order_marks_line_endings_and_named_encodings_are_read(
    ctx: Context, encoded: bytes, encoding: str
) -> None:
    view = file_import(ctx, encoded, encoding=encoding)
    assert (view.status, view.added) == ("done", 1), view
    with ctx.db.session() as session:
        assert session.scalar(select(Customer.name)) == "Caf\u00e9 S.A."


def test_a_byte_the_encoding_cannot_read_names_its_line_and_what_to_do(ctx: Context) -> None:
    raw = f"{HEADER}\nC1,storage,2026-10-20T00:00:00Z,1,GB,One\nC2,storage,2026-10-20T00:00:00Z,1,GB,Caf".encode()
    view = file_import(ctx, raw + b"\xe9\n")
    assert view.status == "failed" and view.message is not None
    assert view.message.startswith("line 3, byte 41:") and "--encoding cp1252" in view.message
    assert stored(ctx) == [] and customer_count(ctx) == 0
    with pytest.raises(InvalidInput, match="encoding: 'klingon' is not an encoding"):
        file_import(ctx, "x", encoding="klingon")


BAD_ROWS = [
    ("C9,storage,2026-10-20T00:00:00Z,ten,GB,Nine", "quantity", "row 3, column quantity: 'ten' is not a number"),
    ("C9,storage,2026-10-20T00:00:00Z,-1,GB,Nine", "quantity", "row 3, column quantity: -1 cannot be negative"),
    ("C9,storage,2026-10-20T00:00:00,1,GB,Nine", "measured_at", "row 3, column measured_at: '2026-10-20T00:00:00' "
     "has no time zone"),
    ("C9,storage,2027-10-20T00:00:00Z,1,GB,Nine", "measured_at", "is in the future"),
    ("C9,storage,20/10/2026,1,GB,Nine", "measured_at", "is not a date and time (ISO 8601"),
    ("C9,backups,2026-10-20T00:00:00Z,1,GB,Nine", "product", "row 3, column product: product 'backups' does not exist"),
    ("C9,storage,2026-10-20T00:00:00Z,1,count,Nine", "unit", "row 3, column unit:"),
    ("C9,storage,2026-10-20T00:00:00Z,1,parsecs,Nine", "unit", "unknown unit 'parsecs'"),
    ("C9,server,2026-10-20T00:00:00Z,1.5,count,Nine", "quantity", "is not a whole number"),
    ("C9,storage,2026-10-20T00:00:00Z,,GB,Nine", "quantity", "row 3, column quantity: empty"),
    (",storage,2026-10-20T00:00:00Z,1,GB,Nine", "customer", "row 3, column customer: empty"),
    ("ghost,storage,2026-10-20T00:00:00Z,1,GB,", "customer", "row 3: customer 'ghost' does not exist"),
    ("C9,storage,2026-10-20T00:00:00Z,1,GB,Nine,extra", None, "row 3: 7 fields, but the header names 6"),
    ("C1,storage,2026-10-20T00:00:00Z,7,GB,One", "quantity", "row 3: repeats row 2"),
    ("C9,storage,2026-10-20T00:00:00Z,1e-100,GB,Nine", "quantity", "has more digits than any usage"),
    ("C9,storage,0001-01-01T00:00:00+01:00,1,GB,Nine", "measured_at", "is not a time meterbridge bills"),
]  # fmt: skip


@pytest.mark.parametrize(("line", "column", "message"), BAD_ROWS, ids=[m for _, _, m in BAD_ROWS])
def test_every_bad_row_is_named_and_all_or_nothing_stores_nothing(
    ctx: Context, line: str, column: str | None, message: str
) -> None:
    text = f"{HEADER}\nC1,storage,2026-10-20T00:00:00Z,5,GB,One\n{line}\nC2,storage,2026-10-21T00:00:00Z,6,GB,Two\n"
    view = file_import(ctx, text)
    assert view.status == "rejected" and view.rejected == 1
    assert (view.errors[0].row, view.errors[0].column) == (3, column)
    assert message in view.errors[0].message, view.errors[0].message
    assert stored(ctx) == [] and customer_count(ctx) == 0, "nothing partial is stored"
    with pytest.raises(InvalidInput, match=r"nothing was stored \(the error report: import \d+\)") as refused:
        imports.refuse_if_rejected(view)
    assert (refused.value.row, refused.value.field) == (3, column)

    kept = file_import(ctx, text, Mode.VALID)
    assert (kept.status, kept.added, kept.rejected) == ("partial", 2, 1)
    assert [c for c, *_ in stored(ctx)] == ["C1", "C2"]
    report = list(csv.reader(io.StringIO("".join(imports.error_report(ctx, "default", kept.id)))))
    assert report[0] == ["row", "column", "value", "message"]
    assert report[1][:2] == ["3", column or ""] and message in report[1][3]


def test_the_header_must_name_the_columns_or_nothing_is_read(ctx: Context) -> None:
    for text, message in (
        ("customer,product,measured_at,quantity\nC1,storage,2026-10-20T00:00:00Z,1\n", "missing column(s) unit"),
        (f"{HEADER},notes\n", "has unknown column(s) 'notes'"),
        (f"{HEADER},unit\n", "repeats column(s) 'unit'"),
        ("", "the file is empty"),
        (f"{HEADER}\nC1,storage,2026-10-20T00:00:00Z,1,GB,One\x00\n", "NUL character"),
    ):
        view = file_import(ctx, text, Mode.VALID)
        assert view.status == "failed" and message in (view.message or ""), (text, view.message)
    assert stored(ctx) == []


def test_a_million_errors_keep_the_first_thousand_and_count_the_rest(ctx: Context) -> None:
    rows = "".join(f"C{i},storage,2026-10-20T00:00:00Z,x{i},GB,N\n" for i in range(1500))
    view = file_import(ctx, f"{HEADER}\n{rows}C1,storage,2026-10-20T00:00:00Z,1,GB,One\n", Mode.VALID)
    assert (view.rows, view.rejected, view.added) == (1501, 1500, 1)
    assert len(imports.show_import(ctx, "default", view.id, errors=5000).errors) == 1000


def test_json_lines_keep_numbers_exact_and_name_the_line(ctx: Context) -> None:
    lines = [
        {"customer": "C1", "product": "storage", "measured_at": "2026-10-20T00:00:00Z", "quantity": 0.1, "unit": "GB",
         "customer_name": "One"},
        {"customer": "C2", "product": "server", "measured_at": "2026-10-20T00:00:00Z", "quantity": 3, "unit": "count",
         "customer_name": "Two"},
    ]  # fmt: skip
    body = "\n".join(json.dumps(line) for line in lines) + "\n\n[1, 2]\n" + '{"customer": "C3", "colour": "red"}\n'
    body += '{"customer": "C3", "quantity": true}\n{not json\n'
    view = file_import(ctx, body, Mode.VALID, format="jsonl")
    assert (view.added, view.rejected) == (2, 4)
    assert [(e.row, e.column) for e in view.errors] == [(4, None), (5, "colour"), (6, "quantity"), (7, None)]
    assert "line 5: unknown field(s) 'colour'" in view.errors[1].message
    assert stored(ctx)[0][1] == "0.1", "0.1 is read as the decimal it is written as, not a binary float"


def test_customers_come_from_the_file_and_renames_are_kept(ctx: Context) -> None:
    file_import(ctx, f"{HEADER}\nC1,storage,2026-10-20T00:00:00Z,1,GB,Acme\n")
    view = file_import(ctx, f"{HEADER}\nC1,storage,2026-10-21T00:00:00Z,1,GB,Acme Corp\n")
    assert [(r.customer, r.old_name, r.new_name) for r in view.renamed] == [("C1", "Acme", "Acme Corp")]
    with ctx.db.session() as session:
        assert session.scalar(select(Customer.name)) == "Acme Corp"
        rename = session.scalars(select(CustomerRename)).one()
        assert (rename.old_name, rename.new_name, rename.source) == ("Acme", "Acme Corp", "default")
    listed = imports.list_imports(ctx, "default")
    assert [i.id for i in listed] == [view.id, view.id - 1] and listed[0].renamed[0].new_name == "Acme Corp"


def test_unknown_customers_are_listed_for_linking_not_dropped(ctx: Context) -> None:
    rows = "".join(f"ghost-{i % 3},storage,2026-10-20T0{i}:00:00Z,1,GB,\n" for i in range(6))
    view = file_import(ctx, f"{HEADER}\n{rows}", Mode.VALID)
    assert view.unknown_customers == ["ghost-0", "ghost-1", "ghost-2"] and view.rejected == 6
    assert imports.show_import(ctx, "default", view.id).unknown_customers == ["ghost-0", "ghost-1", "ghost-2"]


def test_samples_for_a_pushed_period_are_late_and_a_push_updates_exactly_those(small_month: World) -> None:
    ctx = small_month.ctx
    asyncio.run(push.push(ctx, "default", PERIOD, force=True, actor=ACTOR))
    small_month.clock.advance(hours=2)
    late = f"{HEADER}\n" + "".join(
        f"{identifier(i)},storage,2026-10-29T08:00:00Z,{5000 + i},GB,\n" for i in (0, 20)
    )  # storage is billed by its highest sample: these raise two customers' bills
    view = file_import(ctx, late)
    assert [(v.period, v.samples) for v in view.late] == [(PERIOD, 2)]
    again = file_import(ctx, late)
    assert again.late == [] and again.unchanged == 2, "the same late file again is not late twice"
    preview = asyncio.run(push.preview(ctx, "default", PERIOD, actor=ACTOR))
    flagged = {
        c.customer
        for c in (preview.with_changes().changes or [])
        if any("arrived after this period was first pushed" in s.detail for s in c.explanation)
    }
    assert flagged == {identifier(0), identifier(20)}
    outcome = asyncio.run(push.push(ctx, "default", PERIOD, force=True, actor=ACTOR))
    updated = sorted(c.customer for c in (outcome.with_changes().changes or []) if c.kind.value == "update")
    assert updated == [identifier(0), identifier(20)]
    assert outcome.counts["create"] == 0 and outcome.counts["cancel"] == 0


def test_a_batch_in_mode_valid_answers_each_refused_sample(ctx: Context) -> None:
    at = datetime(2026, 10, 20, tzinfo=UTC)
    samples = [
        usage.Sample("C1", "storage", at, Decimal(1), "GB", "One"),
        usage.Sample("C2", "nothing", at, Decimal(1), "GB", "Two"),
    ]
    with pytest.raises(InvalidInput, match="sample 2, column product"):
        usage.store_samples(ctx, "default", samples, actor=ACTOR)
    answer = usage.store_samples(ctx, "default", samples, actor=ACTOR, mode=Mode.VALID)
    assert (answer.added, answer.rejected) == (1, 1) and answer.errors[0].row == 2


def test_a_file_without_line_breaks_is_refused_not_read_whole(ctx: Context) -> None:
    rows = "".join(f"C{i},storage,2026-10-20T00:00:00Z,1,GB,N\r" for i in range(40_000))  # old Mac line endings
    view = file_import(ctx, f"{HEADER}\r{rows}")
    assert view.status == "failed" and "line 1: over 1 MiB without a line break" in (view.message or "")
