"""Formula-safe CSV (services/csvsafe.py): a cell a spreadsheet would run as a formula gets a quote
in front, plain numbers stay numbers; and every CSV meterbridge writes goes through it."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest

from meterbridge.services.csvsafe import FORMULA_LEADS, csv_line, csv_text, safe_cell, writer

SRC = Path(__file__).resolve().parents[2] / "src" / "meterbridge"


def read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize("lead", FORMULA_LEADS, ids=["equals", "plus", "minus", "at", "tab", "cr"])
def test_every_dangerous_leading_character_gets_a_quote(lead: str) -> None:
    for text in (f"{lead}cmd|' /C calc'!A0", f'{lead}HYPERLINK("https://evil.example")', lead, f"{lead}1+1"):
        assert safe_cell(text) == "'" + text
        assert read(csv_line(["x", text])) == [["x", "'" + text]], "the quoted value reads back, quote and all"


@pytest.mark.parametrize(
    "text",
    ['=HYPERLINK("https://evil.example","x")', "+1+cmd", "@SUM(A1:A9)", "-2+3", "\t=1", "\r=1", "-inf", "- 5",
     "-5 ", "+1\n", "-1,5", "-0x10", "--1", "-١", "=1"],
)  # fmt: skip
def test_what_is_not_a_plain_number_is_neutralised(text: str) -> None:
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["-5", "+1", "-12.50", "+0.5", "-.5", "-5.", "-1E+5", "-2e-3", "0", "42", "1e5"])
def test_plain_numbers_are_left_as_they_are(text: str) -> None:
    assert safe_cell(text) == text


def test_numbers_none_and_empty() -> None:
    assert safe_cell(None) == "" and safe_cell("") == ""
    assert [safe_cell(v) for v in (3, -3, Decimal("-12.50"), -0.5, True)] == ["3", "-3", "-12.50", "-0.5", "True"]
    assert safe_cell(float("-inf")) == "'-inf", "not a number a spreadsheet reads: quoted like any text"
    assert csv_line([None, "", 0, -1, "a,b", 'say "hi"']) == ',,0,-1,"a,b","say ""hi"""\n'


def test_safe_text_elsewhere_is_untouched() -> None:
    for text in ("plain", " =1", "a=b", "'=1", "1-2", "row 3, column quantity: '=1' is not a number", "é=", "x\r\n=1"):
        assert safe_cell(text) == text


def test_a_line_break_inside_a_value_never_starts_a_row() -> None:
    for text in ("abc\r=1+1", "abc\n=1+1", "abc\r\n@SUM(A1)", "\r"):
        line = csv_line([1, text, "x"])
        assert line.endswith("\n") and line.count('"') == 2, "quoted, so CR and LF stay inside the cell"
        assert read(line) == [["1", safe_cell(text), "x"]]


def test_the_writer_and_the_text_agree() -> None:
    rows = [["row", "column", "value"], [3, "quantity", "=1+1"], [4, None, "-4"]]
    out = io.StringIO()
    made = writer(out)
    made.writerow(rows[0])
    made.writerows(rows[1:])
    assert out.getvalue() == csv_text(rows) == "".join(csv_line(r) for r in rows)
    assert read(out.getvalue()) == [["row", "column", "value"], ["3", "quantity", "'=1+1"], ["4", "", "-4"]]


def test_every_csv_meterbridge_writes_goes_through_csvsafe() -> None:
    writes = re.compile(r"csv\.(writer|DictWriter)\b|\bDictWriter\(|from csv import")
    found = [
        f"{path.relative_to(SRC)}:{number}"
        for path in sorted(SRC.rglob("*.py"))
        if path.name != "csvsafe.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if writes.search(line)
    ]
    assert found == [], "write CSV with meterbridge.services.csvsafe (formula-safe), not the csv module"
