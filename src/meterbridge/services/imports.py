"""Usage imports as users run them: a file (CSV or JSON lines, streamed), recorded with what it
stored and the rows it refused, whose error report can be downloaded (row, column, value, what to
do). Pulls (services/pulls.py) record their imports the same way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from sqlalchemy.orm import Session

from meterbridge.services.actors import Actor
from meterbridge.services.audit import audit
from meterbridge.services.context import Context
from meterbridge.services.csvsafe import csv_line
from meterbridge.services.errors import InvalidInput, NotFound
from meterbridge.services.ingest import Mode, Outcome, Rejected, check_source, ingest
from meterbridge.services.scope import tenant_row
from meterbridge.services.views import ImportView, LateView, RenameView, RowError
from meterbridge.sources import Bad, Record, SourceError
from meterbridge.sources.files import FORMATS, Progress, check_encoding, csv_records, format_of, jsonl_records
from meterbridge.store.models import UsageImportRow
from meterbridge.store.repos import imports as repo

#: Rows of the error report an import view carries (the whole report is downloaded).
SHOWN_ERRORS = 20
READERS = {"csv": csv_records, "jsonl": jsonl_records}


def check_format(text: str) -> str:
    if text not in FORMATS:
        raise InvalidInput(
            f"format: {text!r} is not a format meterbridge reads; use csv or jsonl (JSON lines)", field="format"
        )
    return text


def import_file(
    ctx: Context,
    tenant: str,
    stream: BinaryIO,
    *,
    actor: Actor,
    source: str = "default",
    name: str | None = None,
    format: str | None = None,
    encoding: str = "utf-8",
    mode: Mode = Mode.ALL,
    progress: Progress | None = None,
    origin: str = "file",
) -> ImportView:
    """Import a usage file, streamed: recorded (with its refused rows) whatever the outcome.
    ``format``: csv or jsonl; left out, the file's name says (.jsonl, .ndjson: JSON lines)."""
    format = check_format(format or format_of(name or ""))
    reader = READERS[format]
    encoding = check_encoding_name(encoding)
    return run_import(
        ctx, tenant, lambda: reader(stream, encoding=encoding, progress=progress), actor=actor, source=source,
        name=name, mode=mode, origin=origin, label="line" if format == "jsonl" else "row",
    )  # fmt: skip


def check_encoding_name(text: str) -> str:
    """A file encoding's Python name, or InvalidInput (field encoding): only text encodings
    (utf-8, utf-16, latin-1, cp1252, ...), not codecs such as rot13, hex, base64 or zlib."""
    try:
        return check_encoding(text)
    except SourceError as error:
        raise InvalidInput(error.message, field="encoding") from None


def run_import(
    ctx: Context,
    tenant: str,
    records: Callable[[], Iterable[Record | Bad]],
    *,
    actor: Actor,
    source: str,
    name: str | None,
    mode: Mode,
    origin: str,
    label: str,
    complete: bool = False,
    source_id: int | None = None,
    pages: Callable[[], int] | None = None,
) -> ImportView:
    """Record an import, run it in its own transaction, then record how it went."""
    check_source(source)
    started = ctx.clock()
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        record = repo.add(
            session, tenant_id=row.id, source=source, source_id=source_id, origin=origin, name=name, mode=mode.value,
            status="running", actor=str(actor), started_at=started,
        )  # fmt: skip
        import_id = record.id
    message: str | None = None
    try:
        with ctx.db.session() as session:
            row = tenant_row(session, tenant)
            outcome = ingest(
                session, row, records(), source=source, mode=mode, now=started, label=label, complete=complete
            )
            audit(
                session, ctx, row.id, actor, "usage.import", {"import": import_id, "source": source, **outcome.counts()}
            )
        status = "partial" if outcome.error_count else "done"
    except Rejected as rejected:
        outcome, status = rejected.outcome, "rejected"
        message = f"{outcome.error_count} row(s) refused, so nothing was stored (all rows or none)"
    except SourceError as error:
        outcome, status, message = Outcome(), "failed", error.message
    except BaseException as error:  # the database or the process failed: the record says so (if it can)
        with contextlib.suppress(Exception):
            _finish(ctx, import_id, Outcome(), "failed", f"stopped: {error.__class__.__name__}: {error}"[:2000], None)
        raise
    return _finish(ctx, import_id, outcome, status, message, pages)


