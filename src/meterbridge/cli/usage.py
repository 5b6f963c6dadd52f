"""Usage samples: add, import a file (CSV or JSON lines, streamed), the imports and their error
reports, list, withdraw."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from meterbridge.cli.app import app
from meterbridge.cli.lazy import lazy
from meterbridge.cli.render import State, fail, guarded, make_table, state
from meterbridge.domain.periods import Period
from meterbridge.domain.usage import DEFAULT_SOURCE

if TYPE_CHECKING:
    from meterbridge.services import imports, ingest, scope, tiers, usage
    from meterbridge.services.views import ImportView, UsageStored
else:  # loaded when the command runs, not for its --help
    imports = lazy("meterbridge.services.imports")
    ingest = lazy("meterbridge.services.ingest")
    usage = lazy("meterbridge.services.usage")
    scope = lazy("meterbridge.services.scope")
    tiers = lazy("meterbridge.services.tiers")

usage_app = typer.Typer(help="Usage samples.", no_args_is_help=True)
app.add_typer(usage_app, name="usage")

SOURCE_HELP = "The usage source; a sample's identity is (source, customer, product, measured_at)."


def _stored_text(stored: UsageStored) -> str:
    return f"{stored.added} new, {stored.replaced} replaced (corrections), {stored.unchanged} unchanged"


def _period_option(text: str | None) -> Period | None:
    return scope.parse_period(text) if text is not None else None


@usage_app.command("add")
@guarded("UsageStored")
def usage_add(
    ctx: typer.Context,
    customer: str,
    product: str,
    quantity: str,
    unit: str,
    at: Annotated[str | None, typer.Option(help="When measured (ISO 8601 with zone); default now.")] = None,
    customer_name: Annotated[str | None, typer.Option(help="Create the customer with this name if new.")] = None,
    source: Annotated[str, typer.Option(help=SOURCE_HELP)] = DEFAULT_SOURCE,
) -> None:
    """Add one sample; the same customer, product and time again replaces it (a correction)."""
    st = state(ctx)
    context = st.context()
    moment = usage.parse_time("at", at) if at else context.clock()
    sample = usage.Sample(customer, product, moment, tiers.decimal_of("quantity", quantity), unit, customer_name)
    stored = usage.store_samples(context, st.tenant, [sample], source=source, actor=st.actor)
    said = "stored" if stored.added else "replaced an earlier value" if stored.replaced else "already stored"
    st.out(stored, lambda: st.console.print(f"sample {said}"))


@usage_app.command("import")
@guarded("ImportView")
def usage_import(
    ctx: typer.Context,
    file: Path,
    source: Annotated[str, typer.Option(help=SOURCE_HELP)] = DEFAULT_SOURCE,
    mode: Annotated[
        str, typer.Option(help="all: all rows or none; valid: store the good rows and report the bad ones.")
    ] = "all",
    format: Annotated[
        str | None, typer.Option("--format", help="csv or jsonl (JSON lines); default: by the file's extension.")
    ] = None,
    encoding: Annotated[
        str,
        typer.Option(
            help="The file's text encoding, e.g. utf-8, utf-16, latin-1 or cp1252 (Excel on Windows); "
            "a byte order mark wins."
        ),
    ] = "utf-8",
) -> None:
    """Import a usage file, streamed (any size): CSV with a header, customer,product,measured_at,quantity,unit
    [,customer_name], or JSON lines with those fields. Importing the same file again changes nothing; a
    new value for a sample replaces the old one. Every import is recorded, with an error report."""
    st = state(ctx)
    chosen = ingest.mode_of(mode)
    encoding = imports.check_encoding_name(encoding)  # a one-line error before the file is opened
    try:
        size = file.stat().st_size
        stream = file.open("rb")
    except OSError as error:
        fail(f"{file}: {error.strerror}", 2)
    with stream, _bar(st, size) as progress:
        view = imports.import_file(
            st.context(), st.tenant, stream, actor=st.actor, source=source, name=str(file),
            format=format, encoding=encoding, mode=chosen, progress=progress,
        )  # fmt: skip
    if view.status in ("rejected", "failed") and not st.json:
        _print_errors(st, view)
    imports.refuse_if_rejected(view)
    st.out(view, lambda: print_import(st, view, str(file)))


@contextmanager
def _bar(st: State, size: int) -> Iterator[Callable[[int], None]]:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn, TransferSpeedColumn

    with Progress(
        TextColumn("reading"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeElapsedColumn(),
        console=st.console, disable=st.json or not sys.stderr.isatty() or size < 1_000_000, transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task("file", total=size)
        yield lambda done: bar.update(task, completed=done)


def print_import(st: State, view: ImportView, file: str) -> None:
    st.console.print(
        f"{view.rows} samples read from {file}: {view.added} new, {view.replaced} replaced (corrections), "
        f"{view.unchanged} unchanged" + (f", {view.rejected} refused" if view.rejected else "") + f" (import {view.id})"
    )
    if view.new_customers:
        st.console.print(
            f"{view.new_customer_count:,} new customer(s): {_some(view.new_customers, total=view.new_customer_count)}"
        )
    for rename in view.renamed:
        st.console.print(f"customer {rename.customer} renamed: {rename.old_name!r} -> {rename.new_name!r}")
    if view.unknown_customers:
        st.console.print(
            f"[yellow]{len(view.unknown_customers)} unknown customer(s)[/]: {_some(view.unknown_customers)}; add each "
            f"with `{st.command('customers', 'add', view.unknown_customers[0], 'NAME')}`, or give a customer_name"
        )
    for late in view.late:
        st.console.print(
            f"[yellow]late:[/] {late.samples} sample(s) change {late.period}, pushed {late.pushed_at:%Y-%m-%d %H:%M} "
            f"UTC; review with `{st.command('preview', '--period', late.period)}`, then push to update those additions"
        )
    if view.rejected:
        _print_errors(st, view)


def _print_errors(st: State, view: ImportView) -> None:
    for error in view.errors[:10]:
        st.console.print(f"  [red]{error.message}[/]", highlight=False)
    if view.rejected > 10:
        st.console.print(f"  ... and {view.rejected - 10} more")
    if view.rejected:
        st.console.print(
            f"every refused row: `{st.command('usage', 'errors', str(view.id), '--output', 'errors.csv')}`"
        )


def _some(names: list[str], shown: int = 5, *, total: int | None = None) -> str:
    """The first few names, and how many more there are (``total``: all of them, when ``names`` is a part)."""
    total = len(names) if total is None else total
    return ", ".join(names[:shown]) + (f" and {total - min(shown, len(names)):,} more" if total > shown else "")


@usage_app.command("imports")
@guarded("list[ImportView]")
def usage_imports(
    ctx: typer.Context,
    source: Annotated[str | None, typer.Option(help="Only this source's imports.")] = None,
    limit: int = 20,
) -> None:
    """The newest imports (files, uploads, pulls): what each read, stored and refused."""
    st = state(ctx)
    views = imports.list_imports(st.context(), st.tenant, source=source, limit=limit)

    def human() -> None:
        table = make_table(
            "#", "started", "what", "source", "outcome", "rows", "new", "replaced", "unchanged", "refused"
        )
        for v in views:
            table.add_row(
                str(v.id), f"{v.started_at:%Y-%m-%d %H:%M}", f"{v.origin}: {v.name}" if v.name else v.origin, v.source,
                v.status, str(v.rows), str(v.added), str(v.replaced), str(v.unchanged), str(v.rejected),
            )  # fmt: skip
        st.console.print(table)

    st.out(views, human)


@usage_app.command("errors")
@guarded("ImportView")
def usage_errors(
    ctx: typer.Context,
    import_id: Annotated[int, typer.Argument(help="The import, as `usage imports` lists them.")],
    output: Annotated[Path | None, typer.Option(help="Write the error report (CSV) to this file.")] = None,
) -> None:
    """An import's refused rows (row, column, value, what to do); --output writes them all as CSV."""
    st = state(ctx)
    view = imports.show_import(st.context(), st.tenant, import_id)
    if output is not None:
        lines = imports.error_report(st.context(), st.tenant, import_id)
        try:
            with output.open("w", encoding="utf-8", newline="") as handle:
                handle.writelines(lines)
        except OSError as error:
            fail(f"{output}: {error.strerror}", 2)

    def human() -> None:
        st.console.print(f"import {view.id} ({view.origin}{': ' + view.name if view.name else ''}): {view.status}, "
                         f"{view.rejected} row(s) refused")  # fmt: skip
        if output is not None:
            st.console.print(f"the error report is in {output}")
        else:
            for error in view.errors:
                st.console.print(f"  {error.message}", highlight=False)

    st.out(view, human)


