"""A plan as people read it: each change with what it does, its reason, the money before and
after, the safety verdict and the checksum; and the companies that need attention."""

from __future__ import annotations

from typing import TYPE_CHECKING

from meterbridge.cli.lazy import lazy
from meterbridge.cli.render import State, cli_hint, make_table

if TYPE_CHECKING:
    from meterbridge.services import messages, views
    from meterbridge.services.views import ChangeView, RunOutcome
else:  # loaded when the command runs, not for its --help
    messages = lazy("meterbridge.services.messages")
    views = lazy("meterbridge.services.views")


def _what(st: State, change: ChangeView) -> str:
    if change.kind == "create":
        values = change.values
        price = st.unit(values["unitPrice"]) if "unitPrice" in values else "the catalog price"
        what = f"{values.get('quantity')} x {price} from {values.get('effectiveDate')}"
        if "cancelledDate" in values:
            what += f" to {values['cancelledDate']}"
        return what
    if change.fields:
        return ", ".join(f"{f.field} {_value(f.old)} -> {_value(f.new)}" for f in change.fields)
    return change.reason


def _value(value: object) -> str:
    return "none" if value is None else str(value)


def _billed(st: State, change: ChangeView) -> str:
    """What ConnectWise will invoice for the line's addition in the period: before -> after for an
    existing addition, after for a new one; a blocked line, what it bills now and would bill once written."""
    if change.kind == "blocked" and change.would_bill is not None:
        now = "" if change.addition_id is None else f"{st.money(change.old_amount)} now, "
        return f"{now}would bill {st.money(change.would_bill)}"
    if change.addition_id is None:
        return "-" if change.kind == "blocked" else st.money(change.new_amount)
    return f"{st.money(change.old_amount)} -> {st.money(change.new_amount)}"


#: The changes a plan's table shows unless told otherwise: a terminal is no place for 300,000 rows
#: (Rich takes minutes over them); the counts, the money, the hints and the JSON cover them all.
ROWS = 200


def print_plan(st: State, outcome: RunOutcome, details: bool, rows: int = ROWS, scope: tuple[str, ...] = ()) -> None:
    """The plan's table (at most ``rows`` changes, 0 for all), then its counts, money, safety and
    checksum; ``scope``: the ``--customer`` options the plan was made with (for the commands printed)."""
    table = make_table(
        "change", "customer", "ConnectWise product", "agreement", "what", "billed", title=f"plan for {outcome.period}"
    )
    listed = [c for c in outcome.changes or [] if details or c.kind != "noop"]
    shown = listed if rows == 0 else listed[:rows]
    for change in shown:
        what = _what(st, change)
        if change.is_write and change.reason:
            what += f" ({change.reason})"
        warnings = [*change.warnings, *(step.detail for step in change.explanation if step.warning)]
        if warnings:
            what += " [yellow](" + "; ".join(warnings) + ")[/]"
        agreement = str(change.agreement_id or "-")
        table.add_row(change.kind.value, change.customer, change.cw_product, agreement, what, _billed(st, change))
        if details:
            for line in change.explanation_lines():
                table.add_row("", "", "", "", f"[dim]{line}[/]", "")
    st.console.print(table)
    print_cut(st, len(shown), len(listed), ("preview", "--period", outcome.period, *scope), outcome.run)
    hints = {cli_hint(st, c.action, c.params) for c in outcome.changes or [] if c.kind == "blocked" and c.action}
    for hint in sorted(h for h in hints if h):
        st.console.print(f"to unblock: {hint}", soft_wrap=True)
    counts = ", ".join(f"{n} {k}" for k, n in outcome.counts.items() if n)
    st.console.print(f"{counts or 'nothing to do'}")
    money = outcome.totals
    sign = "+" if money.billed_change >= 0 else ""
    st.console.print(
        f"billed: {st.money(money.billed_before)} now -> {st.money(money.billed_after)} after this plan "
        f"({sign}{st.money(money.billed_change)})"
    )
    if outcome.provisional:
        st.console.print(
            f"[yellow]{outcome.period} is not over: this is a provisional bill of the usage so far[/]; push "
            f"{outcome.period} again after it ends"
        )
    held = held_companies(outcome)
    verdicts = {
        "apply": "[green]apply[/]",
        "hold": "[yellow]hold the plan for approval[/]",
        "hold_some": f"[yellow]hold {messages.counted(len(held), 'company')} for approval[/] (listed below), "
        "apply the others",
    }
    st.console.print(f"safety: {verdicts.get(outcome.verdict, outcome.verdict)}")
    for reason in outcome.safety_reasons:
        if not any(reason.startswith(f"{customer}: ") for customer in held):  # the held companies: below
            st.console.print(f"  - {reason}")
    st.console.print(f"checksum: [bold]{outcome.checksum}[/]  (run {outcome.run})", soft_wrap=True)


