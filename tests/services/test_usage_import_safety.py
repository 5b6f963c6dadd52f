"""Usage imports against hostile input: an error report opens in a spreadsheet as data, never as
formulas (values from files and pull sources are the sender's), and an encoding that is not a
text encoding (rot13, hex, base64, zlib_codec) or no encoding at all is refused up front, naming
the field, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io

import pytest
from tests.support.actors import ACTOR

from meterbridge.services import imports
from meterbridge.services.context import Context
from meterbridge.services.errors import InvalidInput
from meterbridge.services.ingest import Mode
from meterbridge.sources import SourceError
from meterbridge.sources.files import check_encoding, csv_records

HEADER = "customer,product,measured_at,quantity,unit,customer_name"
GOOD = "C1,storage,2026-10-20T00:00:00Z,5,GB,One"
HOSTILE = [  # (a bad row, the column it is refused at, the value as the report writes it)
    ('"=HYPERLINK(""https://evil.example"",""open"")",storage,2026-10-20T00:00:00Z,1,GB,', "customer",
     '\'=HYPERLINK("https://evil.example","open")'),
    ("C1,storage,2026-10-20T00:00:00Z,1,@SUM(A1:A9),One", "unit", "'@SUM(A1:A9)"),
    ("C1,storage,2026-10-20T00:00:00Z,-2+3,GB,One", "quantity", "'-2+3"),
    ('C1,storage,2026-10-20T00:00:00Z,"\t=1+1",GB,One', "quantity", "'\t=1+1"),
    ('C1,storage,2026-10-20T00:00:00Z,"\r=cmd|\' /C calc\'!A0",GB,One', "quantity", "'\r=cmd|' /C calc'!A0"),
    ('C1,"storage\r=1+1",2026-10-20T00:00:00Z,1,GB,One', "product", "storage\r=1+1"),  # a CR inside: quoted
    ("C1,+1+cmd,2026-10-20T00:00:00Z,1,GB,One", "product", "'+1+cmd"),
    # plain numbers are not formulas: a spreadsheet reads the number, so they are left as they are
    ("C1,+1,2026-10-20T00:00:00Z,1,GB,One", "product", "+1"),
    ("C1,storage,2026-10-20T00:00:00Z,-1,GB,One", "quantity", "-1"),
]  # fmt: skip
NOT_TEXT = ["rot13", "rot_13", "hex", "base64", "zlib_codec", "bz2", "uu", "quopri", "punycode", "idna",
            "unicode_escape", "undefined"]  # fmt: skip
UNKNOWN = ["nope", "", "utf-8\x00", "\ud800"]


def test_an_error_report_neutralises_every_value_a_spreadsheet_would_run(ctx: Context) -> None:
    text = "\n".join([HEADER, GOOD, *(line for line, _, _ in HOSTILE)]) + "\n"
    view = imports.import_file(ctx, "default", io.BytesIO(text.encode()), actor=ACTOR, mode=Mode.VALID, name="u.csv")
    assert (view.status, view.added, view.rejected) == ("partial", 1, len(HOSTILE)), view
    report = "".join(imports.error_report(ctx, "default", view.id))
    rows = list(csv.reader(io.StringIO(report)))
    assert rows[0] == ["row", "column", "value", "message"]
    assert [(r[0], r[1]) for r in rows[1:]] == [(str(n), column) for n, (_, column, _) in enumerate(HOSTILE, start=3)]
    assert [r[2] for r in rows[1:]] == [written for _, _, written in HOSTILE]
    assert all(r[3].startswith("row ") for r in rows[1:]), "messages start with the row they name"
    for cell in (cell for row in rows for cell in row if cell not in ("+1", "-1")):
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    assert report.count("\n") == len(rows), "one line a row: every line break inside a value is quoted"
    assert "\n\r" not in report and ",\r" not in report


@pytest.mark.parametrize("name", NOT_TEXT + UNKNOWN)
def test_only_text_encodings_are_accepted(ctx: Context, name: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        imports.import_file(ctx, "default", io.BytesIO(f"{HEADER}\n{GOOD}\n".encode()), actor=ACTOR, encoding=name)
    assert refused.value.field == "encoding"
    assert repr(name) in refused.value.message and "utf-8, utf-16, latin-1 or cp1252" in refused.value.message
    assert imports.list_imports(ctx, "default") == [], "refused before anything is recorded"


@pytest.mark.parametrize("name", NOT_TEXT + UNKNOWN)
def test_the_file_reader_refuses_them_too(name: str) -> None:
    with pytest.raises(SourceError, match="utf-8, utf-16, latin-1 or cp1252") as refused:
        list(csv_records(io.BytesIO(f"{HEADER}\n{GOOD}\n".encode()), encoding=name))
    assert refused.value.column == "encoding"


@pytest.mark.parametrize(
    ("name", "python"),
    [("utf-8", "utf-8"), ("UTF8", "utf-8"), ("utf-16", "utf-16"), ("latin-1", "iso8859-1"), ("cp1252", "cp1252"),
     ("utf_8_sig", "utf-8-sig"), ("shift_jis", "shift_jis"), ("utf-32", "utf-32")],
)  # fmt: skip
def test_text_encodings_are_accepted(name: str, python: str) -> None:
    assert check_encoding(name) == python
    assert imports.check_encoding_name(name) == python
