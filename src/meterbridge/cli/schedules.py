"""Schedules: billing that runs itself (auto-billing, a day of the month, an hourly refresh),
and ``meterbridge worker``, the Procrastinate workers that run them on PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Annotated, Any

import typer

from meterbridge.cli.app import app
from meterbridge.cli.lazy import lazy
from meterbridge.cli.render import State, fail, guarded, make_table, run, state

if TYPE_CHECKING:
    from meterbridge import runtime
    from meterbridge.jobs import embedded
    from meterbridge.services import schedules
    from meterbridge.services.views import ScheduleView
else:  # loaded when the command runs, not for its --help
    runtime = lazy("meterbridge.runtime")
    schedules = lazy("meterbridge.services.schedules")
    embedded = lazy("meterbridge.jobs.embedded")

schedules_app = typer.Typer(
    help="Schedules: auto-billing in the first days of the month, a push on a day of the month, an hourly "
    "refresh of the preview. `meterbridge serve` runs them (or `meterbridge worker` processes).",
    no_args_is_help=True,
)
app.add_typer(schedules_app, name="schedules")


def _when(view: ScheduleView) -> str:
    if view.next_run_at is None:
        return "disabled"
    if view.due_now:
        return f"due now (the {view.next_run_at:%Y-%m-%d %H:%M} UTC run, for {view.next_period})"
    return f"{view.next_run_at:%Y-%m-%d %H:%M} UTC ({view.next_period})"


def _print(st: State, views: list[ScheduleView]) -> None:
    table = make_table("name", "kind", "what it does", "next run", "last", "state")
    for v in views:
        last = f"{v.last_status} (run {v.last_run})" if v.last_run else (v.last_status or "-")
        retry = f"retrying ({v.failures} failed; next {v.retry_at:%H:%M} UTC): {v.last_error}" if v.retry_at else ""
        table.add_row(v.name, v.kind, v.description, _when(v), last, retry or ("enabled" if v.enabled else "disabled"))
    st.console.print(table)


@schedules_app.command("set")
@guarded("ScheduleView")
def schedules_set(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="e.g. auto-billing, monthly, hourly")],
    kind: Annotated[str | None, typer.Option(help="auto_billing, monthly or refresh (a new schedule needs it)")] = None,
    at: Annotated[str | None, typer.Option(help="HH:MM on the tenant's clock (auto_billing, monthly; 02:00)")] = None,
    days: Annotated[int | None, typer.Option(help="auto_billing: the first N days of the month (3)")] = None,
    day: Annotated[int | None, typer.Option(help="monthly: the day of the month, 1-31 (1)")] = None,
    missing_day: Annotated[
        str | None, typer.Option(help="monthly, a month without that day: clamp (its last day) or skip")
    ] = None,
    minute: Annotated[int | None, typer.Option(help="refresh: minutes past each hour (0)")] = None,
    target: Annotated[
        str | None, typer.Option(help="previous (the month before, the default) or current (provisional)")
    ] = None,
    enabled: Annotated[bool | None, typer.Option("--enabled/--disabled", help="Run it, or keep it but stop.")] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Count occurrences from this date (YYYY-MM-DD, 2000-2999): the latest missed one runs"),
    ] = None,
) -> None:
    """Add a schedule, or change the options given (the others are kept)."""
    st = state(ctx)
    given: dict[str, Any] = {
        "kind": kind, "at": at, "days": days, "day": day, "missing_day": missing_day, "minute": minute,
        "target": target, "enabled": enabled, "since": since,
    }  # fmt: skip
    view = schedules.save_schedule(
        st.context(), st.tenant, name, {k: v for k, v in given.items() if v is not None}, actor=st.actor
    )
    st.out(view, lambda: st.console.print(f"schedule {view.name}: {view.description}; next: {_when(view)}"))


@schedules_app.command("list")
@guarded("list[ScheduleView]")
def schedules_list(ctx: typer.Context) -> None:
    """The tenant's schedules: what each does, when it runs next, how its last run went."""
    st = state(ctx)
    views = schedules.list_schedules(st.context(), st.tenant)
    if not views and not st.json:
        example = st.command("schedules", "set", "auto-billing", "--kind", "auto_billing")
        st.console.print(f"no schedules yet: add one, e.g. `{example}`")
        return
    st.out(views, lambda: _print(st, views))


@schedules_app.command("show")
@guarded("ScheduleView")
def schedules_show(ctx: typer.Context, name: str) -> None:
    st = state(ctx)
    view = schedules.show_schedule(st.context(), st.tenant, name)
    st.out(view, lambda: _print(st, [view]))


@schedules_app.command("remove")
@guarded("Deleted")
def schedules_remove(ctx: typer.Context, name: str) -> None:
    st = state(ctx)
    view = schedules.remove_schedule(st.context(), st.tenant, name, actor=st.actor)
    st.out(view, lambda: st.console.print(f"schedule {name} removed: {view.detail}"))


@schedules_app.command("run-due")
@guarded("list[ScheduleRunView]")
def schedules_run_due(ctx: typer.Context) -> None:
    """Run every occurrence due now, of every tenant, and send the messages due; then exit (for a
    system cron instead of `meterbridge serve`)."""
    st = state(ctx)
    tick = run(embedded.EmbeddedDispatcher(st.context()).once())

    def human() -> None:
        if not tick.ran:
            st.console.print("nothing was due")
        for r in tick.ran:
            st.console.print(
                f"{r.schedule} ({r.period}): {r.status}: {r.detail}" + (f" (run {r.run})" if r.run else "")
            )
        d = tick.delivered
        st.console.print(f"notifications: {d.sent} sent, {d.retrying} to retry, {d.failed} given up")

    st.out(tick.ran, human)


@app.command()
@guarded(None)  # a long-running process: no JSON to print
def worker(
    ctx: typer.Context,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Jobs this process runs at once.")] = 1,
    name: Annotated[str | None, typer.Option(help="The worker's name in Procrastinate's tables.")] = None,
    stalled_after: Annotated[
        float, typer.Option(min=2, help="Seconds without a heartbeat before a worker's job is presumed dead.")
    ] = 30.0,
) -> None:
    """Run schedules as Procrastinate jobs on PostgreSQL: start as many as you like, on any machine
    (one push per tenant at a time, whatever the worker); `meterbridge serve` then needs
    MBRIDGE_SCHEDULER=false."""
    from meterbridge.jobs import queue

    st = state(ctx)
    settings = st.settings
    if not settings.resolved_database_url.startswith(("postgresql", "postgres")):
        fail(
            f"workers need PostgreSQL (MBRIDGE_DATABASE_URL=postgresql://USER@HOST/DB); the database is "
            f"{runtime.database_label(settings)}. On SQLite, `meterbridge serve` runs the schedules itself.",
            2,
        )
    context = st.context()  # migrate and open the key before taking jobs: errors end here, as messages
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app_ = queue.build_app(
        settings.resolved_database_url,
        lambda: context,
        tick_seconds=settings.tick_seconds,
        stalled_after=stalled_after,
    )
    queue.ensure_schema(app_, settings.resolved_database_url)
    st.console.print(
        f"meterbridge worker{f' {name}' if name else ''}: {concurrency} job(s) at a time, due schedules looked for "
        f"every {settings.tick_seconds:g} s (database {runtime.database_label(settings)}); Ctrl-C stops it"
    )
    asyncio.run(
        queue.run_worker(
            app_,
            concurrency=concurrency,
            stalled_after=stalled_after,
            heartbeat=min(10.0, stalled_after / 3),
            name=name,
        )
    )
