"""Products (and their ConnectWise mapping) and prices (price lists, overrides, tiers)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from meterbridge.cli.app import app
from meterbridge.cli.lazy import lazy
from meterbridge.cli.render import State, guarded, make_table, state

if TYPE_CHECKING:
    from meterbridge.services import prices, products, tiers
    from meterbridge.services.views import PriceView
else:  # loaded when the command runs, not for its --help
    prices = lazy("meterbridge.services.prices")
    products = lazy("meterbridge.services.products")
    tiers = lazy("meterbridge.services.tiers")

products_app = typer.Typer(help="Products, their ConnectWise mapping and prices.", no_args_is_help=True)
app.add_typer(products_app, name="products")


@products_app.command("set")
@guarded("ProductSaved")
def products_set(
    ctx: typer.Context,
    key: str,
    name: Annotated[str | None, typer.Option()] = None,
    kind: Annotated[str | None, typer.Option(help="license, storage, device or traffic (new: license)")] = None,
    unit: Annotated[str | None, typer.Option(help="count, B, MB, GB, TB, MiB, GiB, TiB (new: count)")] = None,
    basis: Annotated[str | None, typer.Option(help="last, max, average (time-weighted) or sum (new: last)")] = None,
    cw_product: Annotated[
        str | None, typer.Option(help='ConnectWise catalog item identifier; "" removes the mapping.')
    ] = None,
) -> None:
    """Add a product, or change what is given of one (the rest is kept)."""
    st = state(ctx)
    view = products.save_product(
        st.context(),
        st.tenant,
        key,
        name=name,
        kind=kind,
        unit=unit,
        basis=basis,
        cw_product=cw_product,
        actor=st.actor,
    )
    st.out(view, lambda: st.console.print(f"product {key} saved"))


@products_app.command("list")
@guarded("list[ProductView]")
def products_list(ctx: typer.Context) -> None:
    """Products with their mapping, price and overrides."""
    st = state(ctx)
    views = products.list_products(st.context(), st.tenant)

    def human() -> None:
        table = make_table(
            "key", "name", "kind", "unit", "basis", "ConnectWise product", "price", "cost", "tiers", "overrides"
        )
        for v in views:
            table.add_row(
                v.key,
                v.name,
                v.kind,
                v.unit,
                v.basis,
                v.cw_product or "[red]not mapped[/]",
                st.unit(v.unit_price) if v.unit_price is not None else "[yellow]0 (not set)[/]",
                st.unit(v.unit_cost) if v.unit_cost is not None else "-",
                str(len(v.tiers)),
                str(v.overrides),
            )
        st.console.print(table)

    st.out(views, human)


prices_app = typer.Typer(help="Prices per product and per-customer overrides.", no_args_is_help=True)
app.add_typer(prices_app, name="prices")


def _price_text(st: State, view: PriceView) -> str:
    text = f"{st.unit(view.unit_price)} (cost {st.unit(view.unit_cost)})"
    if view.tiers:
        text += f", {view.tier_mode} tiers {tiers.format_tiers(view.tiers)}"
    return f"{text}, {view.places} decimals"


@prices_app.command("set")
@guarded("PriceView")
def prices_set(
    ctx: typer.Context,
    product: str,
    price: Annotated[str | None, typer.Option(help="Unit price, e.g. 0.12 (kept when left out).")] = None,
    cost: Annotated[str | None, typer.Option(help="Unit cost (kept when left out).")] = None,
    customer: Annotated[str | None, typer.Option(help="Override for this customer only.")] = None,
    tiers: Annotated[
        str | None, typer.Option(help='e.g. "1000:0.10,5000:0.08,:0.05" (up_to:price[:cost]); "" removes them.')
    ] = None,
    tier_mode: Annotated[str | None, typer.Option(help="graduated or volume")] = None,
    places: Annotated[int | None, typer.Option(help="Decimals the price keeps (0 to 8, default 2).")] = None,
) -> None:
    """Set a product's price or a customer's override; only the options given change."""
    st = state(ctx)
    view = prices.set_price(
        st.context(),
        st.tenant,
        product,
        unit_price=price,
        unit_cost=cost,
        customer=customer,
        tiers=tiers,
        tier_mode=tier_mode,
        places=places,
        actor=st.actor,
    )
    whose = f"{product} for {customer}" if customer else product
    st.out(view, lambda: st.console.print(f"price of {whose} saved: {_price_text(st, view)}"))


@prices_app.command("list")
@guarded("list[PriceView]")
def prices_list(ctx: typer.Context, product: Annotated[str | None, typer.Option()] = None) -> None:
    """Each product's price, then its customer overrides."""
    st = state(ctx)
    views = prices.list_prices(st.context(), st.tenant, product=product)

    def human() -> None:
        table = make_table("product", "customer", "price", "cost", "tiers", "decimals")
        for v in views:
            table.add_row(
                v.product,
                v.customer or "(price list)",
                st.unit(v.unit_price),
                st.unit(v.unit_cost),
                f"{v.tier_mode}: {tiers.format_tiers(v.tiers)}" if v.tiers else "-",
                str(v.places),
            )
        st.console.print(table)

    st.out(views, human)


@prices_app.command("delete")
@guarded("Deleted")
def prices_delete(
    ctx: typer.Context,
    product: str,
    customer: Annotated[
        str | None, typer.Option(help="Delete this customer's override (else the product's price).")
    ] = None,
) -> None:
    """Delete a customer's override (the price list applies again) or a product's price (0, flagged)."""
    st = state(ctx)
    view = prices.delete_price(st.context(), st.tenant, product, customer=customer, actor=st.actor)
    what = f"the override of {product} for {customer}" if customer else f"the price of {product}"
    st.out(view, lambda: st.console.print(f"deleted {what}: {view.detail}"))