def _finish(
    ctx: Context, import_id: int, outcome: Outcome, status: str, message: str | None, pages: Callable[[], int] | None
) -> ImportView:
    with ctx.db.session() as session:
        done = session.get(UsageImportRow, import_id)
        assert done is not None
        record = done
        record.status, record.message, record.finished_at = status, message, ctx.clock()
        record.counts = {
            **outcome.counts(),
            "new_customers": len(outcome.new_customers),  # all of them; the details name the first 1,000
            **({"pages": pages()} if pages is not None else {}),
        }
        record.details = {
            "new_customers": outcome.new_customers[:1000],
            "renamed": [r.model_dump() for r in outcome.renamed[:1000]],
            "removed": outcome.removed[:1000],
            "unknown": outcome.unknown,
            "late": [late.model_dump(mode="json") for late in outcome.late],
        }
        repo.add_errors(session, import_id, [e.model_dump() | {"value": _clip(e.value)} for e in outcome.errors])
        return _view(record, outcome.errors[:SHOWN_ERRORS])


def _clip(value: str | None) -> str | None:
    return value if value is None or len(value) <= 200 else value[:199] + "…"


def _view(record: UsageImportRow, errors: list[RowError]) -> ImportView:
    counts, details = record.counts or {}, record.details or {}
    return ImportView(
        id=record.id, source=record.source, origin=record.origin, name=record.name, mode=record.mode,
        status=record.status, actor=record.actor, started_at=record.started_at, finished_at=record.finished_at,
        rows=counts.get("rows", 0), added=counts.get("added", 0), replaced=counts.get("replaced", 0),
        unchanged=counts.get("unchanged", 0), repeated=counts.get("repeated", 0),
        rejected=counts.get("rejected", 0), pages=counts.get("pages"),
        new_customers=details.get("new_customers", []),
        new_customer_count=counts.get("new_customers", len(details.get("new_customers", []))),
        renamed=[RenameView.model_validate(r) for r in details.get("renamed", [])],
        removed=details.get("removed", []), unknown_customers=details.get("unknown", []),
        late=[LateView.model_validate(late) for late in details.get("late", [])], errors=errors,
        message=record.message,
    )  # fmt: skip


def refuse_if_rejected(view: ImportView) -> ImportView:
    """For front-ends that answer an import refused as a whole with an error (the API's 422, the
    CLI's exit code): the first row's error, how many more, and which import has the report."""
    if view.status not in ("rejected", "failed"):
        return view
    first = view.errors[0] if view.errors else None
    more = f"; {view.rejected - 1} more row(s) refused" if view.rejected > 1 else ""
    message = (first.message if first else view.message or "the import failed") + more
    raise ImportRefused(
        f"{message}; nothing was stored (the error report: import {view.id})",
        row=first.row if first else None,
        field=first.column if first else None,
        action="usage.import_errors",
        params={"import": str(view.id)},
        view=view,
    )


class ImportRefused(InvalidInput):
    """An import stored nothing: the first error, and the import that has every refused row."""

    def __init__(self, message: str, *, view: ImportView, **where: object) -> None:
        super().__init__(message, **where)  # type: ignore[arg-type]
        self.view = view


def list_imports(ctx: Context, tenant: str, *, source: str | None = None, limit: int = 50) -> list[ImportView]:
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        return [_view(record, []) for record in repo.newest(session, row.id, source=source, limit=limit)]


def show_import(ctx: Context, tenant: str, import_id: int, *, errors: int = 100) -> ImportView:
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        record = _import(session, row.id, import_id)
        shown = [
            RowError(row=e.row, column=e.column, value=e.value, message=e.message)
            for e in repo.errors_of(session, import_id, limit=errors)
        ]
        return _view(record, shown)


def _import(session: Session, tenant_id: int, import_id: int) -> UsageImportRow:
    record = repo.get(session, tenant_id, import_id)
    if record is None:
        raise NotFound(f"import {import_id}: no such import of this tenant", field="import")
    return record


def error_report(ctx: Context, tenant: str, import_id: int) -> Iterator[str]:
    """The rows an import refused as CSV text (row, column, value, message), a line at a time.
    Formula-safe (services/csvsafe.py): a value a spreadsheet would run as a formula (``=...``,
    ``@...``, ``-2+3``) is written with a ``'`` in front; plain numbers such as ``-1`` as they are."""
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        _import(session, row.id, import_id)
        lines = [csv_line(("row", "column", "value", "message"))]
        lines += [csv_line((e.row, e.column, e.value, e.message)) for e in repo.errors_of(session, import_id)]
    yield from lines
