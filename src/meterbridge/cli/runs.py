"""The history of previews and pushes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from meterbridge.cli.app import app
from meterbridge.cli.lazy import lazy
from meterbridge.cli.plans import ROWS, print_cut
from meterbridge.cli.render import guarded, make_table, state

if TYPE_CHECKING:
    from meterbridge.services import runs
else:  # loaded when the command runs, not for its --help
    runs = lazy("meterbridge.services.runs")

runs_app = typer.Typer(help="History of previews and pushes.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")


@runs_app.command("list")
@guarded("list[RunView]")
def runs_list(ctx: typer.Context, limit: Annotated[int, typer.Option(min=1)] = 20) -> None:
    """The newest runs first: who or which schedule, when, status, changes, ConnectWise calls."""
    st = state(ctx)
    views = runs.list_runs(st.context(), st.tenant, limit=limit)

    def human() -> None:
        table = make_table("run", "period", "kind", "trigger", "by", "started", "status", "changes", "calls")
        for v in views:
            counts = v.summary.get("counts", {})
            changes = ", ".join(f"{n} {k}" for k, n in counts.items() if n and k != "noop")
            table.add_row(
                str(v.id),
                v.period,
                v.kind.value,
                v.trigger,
                v.started_by,
                f"{v.started_at:%Y-%m-%d %H:%M}",
                v.status.value,
                changes or "-",
                str(v.calls.get("total", "-")),
            )
        st.console.print(table)

    st.out(views, human)


@runs_app.command("show")
@guarded("RunDetail")
def runs_show(
    ctx: typer.Context,
    run_id: int,
    rows: Annotated[
        int, typer.Option(min=0, help=f"Changes the table shows (default {ROWS}; 0 shows every one).")
    ] = ROWS,
) -> None:
    """One run, line by line: what was planned, what landed, and why not."""
    st = state(ctx)
    view = runs.show_run(st.context(), st.tenant, run_id)

    def human() -> None:
        st.console.print(
            f"run {view.id}: {view.kind.value} of {view.period} by {view.started_by} ({view.trigger}), "
            f"{view.status.value}"
        )
        table = make_table("change", "customer", "ConnectWise product", "status", "reason / error")
        listed = [item for item in view.items if item.kind != "noop"]
        shown = listed if rows == 0 else listed[:rows]
        for item in shown:
            table.add_row(
                item.kind.value, item.customer, item.cw_product, item.status or "-", item.error or item.reason
            )
        st.console.print(table)
        print_cut(st, len(shown), len(listed), ("runs", "show", str(view.id)), view.id)
        for customer, entry in view.summary.get("companies", {}).items():
            if entry["status"] != "ok":
                st.console.print(f"  {customer}: {entry['status']}: {'; '.join(entry['reasons'])}")

    st.out(view, human)
