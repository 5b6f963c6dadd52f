"""preview and push: a period's plan, and writing it to ConnectWise."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from meterbridge.cli.app import app
from meterbridge.cli.lazy import lazy
from meterbridge.cli.notifications import print_told, tell
from meterbridge.cli.plans import ROWS, print_companies, print_plan
from meterbridge.cli.render import EXIT_HELD, EXIT_PARTIAL, guarded, run, state

if TYPE_CHECKING:
    from meterbridge.services import push, views
else:  # loaded when the command runs, not for its --help
    push = lazy("meterbridge.services.push")
    views = lazy("meterbridge.services.views")


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
        print_companies(st, view)
        if view.totals.writes.planned:
            apply = st.command("push", "--period", view.period, *_scope(customer), "--checksum", view.checksum)
            st.console.print(f"apply it: {apply}", soft_wrap=True)
        else:
            st.console.print("nothing to write: ConnectWise already holds this plan")

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
        if any(view.resumed.model_dump().values()):
            st.console.print(f"resumed an earlier push: {view.resumed.model_dump()}")
        if view.status is views.RunStatus.HELD:
            print_plan(st, view, False, scope=tuple(_scope(customer)))
            approve = st.command("push", "--period", view.period, *_scope(customer), "--checksum", view.checksum)
            st.console.print(
                f"[yellow]held for approval[/]: nothing written. Review it, then: {approve}", soft_wrap=True
            )
        else:
            writes = view.totals.writes
            blocked = view.totals.companies.get("blocked", 0)
            held_back = f"; {blocked} company(ies) blocked, nothing written for them (below)" if blocked else ""
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
        print_companies(st, view)
        if told is not None:
            print_told(st, told)

    st.out(view, human)
    if view.status is views.RunStatus.HELD:
        raise typer.Exit(EXIT_HELD)
    if view.status is views.RunStatus.PARTIAL:
        raise typer.Exit(EXIT_PARTIAL)
