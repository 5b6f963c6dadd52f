"""CSV that a spreadsheet opens as data, never as a formula (OWASP "CSV injection").

Every CSV meterbridge writes goes through this module: the import error reports (the API's
``/usage/imports/{id}/errors``, the console's download, ``usage errors --output``) and the runs
history (``runs.csv``). Error reports carry values from files and from pull sources, which a
vendor controls: a cell such as ``=HYPERLINK("https://evil.example", "click")`` or
``-2+3+cmd|' /C calc'!A0`` would run as a formula in Excel, LibreOffice or Google Sheets.

The rules, for each cell:

* ``None`` is written as an empty cell.
* Anything else is written as its text (``str``); a cell holding a comma, a quote or a line
  break (LF or CR) is quoted, so that a value can never start a row of its own.
* Text that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a single quote
  (``'``) in front, which spreadsheets show as text and never evaluate; the value after the quote
  is the original, unchanged.
* Except a plain number: text that is a whole decimal number, with at most a sign, ASCII digits, a
  decimal point and an exponent (``-5``, ``+1``, ``-12.50``, ``-1E+5``), is left as it is. A
  spreadsheet reads it as that number and evaluates nothing, and negative amounts (credits in
  ``runs.csv``, a refused ``-1`` quantity) stay numbers. Anything more, ``-2+3``, ``+1;x``, ``-5 ``
  or ``-inf``, is not a plain number and gets the quote.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from typing import Protocol

#: What a cell a spreadsheet would read as a formula starts with (OWASP's list).
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
#: A plain decimal number: no formula, whatever its sign (ASCII digits only, the whole cell).
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

Row = Iterable[object]


class _Text(Protocol):
    def write(self, text: str, /) -> object: ...


def safe_cell(value: object) -> str:
    """A cell's text as written: empty for None, a quote in front of what would be a formula."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if text.startswith(FORMULA_LEADS) and _NUMBER.fullmatch(text) is None:
        return "'" + text
    return text


class SafeWriter:
    """Writes rows as ``csv_line`` does (LF line endings, minimal quoting, every cell through ``safe_cell``)."""

    def __init__(self, out: _Text) -> None:
        self._out = out

    def writerow(self, row: Row) -> None:
        self._out.write(csv_line(row))

    def writerows(self, rows: Iterable[Row]) -> None:
        for row in rows:
            self.writerow(row)


def writer(out: _Text) -> SafeWriter:
    """A formula-safe CSV writer to ``out`` (a text file opened with ``newline=""``, or ``io.StringIO``)."""
    return SafeWriter(out)


def csv_line(row: Row) -> str:
    """One row as a formula-safe CSV line ending in LF (for reports streamed a line at a time).

    A cell holding a line break, CR included, is quoted: Python 3.11's writer quotes only the
    characters of its line terminator, so with LF alone ``abc\r=1`` went out bare and a reader
    that ends lines at a CR saw a new row starting ``=1``. The row is written with CRLF (both
    quoted), then ends in LF as meterbridge's CSV always has."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([safe_cell(value) for value in row])
    return out.getvalue()[:-2] + "\n"


def csv_text(rows: Iterable[Row]) -> str:
    """Rows as formula-safe CSV text."""
    return "".join(csv_line(row) for row in rows)
