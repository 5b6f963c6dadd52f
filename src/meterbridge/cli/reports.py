"""The doctor, the leak report and Backup Stats."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from meterbridge.cli.app import app
from meterbridge.cli.lazy import lazy
from meterbridge.cli.notifications import print_told, tell
from meterbridge.cli.render import EXIT_PARTIAL, cli_hint, guarded, make_table, run, state

if TYPE_CHECKING:
    from meterbridge.services import basic_setup, doctor, leaks
else:  # loaded when the command runs, not for its --help
    basic_setup = lazy("meterbridge.services.basic_setup")
    doctor = lazy("meterbridge.services.doctor")
    leaks = lazy("meterbridge.services.leaks")


@app.command("doctor")
@guarded("list[FindingView]")
def doctor_command(
    ctx: typer.Context,
    period: Annotated[str, typer.Option(help="Billing month, e.g. 2026-10.")],
    create: Annotated[bool, typer.Option(help="Create missing catalog items and agreements.")] = False,
) -> None:
    """Check the ConnectWise side of the set-up (and fix what can be fixed with --create)."""
    st = state(ctx)
    diagnosis = run(doctor.diagnose(st.context(), st.tenant, period, create=create, actor=st.actor))

    def human() -> None:
        colours = {"ok": "green", "warning": "yellow", "error": "red"}
        for f in diagnosis.findings:
            mark = "fixed" if f.fixed else f.severity.value
            hint = cli_hint(st, f.action, f.params)
            then = f" ({hint})" if hint else ""
            st.console.print(f"[{colours[f.severity.value]}]{mark:>7}[/] {f.check}: {f.subject}: {f.message}{then}")

    st.out(diagnosis.findings, human)
    if diagnosis.errors:
        raise typer.Exit(EXIT_PARTIAL)


@app.command("leaks")
@guarded("LeakReportView")
def leaks_command(
    ctx: typer.Context, period: Annotated[str, typer.Option(help="Billing month, e.g. 2026-10.")]
) -> None:
    """Revenue leaks: usage with no billing line, billing lines with no usage."""
    st = state(ctx)
    report = run(leaks.revenue_leaks(st.context(), st.tenant, period)).view()

    def human() -> None:
        if not report.leaks:
            st.console.print(f"no leaks found in {report.period}")
            return
        table = make_table("kind", "customer", "what", "amount", "detail", title=f"revenue leaks in {report.period}")
        table.columns[3].justify = "right"
        for leak in report.leaks:
            money = "-" if leak.amount is None else st.money(leak.amount)
            table.add_row(leak.kind.value, leak.customer, leak.subject, money, leak.detail)
        st.console.print(table)
        st.console.print(
            f"unbilled usage in {report.period}: {st.money(report.unbilled)} at the prices in force; "
            f"additions billing it without usage: {st.money(report.billed_without_usage)}"
        )

    st.out(report, human)


@app.command("backup-stats")
@guarded("StatsView")
def backup_stats(
    ctx: typer.Context,
    period: Annotated[str, typer.Option(help="Billing month, e.g. 2026-10.")],
    wait: Annotated[float, typer.Option(help="Seconds to wait for a running push.")] = 0.0,
) -> None:
    """Basic setup: publish Backup Stats configurations (billable GB, year, month) by Managed ID."""
    st = state(ctx)
    try:
        outcome = run(
            basic_setup.publish_backup_stats(st.context(), st.tenant, period, wait_seconds=wait, actor=st.actor)
        )
    finally:
        told = tell(st)  # the messages about it go now, as a push's do

    def human() -> None:
        st.console.print(
            f"{len(outcome.created)} created, {len(outcome.updated)} updated, {len(outcome.unchanged)} unchanged, "
            f"{len(outcome.skipped)} skipped, {len(outcome.failed)} failed"
        )
        for customer, reason in {**outcome.skipped, **outcome.failed}.items():
            st.console.print(f"  {customer}: {reason}")
        if told is not None:
            print_told(st, told)

    st.out(outcome, human)
    if outcome.failed:
        raise typer.Exit(EXIT_PARTIAL)
