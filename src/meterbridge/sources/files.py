"""Streaming readers for usage files: CSV (with a header) and JSON lines.

Both read the file as bytes, one line at a time, so memory stays flat whatever the size. A UTF-8
byte order mark is skipped; a UTF-16 one switches to UTF-16; other encodings are named by the user
(``encoding``). CRLF and LF line endings both work. A byte the encoding cannot read is an error
naming its line and position, with what to do.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import BinaryIO

from meterbridge.sources.records import FIELDS, REQUIRED, Bad, Record, SourceError

Progress = Callable[[int], None]  # told the bytes read so far, now and then
PROGRESS_EVERY = 4096  # lines
MAX_LINE = 1024 * 1024  # bytes of one line
FORMATS = ("csv", "jsonl")
OPTIONAL = FIELDS[5:]
COLUMNS_TEXT = f"{', '.join(REQUIRED)} and optionally {', '.join(OPTIONAL)}"


def format_of(name: str) -> str:
    """The format a file's name suggests: .jsonl / .ndjson are JSON lines, anything else CSV."""
    return "jsonl" if name.lower().endswith((".jsonl", ".ndjson", ".jsonl.txt")) else "csv"


#: Codecs Python counts as text encodings that are not a file's encoding: each refuses or mangles text.
NOT_FILE_ENCODINGS = frozenset({"undefined", "idna", "punycode", "unicode-escape", "raw-unicode-escape"})
ENCODING_EXAMPLES = "utf-8, utf-16, latin-1 or cp1252"


def check_encoding(encoding: str) -> str:
    """The Python name of a file's text encoding. Refused (SourceError, column encoding): a name
    Python does not know, and codecs that are not text encodings (rot13, hex, base64, zlib_codec,
    bz2, uu, quopri: bytes to bytes or text to text), nor idna, punycode, the escape codecs and
    undefined."""
    try:
        info = codecs.lookup(encoding)
    except (LookupError, ValueError):  # ValueError: a NUL or a lone surrogate in the name
        raise SourceError(
            f"encoding: {encoding!r} is not an encoding Python knows; use a text encoding such as {ENCODING_EXAMPLES}",
            column="encoding",
        ) from None
    if not getattr(info, "_is_text_encoding", True) or info.name in NOT_FILE_ENCODINGS:
        raise SourceError(
            f"encoding: {encoding!r} is not a text encoding a file is saved in; use e.g. {ENCODING_EXAMPLES}",
            column="encoding",
        )
    return info.name


def _lines(stream: BinaryIO, encoding: str, progress: Progress | None) -> Iterator[str]:
    """The file's lines as text, with their endings; the byte order mark decides UTF-8 or UTF-16."""
    head = stream.read(4)
    if head.startswith(codecs.BOM_UTF8):
        rest = _Prefixed(head[3:], stream)
        encoding = "utf-8"
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        yield from _wide_lines(_Prefixed(head, stream), progress)
        return
    else:
        rest = _Prefixed(head, stream)
    encoding = check_encoding(encoding)
    if encoding.startswith(("utf-16", "utf-32")):
        yield from _wide_lines(rest, progress, encoding)
        return
    done = len(head) - len(rest.prefix)
    for number, raw in enumerate(rest, start=1):
        done += len(raw)
        try:
            yield raw.decode(encoding)
        except UnicodeError as error:  # UnicodeDecodeError, or a codec's own UnicodeError
            shown = encoding.upper() if encoding.startswith("utf") else encoding
            what = (
                f"line {number}, byte {error.start + 1}: {raw[error.start : error.start + 1]!r} is not {shown}"
                if isinstance(error, UnicodeDecodeError)
                else f"line {number}: not {shown} text"
            )
            raise SourceError(
                f"{what}; "
                "save the file as UTF-8, or name its encoding (for a file from Excel on Windows: --encoding cp1252)",
                row=number,
                column="encoding",
            ) from None
        if progress is not None and number % PROGRESS_EVERY == 0:
            progress(done)
    if progress is not None:
        progress(done)


def _wide_lines(raw: _Prefixed, progress: Progress | None, encoding: str = "utf-16") -> Iterator[str]:
    text = io.TextIOWrapper(io.BufferedReader(raw), encoding=encoding, newline="")
    number = 0
    try:
        for number, line in enumerate(text, start=1):
            if progress is not None and number % PROGRESS_EVERY == 0:
                progress(raw.tell())
            yield line
    except UnicodeError:
        raise SourceError(
            f"line {number + 1}: the file is not valid {encoding}; save it as UTF-8 and import it again",
            row=number + 1,
            column="encoding",
        ) from None


