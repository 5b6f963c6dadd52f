"""Demo data for trying meterbridge against cwsim."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from meterbridge.cli.app import app
from meterbridge.cli.lazy import lazy
from meterbridge.cli.render import guarded, make_table, run, state

if TYPE_CHECKING:
    from meterbridge.services import demo, scope
else:  # loaded when the command runs, not for its --help
    demo = lazy("meterbridge.services.demo")
    scope = lazy("meterbridge.services.scope")

demo_app = typer.Typer(help="Demo data for trying meterbridge against cwsim.", no_args_is_help=True)
app.add_typer(demo_app, name="demo")


@demo_app.command("seed")
@guarded("DemoSeeded")
def demo_seed(
    ctx: typer.Context,
    period: Annotated[str, typer.Option()],
    seed: int = 7,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Reset the tenant's products, prices and configurations to the demo's.")
    ] = False,
    months: Annotated[
        int, typer.Option(min=1, max=24, help="Months of usage: the period's and those before it (a year: 12).")
    ] = 1,
) -> None:
    """Customers, products, prices, configurations, a default agreement rule and usage for the imported companies."""
    st = state(ctx)
    view = demo.seed_demo(
        st.context(), st.tenant, scope.parse_period(period), seed=seed, overwrite=overwrite, months=months,
        actor=st.actor,
    )  # fmt: skip
    usage = f"{months} months of usage up to {period}" if months > 1 else f"usage for {period}"
    st.out(view, lambda: st.console.print(f"demo data for {view.customers} customers, {usage}"))


@demo_app.command("history")
@guarded("list[RunOutcome]")
def demo_history(
    ctx: typer.Context,
    period: Annotated[str, typer.Option(help="The demo's period: the months before it are billed.")],
    months: Annotated[int, typer.Option(min=1, max=24, help="Months of history, the period's included.")] = 12,
) -> None:
    """Bill the months before the period one after the other, oldest first (preview, push by the checksum), as if
    meterbridge had billed each of them: the history and the charts of a year."""
    st = state(ctx)
    outcomes = run(
        demo.push_history(st.context(), st.tenant, scope.parse_period(period), months=months, actor=st.actor)
    )

    def human() -> None:
        table = make_table("period", "run", "status", "writes", "billed after")
        for outcome in outcomes:
            writes = outcome.totals.writes
            table.add_row(
                outcome.period, str(outcome.run), outcome.status.value, f"{writes.landed} of {writes.planned}",
                st.money(outcome.totals.billed_after),
            )  # fmt: skip
        st.console.print(table)

    st.out(outcomes, human)
