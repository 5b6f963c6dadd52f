"""Demo data for trying meterbridge against cwsim."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from meterbridge.cli.app import app
from meterbridge.cli.lazy import lazy
from meterbridge.cli.render import guarded, state

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
) -> None:
    """Customers, products, prices, configurations, a default agreement rule and usage for the imported companies."""
    st = state(ctx)
    view = demo.seed_demo(
        st.context(), st.tenant, scope.parse_period(period), seed=seed, overwrite=overwrite, actor=st.actor
    )
    st.out(view, lambda: st.console.print(f"demo data for {view.customers} customers"))
