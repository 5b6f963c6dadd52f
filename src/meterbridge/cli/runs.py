"""The history of previews and pushes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import typer

from meterbridge.cli.app import app
from meterbridge.cli.lazy import lazy
from meterbridge.cli.plans import ROWS, print_cut
from meterbridge.cli.render import State, guarded, make_table, state

if TYPE_CHECKING:
    from meterbridge.services import runs
    from meterbridge.services.views import PlanItemView, RunDetail, RunView
else:  # loaded when the command runs, not for its --help
    runs = lazy("meterbridge.services.runs")

runs_app = typer.Typer(help="History of previews and pushes.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")


def _changes(view: RunView) -> str:
    """What a run changed: its plan's counts, or for a run without them (interrupted, failed), its journal."""
    counts = view.summary.get("counts", {})
    if counts:
        return ", ".join(f"{n} {k}" for k, n in counts.items() if n and k != "noop") or "-"
    journal = view.journal
    if journal is None:
        return "-"
    landed = ", ".join(f"{n} {action}" for action, n in journal.landed.items()) or "nothing"
    parts = [f"{landed} landed"]
    if journal.failed:
        parts.append(f"{journal.failed} failed")
    if journal.unsettled:
        parts.append(f"{journal.unsettled} unsettled")
    return "; ".join(parts)


def _calls(view: RunView) -> str:
    """ConnectWise calls: as the run counted them, or the writes its journal says it sent."""
    total = view.calls.get("total")
    if total is not None:
        return str(total)
    if view.journal is not None and view.journal.sent:
        return f"at least {view.journal.sent}"
    return "-"


@runs_app.command("list")
@guarded("list[RunView]")
def runs_list(ctx: typer.Context, limit: Annotated[int, typer.Option(min=1)] = 20) -> None:
    """The newest runs first: who or which schedule, when, status, changes, ConnectWise calls."""
    st = state(ctx)
    views = runs.list_runs(st.context(), st.tenant, limit=limit)

    def human() -> None:
        table = make_table("run", "period", "kind", "trigger", "by", "started", "status", "changes", "calls")
        for v in views:
            table.add_row(
                str(v.id),
                v.period,
                v.kind.value,
                v.trigger,
                v.started_by,
                f"{v.started_at:%Y-%m-%d %H:%M}",
                v.status.value,
                _changes(v),
                _calls(v),
            )
        st.console.print(table)

    st.out(views, human)


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _duration(seconds: float) -> str:
    """``0.4 s``, ``12.0 s``, ``3 min 05 s``, ``2 h 01 min``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def _billed(st: State, item: PlanItemView) -> str:
    """What ConnectWise invoices for the line's addition in the period: before -> after."""
    if item.addition_id is None and item.kind.value != "create":
        return "-"
    landed = item.kind.value != "blocked" and item.status not in ("failed", "skipped")
    after = item.new_amount if landed else item.old_amount  # a write that did not land bills what it billed
    if item.kind.value == "create":
        return st.money(after)
    return f"{st.money(item.old_amount)} -> {st.money(after)}"


def _print_head(st: State, view: RunDetail) -> None:
    st.console.print(
        f"run {view.id}: {view.kind.value} of {view.period} by {view.started_by} ({view.trigger}), {view.status.value}"
    )
    scope = view.summary.get("scope")
    if scope:
        st.console.print(f"for customers {', '.join(scope)} only")
    if view.finished_at is not None:
        took = _duration((view.finished_at - view.started_at).total_seconds())
        st.console.print(f"started {_when(view.started_at)}, finished {_when(view.finished_at)} ({took})")
    else:
        st.console.print(f"started {_when(view.started_at)}, not finished")
    if view.checksum:
        verdict = f" (safety verdict: {view.verdict})" if view.verdict else ""
        st.console.print(f"checksum: {view.checksum}{verdict}", soft_wrap=True)
    error = view.summary.get("error")
    if isinstance(error, dict) and error.get("message"):
        st.console.print(f"[red]stopped[/]: {error['message']}", soft_wrap=True)
    interrupted = view.summary.get("interrupted")
    if isinstance(interrupted, dict):
        resumed = interrupted.get("resumed_by_run")
        by = f"; push {resumed} settled its journal" if resumed else ""
        st.console.print(
            f"[yellow]interrupted[/]: {interrupted.get('writes_landed', 0)} write(s) had landed, "
            f"{interrupted.get('writes_unsettled', 0)} unsettled{by}"
        )


def _print_totals(st: State, view: RunDetail) -> None:
    totals: dict[str, Any] = view.summary.get("totals") or {}
    if totals:
        writes = totals.get("writes") or {}
        companies = ", ".join(f"{n} {status}" for status, n in (totals.get("companies") or {}).items())
        st.console.print(
            f"writes: {writes.get('planned', 0)} planned, {writes.get('landed', 0)} landed, "
            f"{writes.get('failed', 0)} failed" + (f"; companies: {companies}" if companies else "")
        )
        change = Decimal(str(totals.get("billed_change", 0)))
        sign = "+" if change > 0 else ""
        st.console.print(
            f"billed for {view.period}: {st.money(totals.get('billed_before', 0))} before -> "
            f"{st.money(totals.get('billed_after', 0))} after ({sign}{st.money(change)})"
        )
    elif view.journal is not None:
        st.console.print(f"its journal: {_changes(view)}")


def _print_calls(st: State, view: RunDetail) -> None:
    endpoints: dict[str, dict[str, Any]] = view.calls.get("endpoints") or {}
    if not endpoints:
        st.console.print(f"ConnectWise calls: {_calls(view)}")
        return
    table = make_table(
        "endpoint", "calls", "retries", "rate limited", "failures", "seconds", title=f"{_calls(view)} ConnectWise calls"
    )
    for column in table.columns[1:]:
        column.justify = "right"
    for name, entry in endpoints.items():
        table.add_row(
            name,
            str(entry.get("calls", 0)),
            str(entry.get("retries", 0)),
            str(entry.get("rate_limited", 0)),
            str(entry.get("failures", 0)),
            f"{float(entry.get('seconds', 0)):.3f}",
        )
    st.console.print(table)


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
        _print_head(st, view)
        _print_totals(st, view)
        table = make_table(
            "change", "customer", "ConnectWise product", "addition", "billed", "status", "reason / error"
        )
        listed = [item for item in view.items if item.kind != "noop"]
        shown = listed if rows == 0 else listed[:rows]
        for item in shown:
            table.add_row(
                item.kind.value,
                item.customer,
                item.cw_product,
                str(item.addition_id) if item.addition_id is not None else "-",
                _billed(st, item),
                item.status or "-",
                item.error or item.reason,
            )
        st.console.print(table)
        print_cut(st, len(shown), len(listed), ("runs", "show", str(view.id)), view.id)
        for customer, entry in view.summary.get("companies", {}).items():
            if entry["status"] != "ok":
                st.console.print(f"  {customer}: {entry['status']}: {'; '.join(entry['reasons'])}")
        _print_calls(st, view)
        for sent in view.notifications:
            st.console.print(f"told {sent.target} by {sent.channel}: {sent.status}")

    st.out(view, human)