def print_cut(st: State, shown: int, listed: int, command: tuple[str, ...], run: int) -> None:
    """When a table stopped at its ``--rows``: how many it showed, and the commands (``command``
    with ``--rows 0``, and the run as JSON) that show every change."""
    if shown < listed:
        st.console.print(
            f"showing {shown:,} of {listed:,} changes: all of them with `{st.command(*command, '--rows', '0')}`, "
            f"every line as JSON with `{st.command('--json', 'runs', 'show', str(run))}`",
            soft_wrap=True,
        )


def _line(key: str) -> str:
    from meterbridge.domain.billing import LineKey

    parsed = LineKey.parse(key)
    return f"{parsed.configuration}/{parsed.cw_product}/{parsed.period}"


def held_companies(outcome: RunOutcome) -> dict[str, views.CompanyResult]:
    return {c: v for c, v in outcome.companies.items() if v.status is views.CompanyStatus.HELD}


#: held companies listed one by one, with the command that approves each
HELD_LISTED = 50


def print_held(st: State, outcome: RunOutcome, scope: tuple[str, ...] = ()) -> None:
    """The companies held for approval: each line over a threshold, the command approving each
    company alone, and the one approving them all at once (by the plan's checksum)."""
    held = held_companies(outcome)
    if not held:
        return
    wrote = outcome.kind == "push" and outcome.status.value in ("done", "partial")
    st.console.print(
        f"[yellow]held for approval[/]: {messages.counted(len(held), 'company')}, nothing "
        + ("written for them (the other companies were written):" if wrote else "written for them until approved:")
    )
    for customer, result in list(held.items())[:HELD_LISTED]:
        name = f" ({result.name})" if result.name else ""
        for reason in result.reasons:
            st.console.print(f"  - {customer}{name}: {reason}", soft_wrap=True)
        if result.checksum:
            alone = ("push", "--period", outcome.period, "--customer", customer, "--checksum", result.checksum)
            st.console.print(f"    approve it alone: {st.command(*alone, '--approve-held')}", soft_wrap=True)
    if len(held) > HELD_LISTED:
        st.console.print(
            f"  and {len(held) - HELD_LISTED:,} more: `{st.command('--json', 'runs', 'show', str(outcome.run))}`"
        )
    every = st.command("push", "--period", outcome.period, *scope, "--checksum", outcome.checksum, "--approve-held")
    st.console.print(f"approve every held company at once: {every}", soft_wrap=True)


def print_companies(st: State, outcome: RunOutcome) -> None:
    """The companies that need attention (blocked, failed...; the held ones are ``print_held``'s)."""
    troubled = {
        c: v for c, v in outcome.companies.items() if v.status not in (views.CompanyStatus.OK, views.CompanyStatus.HELD)
    }
    if not troubled:
        return
    table = make_table("customer", "status", "lines", "reasons", title="companies that need attention")
    for customer, result in troubled.items():
        lines = ""
        if result.landed or result.failed:
            lines = f"{len(result.landed)} landed, {len(result.failed)} not: " + ", ".join(
                _line(key) for key in result.failed
            )
        table.add_row(customer, result.status.value, lines, "\n".join(result.reasons))
    st.console.print(table)
