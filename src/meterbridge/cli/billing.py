"""preview and push: a period's plan, and writing it to ConnectWise; billing export: what the pushes billed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from meterbridge.cli.app import app
from meterbridge.cli.lazy import lazy
from meterbridge.cli.notifications import print_told, tell
from meterbridge.cli.plans import ROWS, held_companies, print_companies, print_held, print_plan
from meterbridge.cli.render import EXIT_HELD, EXIT_PARTIAL, fail, guarded, make_table, run, state

if TYPE_CHECKING:
    from meterbridge.services import billing_export, messages, push, views
else:  # loaded when the command runs, not for its --help
    billing_export = lazy("meterbridge.services.billing_export")
    messages = lazy("meterbridge.services.messages")
    push = lazy("meterbridge.services.push")
    views = lazy("meterbridge.services.views")

billing_app = typer.Typer(help="What the pushes billed: the billing export.", no_args_is_help=True)
app.add_typer(billing_app, name="billing")


def _customers(values: list[str] | None) -> frozenset[str] | None:
    return frozenset(values) if values else None


def _scope(customers: list[str] | None) -> list[str]:
    return [word for customer in customers or [] for word in ("--customer", customer)]


@app.command()
@guarded("RunOutcome")
def preview(
    ctx: typer.Context,
    period: Annotated[str, typer.Option(help="Billing month, e.g. 2026-10.")],
    customer: Annotated[list[str] | None, typer.Option(help="Only these customers (repeat).")] = None,
    details: Annotated[bool, typer.Option(help="Show noops and how every number was derived.")] = False,
    rows: Annotated[
        int, typer.Option(min=0, help=f"Changes the table shows (default {ROWS}; 0 shows every one).")
    ] = ROWS,
) -> None:
    """Plan a period against what ConnectWise holds now; nothing is written to ConnectWise."""
    st = state(ctx)
    outcome = run(push.preview(st.context(), st.tenant, period, only=_customers(customer), actor=st.actor))
    view = outcome.with_changes()

    def human() -> None:
        print_plan(st, view, details, rows, tuple(_scope(customer)))
        print_held(st, view, tuple(_scope(customer)))
        print_companies(st, view)
        held = sum(result.writes for result in held_companies(view).values())
        if view.totals.writes.planned > held:
            apply = st.command("push", "--period", view.period, *_scope(customer), "--checksum", view.checksum)
            within = " (the companies within their thresholds: the held ones wait)" if held else ""
            st.console.print(f"apply it{within}: {apply}", soft_wrap=True)
        elif not view.totals.writes.planned:
            st.console.print(messages.nothing_to_write(view.summary()), soft_wrap=True)

    st.out(view, human)


@app.command("push")
@guarded("RunOutcome")
def push_command(
    ctx: typer.Context,
    period: Annotated[str, typer.Option(help="Billing month, e.g. 2026-10.")],
    checksum: Annotated[
        str | None, typer.Option(help="Apply the reviewed plan with this checksum (from preview).")
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Apply what is planned now (still held when over the thresholds).")
    ] = False,
    wait: Annotated[float, typer.Option(help="Seconds to wait for another push of this tenant to finish.")] = 0.0,
    customer: Annotated[list[str] | None, typer.Option(help="Only these customers (repeat).")] = None,
    approve_held: Annotated[
        bool,
        typer.Option(
            help="Write the companies the safety thresholds hold too, approved by --checksum (with --customer: "
            "those alone)."
        ),
    ] = False,
) -> None:
    """Write the period's billing to ConnectWise: journalled, leased, safe to run twice and to kill."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    st = state(ctx)
    with Progress(
        TextColumn("writing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=st.console,
        disable=st.json or not sys.stderr.isatty(),
        transient=True,
    ) as bar:
        task = bar.add_task("writes", total=None)
        try:
            outcome = run(
                push.push(
                    st.context(),
                    st.tenant,
                    period,
                    checksum=checksum,
                    force=force,
                    wait_seconds=wait,
                    only=_customers(customer),
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                    actor=st.actor,
                    approve_held=approve_held,
                )
            )
        finally:
            told = tell(st)
    view = outcome.with_changes() if outcome.status is views.RunStatus.HELD else outcome

    def human() -> None:
        if view.interrupted:
            st.console.print(
                f"earlier push(es) {', '.join(map(str, view.interrupted))} had been killed: marked interrupted "
                f"(`{st.command('runs', 'show', str(view.interrupted[0]))}` shows what they wrote)"
            )
        resumed = view.resumed
        said = messages.resumed_text(resumed.found, resumed.not_applied, resumed.updates_landed)
        if said:
            st.console.print(said, soft_wrap=True)
        if view.status is views.RunStatus.HELD:
            print_plan(st, view, False, scope=tuple(_scope(customer)))
            if view.verdict == "hold" and view.approval is None:  # a run-wide threshold: approved by the checksum
                approve = st.command("push", "--period", view.period, *_scope(customer), "--checksum", view.checksum)
                st.console.print(
                    f"[yellow]held for approval[/]: nothing written. Review it, then: {approve}", soft_wrap=True
                )
            else:
                st.console.print(
                    "[yellow]held for approval[/]: nothing written: every write is a held company's (below)"
                )
        else:
            writes = view.totals.writes
            if not writes.planned:
                st.console.print(messages.nothing_to_write(view.summary(), written=True), soft_wrap=True)
            blocked = view.totals.companies.get("blocked", 0)
            held = view.totals.companies.get("held", 0)
            held_back = f"; {blocked} company(ies) blocked, nothing written for them (below)" if blocked else ""
            if held:
                held_back += f"; {messages.counted(held, 'company')} held for approval (below)"
            st.console.print(
                f"push {view.status.value}: {writes.landed} of {writes.planned} write(s) landed, "
                f"{writes.failed} failed{held_back}; {view.calls} ConnectWise call(s) (run {view.run})"
            )
            st.console.print(
                f"billed for {view.period}: {st.money(view.totals.billed_before)} before -> "
                f"{st.money(view.totals.billed_after)} after"
            )
            if view.approval and view.approval != "the approved plan":
                st.console.print(f"approval: {view.approval}")
            if view.provisional:
                st.console.print(
                    f"[yellow]{view.period} is not over: a provisional bill[/]; push it again after it ends"
                )
        print_held(st, view, tuple(_scope(customer)))
        print_companies(st, view)
        if told is not None:
            print_told(st, told)

    st.out(view, human)
    if view.status is views.RunStatus.HELD:
        raise typer.Exit(EXIT_HELD)
    if view.status is views.RunStatus.PARTIAL:
        raise typer.Exit(EXIT_PARTIAL)


@billing_app.command("export")
@guarded("BillingExport")
def billing_export_command(
    ctx: typer.Context,
    period: Annotated[str, typer.Option(help="The first billing month, e.g. 2026-11.")],
    output: Annotated[Path, typer.Option(help="The file to write.")],
    to: Annotated[str | None, typer.Option(help="The last billing month (default: --period alone).")] = None,
    format: Annotated[str, typer.Option(help="csv, or xlsx (a workbook with a sheet per month).")] = "csv",
) -> None:
    """Every line each month's newest push billed, per customer and ConnectWise product: quantity, unit
    price, amount, cost, margin and the addition, as ConnectWise will invoice them (CSV or XLSX)."""
    st = state(ctx)
    made = billing_export.billing_export(st.context(), st.tenant, period, to=to, format=format)
    try:
        output.write_bytes(made.content)
    except OSError as error:
        fail(f"output: {output}: {error.strerror}", 2)
    view = made.view.model_copy(update={"file": str(output)})

    def human() -> None:
        table = make_table("month", "run", "lines", "billed", "cost", "margin", title=f"billing export ({view.format})")
        for column in table.columns[1:]:
            column.justify = "right"
        for month in view.months:
            limited = f" (for {', '.join(month.scope)})" if month.scope else ""
            table.add_row(
                month.period + limited,
                str(month.run),
                f"{month.lines:,}",
                st.money(month.billed),
                st.money(month.cost),
                st.money(month.margin),
            )
        st.console.print(table)
        st.console.print(
            f"total: {st.money(view.billed)} billed, {st.money(view.cost)} cost, {st.money(view.margin)} margin; "
            f"written to {output}",
            soft_wrap=True,
        )
        if view.missing:
            st.console.print(f"[yellow]no finished push of {', '.join(view.missing)}[/]: not in the export")

    st.out(view, human)
