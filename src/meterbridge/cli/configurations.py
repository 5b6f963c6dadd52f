"""Billing configurations per customer, their pins, and the rules that pick agreements and additions."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from meterbridge.cli.app import app
from meterbridge.cli.lazy import lazy
from meterbridge.cli.render import guarded, make_table, run, state

if TYPE_CHECKING:
    from meterbridge.services import configuration_options, configurations, pins, rules
    from meterbridge.services.views import ConfigurationView
else:  # loaded when the command runs, not for its --help
    configurations = lazy("meterbridge.services.configurations")
    pins = lazy("meterbridge.services.pins")
    rules = lazy("meterbridge.services.rules")
    configuration_options = lazy("meterbridge.services.configuration_options")

configurations_app = typer.Typer(help="Billing configurations per customer.", no_args_is_help=True)
app.add_typer(configurations_app, name="configurations")


def _describe(view: ConfigurationView) -> str:
    text = f"configuration {view.key} of {view.customer} ({'enabled' if view.enabled else 'disabled'}): "
    return text + ", ".join(f"{name}={json.dumps(value)}" for name, value in view.options.items())


@configurations_app.command("set")
@guarded("ConfigurationSaved")
def configurations_set(
    ctx: typer.Context,
    customer: str,
    key: str,
    products: Annotated[str | None, typer.Option(help="Product keys, comma separated (needed for a new one).")] = None,
    cw_product: Annotated[
        str | None, typer.Option(help="ConnectWise product (default: the products' mapping).")
    ] = None,
    bill_mode: Annotated[str | None, typer.Option(help="Billable, DoNotBill or NoCharge")] = None,
    data_mode: Annotated[str | None, typer.Option(help="average, total or quantity")] = None,
    block_size: Annotated[str | None, typer.Option(help="Bill in blocks of this size, rounded up.")] = None,
    included: Annotated[str | None, typer.Option(help="Included quantity, not billed.")] = None,
    zero_policy: Annotated[str | None, typer.Option(help="zero, cancel or leave")] = None,
    strategy: Annotated[str | None, typer.Option(help="running or per_period")] = None,
    description: Annotated[
        str | None, typer.Option(help="Invoice description template, e.g. '{product} {month}'.")
    ] = None,
    agreement_rule: Annotated[str | None, typer.Option(help="Rule name (default: default-agreement).")] = None,
    addition_rule: Annotated[str | None, typer.Option(help="Rule name: adopt the existing addition it picks.")] = None,
    range_: Annotated[
        list[str] | None,
        typer.Option("--range", help="GB range up_to:CW-PRODUCT[:price[:cost]] (repeat; replaces the ranges)"),
    ] = None,
    bill_start_policy: Annotated[
        str | None, typer.Option(help="clamp or block (default: the tenant's setting)")
    ] = None,
    invoiced_policy: Annotated[
        str | None, typer.Option(help="adjust, move, block or allow (default: the tenant's setting)")
    ] = None,
    allow_overlap: Annotated[
        bool | None,
        typer.Option("--allow-overlap/--no-allow-overlap", help="Bill a product another configuration bills too."),
    ] = None,
    beside: Annotated[
        list[int] | None,
        typer.Option(
            "--beside",
            help="An addition nobody owns (made by hand) to bill beside knowingly (repeat; replaces the list).",
        ),
    ] = None,
    adopt: Annotated[
        int | None, typer.Option("--adopt", help="An existing addition to adopt as this configuration's own.")
    ] = None,
    enabled: Annotated[
        bool | None, typer.Option("--enabled/--disabled", help="Bill it, or keep it without billing it.")
    ] = None,
    clear: Annotated[
        list[str] | None, typer.Option(help="Reset this option to its default (repeat), e.g. --clear block_size.")
    ] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Reset every option not given to its default.")] = False,
) -> None:
    """Create a billing configuration, or change the options given of one (the others are kept)."""
    st = state(ctx)
    given: dict[str, Any] = {
        "products": [p.strip() for p in products.split(",") if p.strip()] if products is not None else None,
        "cw_product": cw_product,
        "bill_mode": bill_mode,
        "data_mode": data_mode,
        "block_size": block_size,
        "included": included,
        "zero_policy": zero_policy,
        "strategy": strategy,
        "description": description,
        "agreement_rule": agreement_rule,
        "addition_rule": addition_rule,
        "ranges": [configuration_options.parse_range(r, "--range") for r in range_] if range_ else None,
        "bill_start_policy": bill_start_policy,
        "invoiced_policy": invoiced_policy,
        "allow_overlap": allow_overlap,
        "beside": beside,
    }
    options = {name: value for name, value in given.items() if value is not None}
    view = configurations.save_configuration(
        st.context(), st.tenant, customer, key, options, enabled=enabled, clear=clear or (), replace=replace,
        actor=st.actor,
    )  # fmt: skip
    pinned = None
    if adopt is not None:
        pinned = run(pins.set_pin(st.context(), st.tenant, key, adopt, target="addition", actor=st.actor))

    def human() -> None:
        st.console.print(f"{'created' if view.created else 'updated'} {_describe(view)}")
        if pinned is not None:
            st.console.print(pinned.message if pinned.checked else f"[yellow]{pinned.message}[/]")

    st.out(view, human)


@configurations_app.command("list")
@guarded("list[ConfigurationView]")
def configurations_list(ctx: typer.Context, customer: Annotated[str | None, typer.Option()] = None) -> None:
    """Configurations, by customer, with the options each sets."""
    st = state(ctx)
    views = configurations.list_configurations(st.context(), st.tenant, customer)

    def human() -> None:
        table = make_table("customer", "key", "enabled", "options")
        for v in views:
            table.add_row(v.customer, v.key, "yes" if v.enabled else "no", json.dumps(v.options))
        st.console.print(table)

    st.out(views, human)


@configurations_app.command("delete")
@guarded("Deleted")
def configurations_delete(ctx: typer.Context, key: str) -> None:
    """Delete a configuration; the next push hands its additions over or retires them (the preview says which)."""
    st = state(ctx)
    view = configurations.delete_configuration(st.context(), st.tenant, key, actor=st.actor)
    st.out(view, lambda: st.console.print(f"configuration {key} deleted; {view.detail}"))


@configurations_app.command("pin")
@guarded("PinView")
def configurations_pin(
    ctx: typer.Context,
    key: str,
    cw_id: Annotated[
        int | None, typer.Argument(help="Agreement (or addition) id; leave out to remove the pin.")
    ] = None,
    addition: Annotated[bool, typer.Option("--addition", help="Pin the existing addition to adopt.")] = False,
) -> None:
    """Resolve an ambiguous or missing agreement (or addition) by hand; checked in ConnectWise first."""
    st = state(ctx)
    target: pins.Target = "addition" if addition else "agreement"
    view = run(pins.set_pin(st.context(), st.tenant, key, cw_id, target=target, actor=st.actor))
    st.out(view, lambda: st.console.print(view.message if view.checked else f"[yellow]{view.message}[/]"))


rules_app = typer.Typer(help="Agreement and addition rules (ConnectWise conditions language).", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


@rules_app.command("set")
@guarded("RuleView")
def rules_set(
    ctx: typer.Context,
    name: str,
    text: str,
    target: Annotated[str, typer.Option(help="agreement or addition")] = "agreement",
) -> None:
    """e.g. `rules set default-agreement 'type/name = "Backup Services" and name contains "Backup"'`."""
    st = state(ctx)
    view = rules.save_rule(st.context(), st.tenant, name, text, target=target, actor=st.actor)
    st.out(view, lambda: st.console.print(f"rule {name} saved"))


@rules_app.command("list")
@guarded("list[RuleView]")
def rules_list(ctx: typer.Context) -> None:
    """Rules and what they pick."""
    st = state(ctx)
    views = rules.list_rules(st.context(), st.tenant)

    def human() -> None:
        table = make_table("name", "target", "rule")
        for rule in views:
            table.add_row(rule.name, rule.target, rule.text)
        st.console.print(table)

    st.out(views, human)