@usage_app.command("list")
@guarded("list[SampleView]")
def usage_list(
    ctx: typer.Context,
    customer: Annotated[str | None, typer.Option()] = None,
    product: Annotated[str | None, typer.Option()] = None,
    period: Annotated[str | None, typer.Option(help="Billing month, e.g. 2026-10.")] = None,
    source: Annotated[str | None, typer.Option()] = None,
    withdrawn: Annotated[bool, typer.Option("--withdrawn", help="Include withdrawn samples.")] = False,
    limit: int = 500,
) -> None:
    """Samples, newest first."""
    st = state(ctx)
    views = usage.list_samples(
        st.context(),
        st.tenant,
        customer=customer,
        product=product,
        period=_period_option(period),
        source=source,
        withdrawn=withdrawn,
        limit=limit,
    )

    def human() -> None:
        table = make_table("customer", "product", "measured at", "quantity", "source", "received", "withdrawn")
        for v in views:
            table.add_row(
                v.customer,
                v.product,
                v.measured_at.isoformat(),
                f"{v.quantity} {v.unit}",
                v.source,
                f"{v.received_at:%Y-%m-%d %H:%M}",
                f"{v.withdrawn_at:%Y-%m-%d %H:%M}" if v.withdrawn_at else "-",
            )
        st.console.print(table)

    st.out(views, human)


@usage_app.command("delete")
@guarded("Withdrawn")
def usage_delete(
    ctx: typer.Context,
    customer: str,
    product: Annotated[str | None, typer.Option()] = None,
    period: Annotated[str | None, typer.Option(help="Only samples measured in this month, e.g. 2026-10.")] = None,
    at: Annotated[str | None, typer.Option(help="Only the sample measured at this time (ISO 8601 with zone).")] = None,
    source: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Withdraw a customer's samples (kept for the record, no longer counted); preview again to see the effect."""
    st = state(ctx)
    view = usage.withdraw_samples(
        st.context(),
        st.tenant,
        customer,
        product=product,
        period=_period_option(period),
        source=source,
        at=usage.parse_time("at", at) if at else None,
        actor=st.actor,
    )
    then = f"; see the effect with: {st.command('preview', '--period', period)}" if period and view.withdrawn else ""
    st.out(view, lambda: st.console.print(f"{view.withdrawn} sample(s) of {customer} withdrawn{then}"))