class _Prefixed(io.RawIOBase):
    """A binary stream with some bytes already read put back in front."""

    def __init__(self, prefix: bytes, stream: BinaryIO) -> None:
        self.prefix, self._stream = prefix, stream
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.prefix:
            size = min(len(buffer), len(self.prefix))
            buffer[:size] = self.prefix[:size]
            self.prefix = self.prefix[size:]
        else:
            chunk = self._stream.read(len(buffer))
            size = len(chunk)
            buffer[:size] = chunk
        self._read += size
        return size

    def tell(self) -> int:
        return self._read

    def __iter__(self) -> Iterator[bytes]:
        """The lines, each at most MAX_LINE bytes: a file without line breaks is refused, not read whole."""
        number = 0
        while True:
            line = self._stream.readline(MAX_LINE + 1)
            if self.prefix:
                line, self.prefix = self.prefix + line, b""
                if not line.endswith(b"\n") and len(line) <= MAX_LINE:
                    line += self._stream.readline(MAX_LINE + 1 - len(line))
            if not line:
                return
            number += 1
            if len(line) > MAX_LINE and not line.endswith(b"\n"):
                raise SourceError(
                    f"line {number}: over {MAX_LINE // 1024 // 1024} MiB without a line break; save the file with "
                    "Windows (CRLF) or Unix (LF) line endings, one row a line",
                    row=number,
                )
            yield line


def csv_records(
    stream: BinaryIO, *, encoding: str = "utf-8", progress: Progress | None = None
) -> Iterator[Record | Bad]:
    """The rows of a usage CSV. Row 1 is the header; a row's number is the line it starts on."""
    lines = _Counted(_lines(stream, encoding, progress))
    reader = csv.reader(lines)
    try:
        header = [name.strip().lstrip("\ufeff") for name in next(reader, [])]
        index = _header_index(header)
        width = len(header)
        started = lines.count + 1
        for cells in reader:
            row = started
            started = lines.count + 1
            if not cells or cells == [""]:
                continue
            if len(cells) > width:
                yield Bad(
                    row, None, None,
                    f"row {row}: {len(cells)} fields, but the header names {width}; quote a value that holds a comma",
                )  # fmt: skip
                continue
            cells += [""] * (width - len(cells))
            yield Record(row, *(cells[i] if i >= 0 else None for i in index))
    except csv.Error as error:
        raise SourceError(
            f"row {lines.count}: {error}; save the file again as CSV (UTF-8) with Windows or Unix line endings",
            row=lines.count,
        ) from None


class _Counted:
    """Lines, counting how many were read (where the csv reader is)."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = iter(lines)
        self.count = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.count += 1
        if "\x00" in line:
            raise SourceError(
                f"row {self.count}: the file holds a NUL character; export it again as plain CSV (UTF-8), "
                "or name its encoding if it is UTF-16 (--encoding utf-16)",
                row=self.count,
            )
        return line


def _header_index(header: list[str]) -> list[int]:
    """Where each of FIELDS is in the header (-1 for an optional one left out), or what is wrong."""
    if not any(header):
        raise SourceError(f"row 1 (header): the file is empty; the first row names the columns: {COLUMNS_TEXT}", row=1)
    repeated = sorted({name for name in header if header.count(name) > 1})
    unknown = [name for name in header if name not in FIELDS]
    for problem, names in (("repeats column(s)", repeated), ("has unknown column(s)", unknown)):
        if names:
            raise SourceError(
                f"row 1 (header): {problem} {', '.join(repr(n) for n in names)}; the columns are {COLUMNS_TEXT}, "
                "each once",
                row=1,
                column=names[0] or "header",
            )
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise SourceError(
            f"row 1 (header): missing column(s) {', '.join(missing)}; the columns are {COLUMNS_TEXT}",
            row=1,
            column=missing[0],
        )
    return [header.index(name) if name in header else -1 for name in FIELDS]


def jsonl_records(
    stream: BinaryIO, *, encoding: str = "utf-8", progress: Progress | None = None
) -> Iterator[Record | Bad]:
    """The lines of a JSON lines file, one object per line with FIELDS as keys; blank lines are skipped."""
    for number, line in enumerate(_lines(stream, encoding, progress), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line, parse_float=Decimal)
        except ValueError as error:
            yield Bad(number, None, _clip(line.strip()), f"line {number}: not JSON ({error}); each line is one object")
            continue
        if not isinstance(item, dict):
            yield Bad(number, None, _clip(line.strip()), f"line {number}: each line is one JSON object, e.g. "
                      '{"customer": "C1", "product": "storage", "measured_at": "2026-10-31T23:00:00Z", '
                      '"quantity": 120.5, "unit": "GB"}')  # fmt: skip
            continue
        unknown = [key for key in item if key not in FIELDS]
        if unknown:
            names = ", ".join(map(repr, unknown))
            yield Bad(
                number, str(unknown[0]), None, f"line {number}: unknown field(s) {names}; the fields are {COLUMNS_TEXT}"
            )
            continue
        values: list[str | None] = []
        bad: Bad | None = None
        for field in FIELDS:
            value, problem = text_of(item.get(field))
            if problem:
                bad = Bad(number, field, _clip(str(item.get(field))), f"line {number}, field {field}: {problem}")
                break
            values.append(value)
        yield bad if bad is not None else Record(number, *values)


def text_of(value: object) -> tuple[str | None, str | None]:
    """A JSON value as a record's text (numbers exactly as written), or what is wrong with it."""
    if value is None:
        return None, None
    if isinstance(value, bool):
        return None, f"{str(value).lower()} is not a value for this field; give a string or a number"
    if isinstance(value, str):
        return value, None
    if isinstance(value, int | Decimal):
        return str(value), None
    return None, "a list or object is not a value for this field; give a string or a number"


def _clip(text: str, size: int = 200) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"
