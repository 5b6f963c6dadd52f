"""meterbridge's command line (Typer + Rich) over the service layer.

Human output by default, ``--json`` (before the command) for scripts. Exit codes:

* 0 done; 1 an unexpected error, or ConnectWise could not be reached;
* 2 invalid input, or set-up missing (the message says which field or step);
* 3 a push held for approval (safety thresholds): review it and push with --checksum;
* 4 a push finished, but some companies failed or are blocked (their reasons are listed);
* 5 another push of the tenant holds the lease (nothing was written twice);
* 6 the plan changed since the checksum was reviewed (nothing was written).
"""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from meterbridge.connectwise.errors import ConnectWiseError
from meterbridge.domain.money import format_money
from meterbridge.domain.periods import Period
from meterbridge.services import (
    basic_setup,
    catalog,
    companies,
    configurations,
    connections,
    demo,
    doctor,
    leaks,
    pins,
    push,
    runs,
    tenants,
    usage,
)
from meterbridge.services.context import Clock, Context
from meterbridge.services.errors import ServiceError
from meterbridge.services.records import change_payload, plain
from meterbridge.settings import Settings
from meterbridge.store.database import Database
from meterbridge.store.secrets import SecretBox, SecretKeyError

T = TypeVar("T")

EXIT_HELD = 3
EXIT_PARTIAL = 4

app = typer.Typer(
    name="meterbridge",
    help="meterbridge: backup usage -> explained, never-twice billing in ConnectWise Manage.",
    no_args_is_help=True,
    add_completion=False,
)


@dataclass(frozen=True)
class Injected:
    """What a program embedding the CLI passes in (``app(obj=Injected(...))``) instead of the
    system's own: the clock (the tests run months and periods on a clock they control)."""

    clock: Clock


@dataclass
class State:
    settings: Settings
    json: bool
    console: Console
    _context: Context | None = None
    clock: Clock | None = None
    global_args: tuple[str, ...] = ()  # --tenant/--home as given: a printed next step repeats them

    _currency: str | None = None

    @property
    def currency(self) -> str:
        if self._currency is None:
            self._currency = tenants.show_settings(self.context(), self.tenant).currency
        return self._currency

    def money(self, amount: Any) -> str:
        """An amount (cents) as money: $1,234.50."""
        return format_money(Decimal(str(amount)), self.currency)

    def unit(self, price: Any) -> str:
        """A unit price as money, every decimal it carries: $0.093333."""
        value = Decimal(str(price))
        return f"{'-' if value < 0 else ''}{self.currency}{abs(value):f}"

    def command(self, *words: str) -> str:
        """A meterbridge command line that works as printed (global options included, values quoted)."""
        return " ".join(shlex.quote(word) for word in ("meterbridge", *self.global_args, *words))

    def context(self, *, upgrade: bool = True) -> Context:
        if self._context is None:
            home = self.settings.home
            if self.settings.database_url is None or self.settings.key_file is None:
                home.mkdir(parents=True, exist_ok=True)
            key = self.settings.secret_key
            box = (
                SecretBox(key.get_secret_value().encode("ascii"))
                if key is not None
                else SecretBox.from_key_file(self.settings.resolved_key_file)
            )
            db = Database(self.settings.resolved_database_url)
            if upgrade and db.current_revision() != db.head_revision():
                db.upgrade()
            self._context = Context(db=db, box=box, clock=self.clock or (lambda: datetime.now(UTC)))
        return self._context

    @property
    def tenant(self) -> str:
        return self.settings.tenant

    def out(self, data: Any, human: Callable[[], None]) -> None:
        if self.json:
            typer.echo(json.dumps(plain(data), indent=2, sort_keys=False, default=str))
        else:
            human()


def state(ctx: typer.Context) -> State:
    value = ctx.obj
    assert isinstance(value, State)
    return value


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


@app.callback()
def main(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of tables.")] = False,
    tenant: Annotated[str | None, typer.Option(help="Tenant key (default: MBRIDGE_TENANT or 'default').")] = None,
    home: Annotated[Path | None, typer.Option(help="Data directory (default: MBRIDGE_HOME or ./.meterbridge).")] = None,
) -> None:
    try:
        settings = Settings()
    except ValidationError as error:
        typer.echo(f"error: settings: {error}", err=True)
        raise typer.Exit(2) from None
    global_args: list[str] = []
    if tenant:
        settings.tenant = tenant
        global_args += ["--tenant", tenant]
    if home:
        settings.home = home
        global_args += ["--home", str(home)]
    injected = ctx.obj if isinstance(ctx.obj, Injected) else None
    ctx.obj = State(
        settings,
        as_json,
        Console(stderr=as_json),
        global_args=tuple(global_args),
        clock=injected.clock if injected else None,
    )


def _fail(message: str, code: int) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def state_url(args: tuple[Any, ...]) -> str:
    context = args[0] if args and isinstance(args[0], typer.Context) else None
    value = context.obj if context is not None else None
    return value.settings.resolved_database_url.split("@")[-1] if isinstance(value, State) else ""


def guarded(function: Callable[..., None]) -> Callable[..., None]:
    """Service errors become a message and their exit code; never a traceback."""
    import functools

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            function(*args, **kwargs)
        except ServiceError as error:
            _fail(str(error), error.exit_code)
        except SecretKeyError as error:
            _fail(str(error), 2)
        except ConnectWiseError as error:
            _fail(f"ConnectWise: {error}", 1)
        except SQLAlchemyError as error:
            _fail(f"database {state_url(args)}: {type(error).__name__}: {str(error).splitlines()[0]}", 1)

    return wrapper


# -- set-up ------------------------------------------------------------------------------------
@app.command()
@guarded
def init(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Option(help="Display name of the tenant.")] = None,
    time_zone: Annotated[str, typer.Option(help="The tenant's time zone; periods are months in it.")] = "UTC",
) -> None:
    """Create the database (migrated), the key file (0600) and the tenant."""
    st = state(ctx)
    created = tenants.init_tenant(st.context(), st.tenant, name=name, time_zone=time_zone)
    st.out(
        {"tenant": st.tenant, "created": created, "database": st.settings.resolved_database_url},
        lambda: st.console.print(
            f"tenant [bold]{st.tenant}[/] {'created' if created else 'already exists'}; "
            f"database {st.settings.resolved_database_url}"
        ),
    )


db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
@guarded
def db_upgrade(ctx: typer.Context) -> None:
    """Bring the schema to the newest migration."""
    st = state(ctx)
    context = st.context(upgrade=False)
    context.db.upgrade()
    revision = context.db.current_revision()
    st.out({"revision": revision}, lambda: st.console.print(f"database at revision {revision}"))


settings_app = typer.Typer(help="Tenant settings: policies and safety thresholds.", no_args_is_help=True)
app.add_typer(settings_app, name="settings")


@settings_app.command("show")
@guarded
def settings_show(ctx: typer.Context) -> None:
    st = state(ctx)
    current = tenants.show_settings(st.context(), st.tenant).model_dump(mode="json")

    def human() -> None:
        for name, value in current.items():
            st.console.print(f"{name} = {value}")

    st.out(current, human)


@settings_app.command("set")
@guarded
def settings_set(
    ctx: typer.Context, assignments: Annotated[list[str], typer.Argument(help="name=value, e.g. max_quantity_drop=0.5")]
) -> None:
    st = state(ctx)
    changes: dict[str, Any] = {}
    for assignment in assignments:
        name, sep, value = assignment.partition("=")
        if not sep:
            _fail(f"{assignment!r}: write name=value", 2)
        changes[name.strip()] = None if value.strip().lower() in ("none", "off", "") else value.strip()
    updated = tenants.update_settings(st.context(), st.tenant, changes).model_dump(mode="json")
    st.out(updated, lambda: st.console.print("settings saved"))


# -- connection ------------------------------------------------------------------------------
connection_app = typer.Typer(help="The ConnectWise connection.", no_args_is_help=True)
app.add_typer(connection_app, name="connection")


@connection_app.command("set")
@guarded
def connection_set(
    ctx: typer.Context,
    site: Annotated[str, typer.Option(help="ConnectWise site host, e.g. na.myconnectwise.net (http:// for cwsim).")],
    company_id: Annotated[str, typer.Option(help="The login company id.")],
    public_key: Annotated[str, typer.Option(help="API member public key.")],
    client_id: Annotated[str, typer.Option(help="Your integration's clientId.")],
    private_key: Annotated[
        str | None, typer.Option(help="API member private key (asked for when left out; stored encrypted).")
    ] = None,
    api_version: Annotated[str, typer.Option(help="Pinned API version.")] = "2026.4",
    codebase: Annotated[str | None, typer.Option(help="e.g. v2026_4/ (discovered when left out).")] = None,
) -> None:
    """Store the connection; the private key is encrypted at rest and never printed."""
    st = state(ctx)
    secret = private_key or typer.prompt("Private key", hide_input=True)
    saved = connections.set_connection(
        st.context(),
        st.tenant,
        site=site,
        company_id=company_id,
        public_key=public_key,
        private_key=secret,
        client_id=client_id,
        api_version=api_version,
        codebase=codebase,
    )
    st.out(
        {"site": saved.site, "company_id": saved.company_id},
        lambda: st.console.print(
            f"connection saved for {saved.site} (company {saved.company_id}); try `meterbridge connection test`"
        ),
    )


@connection_app.command("test")
@guarded
def connection_test(ctx: typer.Context) -> None:
    """Discover the codebase and read system/info with the stored keys."""
    st = state(ctx)
    result = run(connections.test_connection(st.context(), st.tenant))
    st.out(
        result.__dict__,
        lambda: st.console.print(("[green]ok[/] " if result.ok else "[red]failed[/] ") + result.message),
    )
    if not result.ok:
        raise typer.Exit(1)


# -- companies and customers ------------------------------------------------------------------
companies_app = typer.Typer(help="ConnectWise companies and customer links.", no_args_is_help=True)
app.add_typer(companies_app, name="companies")


@companies_app.command("import")
@guarded
def companies_import(ctx: typer.Context) -> None:
    """Refresh the cache of ConnectWise companies."""
    st = state(ctx)
    count = run(companies.import_companies(st.context(), st.tenant))
    st.out({"imported": count}, lambda: st.console.print(f"{count} ConnectWise companies imported"))


@companies_app.command("link")
@guarded
def companies_link(
    ctx: typer.Context,
    customer: Annotated[str | None, typer.Argument(help="Link this customer by hand...")] = None,
    company: Annotated[str | None, typer.Argument(help="...to this company (identifier or id).")] = None,
) -> None:
    """Without arguments: link every unlinked customer by identifier, then exact name; show near matches."""
    st = state(ctx)
    if customer is not None:
        if company is None:
            _fail("name the company to link to (identifier or id), or use `companies unlink`", 2)
        linked = companies.set_link(st.context(), st.tenant, customer, company)
        st.out(
            linked.__dict__, lambda: st.console.print(f"{customer} linked to {linked.cw_identifier} ({linked.cw_id})")
        )
        return
    report = companies.link_customers(st.context(), st.tenant)

    def human() -> None:
        st.console.print(f"linked {len(report.linked)} customer(s) automatically")
        for entry in report.linked:
            st.console.print(f"  {entry.external_id} -> {entry.cw_identifier} (by {entry.how})")
        if report.suggested:
            table = Table("customer", "name", "suggestions (score)", title="near matches: link by hand")
            for entry in report.suggested:
                table.add_row(
                    entry.external_id,
                    entry.name,
                    ", ".join(f"{s.identifier} ({s.score:.2f})" for s in entry.suggestions),
                )
            st.console.print(table)
        for entry in report.unmatched:
            st.console.print(f"  [yellow]no match[/] {entry.external_id} ({entry.name})")

    st.out(
        {
            "linked": [e.__dict__ for e in report.linked],
            "suggested": [{**e.__dict__, "suggestions": [s.__dict__ for s in e.suggestions]} for e in report.suggested],
            "unmatched": [e.__dict__ for e in report.unmatched],
        },
        human,
    )


@companies_app.command("unlink")
@guarded
def companies_unlink(ctx: typer.Context, customer: str) -> None:
    """Set a customer's link to "not set" (automatic linking leaves it so)."""
    st = state(ctx)
    companies.set_link(st.context(), st.tenant, customer, None)
    st.out({"customer": customer, "linked": False}, lambda: st.console.print(f"{customer} unlinked"))


@companies_app.command("list")
@guarded
def companies_list(ctx: typer.Context) -> None:
    """Customers and the ConnectWise company each is linked to."""
    st = state(ctx)
    links = companies.list_links(st.context(), st.tenant)

    def human() -> None:
        table = Table("customer", "name", "company", "id", "how")
        for link in links:
            table.add_row(
                link.external_id, link.name, link.cw_identifier or "-", str(link.cw_id or "-"), link.how or "-"
            )
        st.console.print(table)

    st.out([link.__dict__ for link in links], human)


customers_app = typer.Typer(help="Customers (the owners of usage).", no_args_is_help=True)
app.add_typer(customers_app, name="customers")


@customers_app.command("add")
@guarded
def customers_add(
    ctx: typer.Context,
    external_id: str,
    name: Annotated[str | None, typer.Argument(help="Its name (needed for a new customer).")] = None,
    managed_id: Annotated[
        str | None, typer.Option(help='ConnectWise Managed ID (digits) for Backup Stats; "" removes it.')
    ] = None,
    push_enabled: Annotated[
        bool | None, typer.Option("--push/--no-push", help="Push this customer's billing (default for a new one).")
    ] = None,
) -> None:
    """Add a customer, or change what is given of one (the rest is kept)."""
    st = state(ctx)
    context = st.context()
    created = companies.add_customer(
        context, st.tenant, external_id, name, managed_id=managed_id, push_enabled=push_enabled
    )
    [view] = [c for c in companies.list_customers(context, st.tenant) if c.external_id == external_id]
    st.out(
        {"customer": external_id, "created": created, **view.__dict__},
        lambda: st.console.print(
            f"customer {external_id} ({view.name}) {'added' if created else 'updated'}: push "
            f"{'enabled' if view.push_enabled else 'disabled'}, Managed ID {view.managed_id or '-'}"
        ),
    )


@customers_app.command("list")
@guarded
def customers_list(ctx: typer.Context) -> None:
    """Customers: link, Managed ID, push enabled, configurations."""
    st = state(ctx)
    views = companies.list_customers(st.context(), st.tenant)

    def human() -> None:
        table = Table("customer", "name", "company", "Managed ID", "push", "configurations")
        for v in views:
            table.add_row(
                v.external_id,
                v.name,
                f"{v.cw_identifier} ({v.cw_id})" if v.cw_id else "[yellow]not linked[/]",
                v.managed_id or "-",
                "yes" if v.push_enabled else "[yellow]disabled[/]",
                str(v.configurations),
            )
        st.console.print(table)

    st.out([v.__dict__ for v in views], human)


# -- products, prices, configurations, rules ----------------------------------------------------
products_app = typer.Typer(help="Products, their ConnectWise mapping and prices.", no_args_is_help=True)
app.add_typer(products_app, name="products")


@products_app.command("set")
@guarded
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
    created = catalog.save_product(
        st.context(), st.tenant, key, name=name, kind=kind, unit=unit, basis=basis, cw_product=cw_product
    )
    st.out({"product": key, "created": created}, lambda: st.console.print(f"product {key} saved"))


@products_app.command("list")
@guarded
def products_list(ctx: typer.Context) -> None:
    st = state(ctx)
    views = catalog.list_products(st.context(), st.tenant)

    def human() -> None:
        table = Table(
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
                str(v.unit_price) if v.unit_price is not None else "[yellow]0 (not set)[/]",
                str(v.unit_cost) if v.unit_cost is not None else "-",
                str(len(v.tiers)),
                str(v.overrides),
            )
        st.console.print(table)

    st.out([v.__dict__ for v in views], human)


prices_app = typer.Typer(help="Prices per product and per-customer overrides.", no_args_is_help=True)
app.add_typer(prices_app, name="prices")


def _price_text(st: State, view: catalog.PriceView) -> str:
    text = f"{st.unit(view.unit_price)} (cost {st.unit(view.unit_cost)})"
    if view.tiers:
        text += f", {view.tier_mode} tiers {catalog.format_tiers(view.tiers)}"
    return f"{text}, {view.places} decimals"


@prices_app.command("set")
@guarded
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
    view = catalog.set_price(
        st.context(),
        st.tenant,
        product,
        unit_price=price,
        unit_cost=cost,
        customer=customer,
        tiers=tiers,
        tier_mode=tier_mode,
        places=places,
    )
    whose = f"{product} for {customer}" if customer else product
    st.out(view.__dict__, lambda: st.console.print(f"price of {whose} saved: {_price_text(st, view)}"))


@prices_app.command("list")
@guarded
def prices_list(ctx: typer.Context, product: Annotated[str | None, typer.Option()] = None) -> None:
    """Each product's price, then its customer overrides."""
    st = state(ctx)
    views = catalog.list_prices(st.context(), st.tenant, product=product)

    def human() -> None:
        table = Table("product", "customer", "price", "cost", "tiers", "decimals")
        for v in views:
            table.add_row(
                v.product,
                v.customer or "(price list)",
                st.unit(v.unit_price),
                st.unit(v.unit_cost),
                f"{v.tier_mode}: {catalog.format_tiers(v.tiers)}" if v.tiers else "-",
                str(v.places),
            )
        st.console.print(table)

    st.out([v.__dict__ for v in views], human)


@prices_app.command("delete")
@guarded
def prices_delete(
    ctx: typer.Context,
    product: str,
    customer: Annotated[
        str | None, typer.Option(help="Delete this customer's override (else the product's price).")
    ] = None,
) -> None:
    """Delete a customer's override (the price list applies again) or a product's price (0, flagged)."""
    st = state(ctx)
    catalog.delete_price(st.context(), st.tenant, product, customer=customer)
    what = (
        f"the override of {product} for {customer}: the price list applies again"
        if customer
        else (f"the price of {product}: it bills at 0 (flagged in the preview) until a price is set")
    )
    st.out({"product": product, "customer": customer, "deleted": True}, lambda: st.console.print(f"deleted {what}"))


configurations_app = typer.Typer(help="Billing configurations per customer.", no_args_is_help=True)
app.add_typer(configurations_app, name="configurations")


def _parse_range(text: str) -> dict[str, str | None]:
    parts = text.split(":")
    if len(parts) not in (2, 3, 4):
        _fail(
            f"--range {text!r}: write up_to:CW-PRODUCT[:price[:cost]] (empty up_to for the last range; a price or "
            "cost left out comes from the product's price list)",
            2,
        )
    return {
        "up_to": parts[0] or None,
        "cw_product": parts[1],
        "unit_price": parts[2] if len(parts) > 2 and parts[2] else None,
        "unit_cost": parts[3] if len(parts) > 3 and parts[3] else None,
    }


def _describe_configuration(st: State, view: configurations.ConfigurationView) -> str:
    options = dict(view.options)
    text = f"configuration {view.key} of {view.customer} ({'enabled' if view.enabled else 'disabled'}): "
    text += ", ".join(f"{name}={json.dumps(value)}" for name, value in options.items())
    return text


@configurations_app.command("set")
@guarded
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
    invoiced_policy: Annotated[str | None, typer.Option(help="move or block (default: the tenant's setting)")] = None,
    allow_overlap: Annotated[
        bool | None,
        typer.Option("--allow-overlap/--no-allow-overlap", help="Bill a product another configuration bills too."),
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
        "ranges": [_parse_range(r) for r in range_] if range_ else None,
        "bill_start_policy": bill_start_policy,
        "invoiced_policy": invoiced_policy,
        "allow_overlap": allow_overlap,
    }
    options = {name: value for name, value in given.items() if value is not None}
    created, view = configurations.save_configuration(
        st.context(), st.tenant, customer, key, options, enabled=enabled, clear=clear or (), replace=replace
    )
    st.out(
        {"configuration": key, "created": created, "enabled": view.enabled, "options": view.options},
        lambda: st.console.print(f"{'created' if created else 'updated'} {_describe_configuration(st, view)}"),
    )


@configurations_app.command("list")
@guarded
def configurations_list(ctx: typer.Context, customer: Annotated[str | None, typer.Option()] = None) -> None:
    st = state(ctx)
    views = configurations.list_configurations(st.context(), st.tenant, customer)

    def human() -> None:
        table = Table("customer", "key", "enabled", "options")
        for v in views:
            table.add_row(v.customer, v.key, "yes" if v.enabled else "no", json.dumps(v.options))
        st.console.print(table)

    st.out([v.__dict__ for v in views], human)


@configurations_app.command("delete")
@guarded
def configurations_delete(ctx: typer.Context, key: str) -> None:
    st = state(ctx)
    configurations.delete_configuration(st.context(), st.tenant, key)
    st.out(
        {"deleted": key},
        lambda: st.console.print(f"configuration {key} deleted; its lines are cancelled on the next push"),
    )


@configurations_app.command("pin")
@guarded
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
    outcome = run(pins.set_pin(st.context(), st.tenant, key, cw_id, target="addition" if addition else "agreement"))
    st.out(
        {"configuration": key, "pinned": cw_id, "checked": outcome.checked, "message": outcome.message},
        lambda: st.console.print(outcome.message if outcome.checked else f"[yellow]{outcome.message}[/]"),
    )


rules_app = typer.Typer(help="Agreement and addition rules (ConnectWise conditions language).", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


@rules_app.command("set")
@guarded
def rules_set(
    ctx: typer.Context,
    name: str,
    text: str,
    target: Annotated[str, typer.Option(help="agreement or addition")] = "agreement",
) -> None:
    """e.g. `rules set default-agreement 'type/name = "Backup Services" and name contains "Backup"'`."""
    st = state(ctx)
    configurations.save_rule(st.context(), st.tenant, name, text, target=target)
    st.out({"rule": name}, lambda: st.console.print(f"rule {name} saved"))


@rules_app.command("list")
@guarded
def rules_list(ctx: typer.Context) -> None:
    st = state(ctx)
    rules = configurations.list_rules(st.context(), st.tenant)

    def human() -> None:
        table = Table("name", "target", "rule")
        for rule in rules:
            table.add_row(*rule)
        st.console.print(table)

    st.out([{"name": n, "target": t, "text": x} for n, t, x in rules], human)


# -- usage -----------------------------------------------------------------------------------
usage_app = typer.Typer(help="Usage samples.", no_args_is_help=True)
app.add_typer(usage_app, name="usage")


SOURCE_HELP = "The usage source; a sample's identity is (source, customer, product, measured_at)."


def _stored_text(stored: usage.Stored) -> str:
    return f"{stored.added} new, {stored.replaced} replaced (corrections), {stored.unchanged} unchanged"


def _period_option(text: str | None) -> Period | None:
    return push.parse_period(text) if text is not None else None


@usage_app.command("add")
@guarded
def usage_add(
    ctx: typer.Context,
    customer: str,
    product: str,
    quantity: str,
    unit: str,
    at: Annotated[str | None, typer.Option(help="When measured (ISO 8601 with zone); default now.")] = None,
    customer_name: Annotated[str | None, typer.Option(help="Create the customer with this name if new.")] = None,
    source: Annotated[str, typer.Option(help=SOURCE_HELP)] = usage.DEFAULT_SOURCE,
) -> None:
    """Add one sample; the same customer, product and time again replaces it (a correction)."""
    st = state(ctx)
    context = st.context()
    moment = usage.parse_time("at", at) if at else context.clock()
    sample = usage.Sample(customer, product, moment, catalog.decimal_of("quantity", quantity), unit, customer_name)
    stored = usage.store_samples(context, st.tenant, [sample], source=source)
    said = "stored" if stored.added else "replaced an earlier value" if stored.replaced else "already stored"
    st.out({"source": source, **stored.__dict__}, lambda: st.console.print(f"sample {said}"))


@usage_app.command("import")
@guarded
def usage_import(
    ctx: typer.Context,
    file: Path,
    source: Annotated[str, typer.Option(help=SOURCE_HELP)] = usage.DEFAULT_SOURCE,
) -> None:
    """Import a CSV: customer,product,measured_at,quantity,unit[,customer_name]. All rows or none;
    importing the same file again changes nothing, a new value for a sample replaces the old one."""
    st = state(ctx)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except OSError as error:
        _fail(f"{file}: {error.strerror}", 2)
        return
    except UnicodeDecodeError as error:
        _fail(f"{file}: byte {error.start} is not UTF-8: save the file as UTF-8 (CSV UTF-8) and import it again", 2)
        return
    stored = usage.import_csv(st.context(), st.tenant, text, source=source)
    st.out(
        {"file": str(file), "source": source, **stored.__dict__},
        lambda: st.console.print(f"{stored.total} samples read from {file}: {_stored_text(stored)}"),
    )


@usage_app.command("list")
@guarded
def usage_list(
    ctx: typer.Context,
    customer: Annotated[str | None, typer.Option()] = None,
    product: Annotated[str | None, typer.Option()] = None,
    period: Annotated[str | None, typer.Option(help="Billing month, e.g. 2026-10.")] = None,
    source: Annotated[str | None, typer.Option()] = None,
    withdrawn: Annotated[bool, typer.Option("--withdrawn", help="Include withdrawn samples.")] = False,
    limit: int = 500,
) -> None:
    """Samples, newest first."""
    st = state(ctx)
    views = usage.list_samples(
        st.context(),
        st.tenant,
        customer=customer,
        product=product,
        period=_period_option(period),
        source=source,
        withdrawn=withdrawn,
        limit=limit,
    )

    def human() -> None:
        table = Table("customer", "product", "measured at", "quantity", "source", "received", "withdrawn")
        for v in views:
            table.add_row(
                v.customer,
                v.product,
                v.measured_at.isoformat(),
                f"{v.quantity} {v.unit}",
                v.source,
                f"{v.received_at:%Y-%m-%d %H:%M}",
                f"{v.withdrawn_at:%Y-%m-%d %H:%M}" if v.withdrawn_at else "-",
            )
        st.console.print(table)

    st.out([v.__dict__ for v in views], human)


@usage_app.command("delete")
@guarded
def usage_delete(
    ctx: typer.Context,
    customer: str,
    product: Annotated[str | None, typer.Option()] = None,
    period: Annotated[str | None, typer.Option(help="Only samples measured in this month, e.g. 2026-10.")] = None,
    at: Annotated[str | None, typer.Option(help="Only the sample measured at this time (ISO 8601 with zone).")] = None,
    source: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Withdraw a customer's samples (kept for the record, no longer counted); preview again to see the effect."""
    st = state(ctx)
    count = usage.withdraw_samples(
        st.context(),
        st.tenant,
        customer,
        product=product,
        period=_period_option(period),
        source=source,
        at=usage.parse_time("at", at) if at else None,
    )
    st.out(
        {"customer": customer, "withdrawn": count},
        lambda: st.console.print(
            f"{count} sample(s) of {customer} withdrawn"
            + (f"; see the effect with: {st.command('preview', '--period', period)}" if period and count else "")
        ),
    )


# -- preview, push, history ----------------------------------------------------------------------
def _what(st: State, change: Any) -> str:
    if change.kind.value == "create":
        values = change.values
        price = st.unit(values["unitPrice"]) if "unitPrice" in values else "the catalog price"
        what = f"{values.get('quantity')} x {price} from {values.get('effectiveDate')}"
        if "cancelledDate" in values:
            what += f" to {values['cancelledDate']}"
        return what
    if change.fields:
        return ", ".join(f"{f.field} {f.old} -> {f.new}" for f in change.fields)
    return str(change.reason)


def _billed(st: State, change: Any) -> str:
    """What the line charges on the invoice, before -> after for an existing addition."""
    if change.kind.value == "blocked":
        return "-"
    after = 0 if change.kind.value == "cancel" else change.new_amount
    if change.addition_id is None:
        return st.money(after)
    return f"{st.money(change.old_amount)} -> {st.money(after)}"


def _print_plan(st: State, outcome: push.Outcome, details: bool) -> None:
    assert outcome.built is not None
    plan = outcome.built.plan
    table = Table(
        "change", "customer", "ConnectWise product", "agreement", "what", "billed", title=f"plan for {outcome.period}"
    )
    for change in plan.changes:
        if change.kind.value == "noop" and not details:
            continue
        what = _what(st, change)
        if change.kind.value in ("create", "update", "cancel") and change.reason:
            what += f" ({change.reason})"
        warnings = [*change.warnings, *(step.detail for step in change.explanation.warnings)]
        if warnings:
            what += " [yellow](" + "; ".join(warnings) + ")[/]"
        billed = _billed(st, change)
        table.add_row(
            change.kind.value, change.customer, change.cw_product, str(change.agreement_id or "-"), what, billed
        )
        if details:
            for line in change.explanation.lines():
                table.add_row("", "", "", "", f"[dim]{line}[/]", "")
    st.console.print(table)
    counts = ", ".join(f"{n} {k}" for k, n in outcome.counts.items() if n)
    st.console.print(f"{counts or 'nothing to do'}")
    money = outcome.totals
    st.console.print(
        f"billed: {st.money(money['billed_before'])} now -> {st.money(money['billed_after'])} after this plan "
        f"({'+' if money['billed_change'] >= 0 else ''}{st.money(money['billed_change'])})"
    )
    if outcome.provisional:
        st.console.print(
            f"[yellow]{outcome.period} is not over: this is a provisional bill of the usage so far[/]; push "
            f"{outcome.period} again after it ends"
        )
    verdict = "[green]apply[/]" if outcome.verdict == "apply" else "[yellow]hold for approval[/]"
    st.console.print(f"safety: {verdict}")
    for reason in outcome.safety_reasons:
        st.console.print(f"  - {reason}")
    st.console.print(f"checksum: [bold]{outcome.checksum}[/]  (run {outcome.run_id})", soft_wrap=True)


def _print_companies(st: State, outcome: push.Outcome) -> None:
    troubled = {c: v for c, v in outcome.companies.items() if v["status"] != "ok"}
    if not troubled:
        return
    table = Table("customer", "status", "lines", "reasons", title="companies that need attention")
    for customer, entry in troubled.items():
        lines = ""
        if entry["landed"] or entry["failed"]:
            lines = f"{len(entry['landed'])} landed, {len(entry['failed'])} not: " + ", ".join(
                key.split("/", 1)[1] for key in entry["failed"]
            )
        table.add_row(customer, entry["status"], lines, "\n".join(entry["reasons"]))
    st.console.print(table)


def _customers(values: list[str] | None) -> frozenset[str] | None:
    return frozenset(values) if values else None


def _scope(customers: list[str] | None) -> list[str]:
    return [word for customer in customers or [] for word in ("--customer", customer)]


@app.command()
@guarded
def preview(
    ctx: typer.Context,
    period: Annotated[str, typer.Option(help="Billing month, e.g. 2026-10.")],
    customer: Annotated[list[str] | None, typer.Option(help="Only these customers (repeat).")] = None,
    details: Annotated[bool, typer.Option(help="Show noops and how every number was derived.")] = False,
) -> None:
    """Plan a period against what ConnectWise holds now; nothing is written to ConnectWise."""
    st = state(ctx)
    outcome = run(push.preview(st.context(), st.tenant, period, only=_customers(customer)))

    def human() -> None:
        _print_plan(st, outcome, details)
        _print_companies(st, outcome)
        assert outcome.built is not None
        if outcome.built.plan.writes:
            apply = st.command("push", "--period", outcome.period, *_scope(customer), "--checksum", outcome.checksum)
            st.console.print(f"apply it: {apply}", soft_wrap=True)
        else:
            st.console.print("nothing to write: ConnectWise already holds this plan")

    data = outcome.as_dict()
    if st.json:
        assert outcome.built is not None
        data["changes"] = [change_payload(c) for c in outcome.built.plan.changes]
    st.out(data, human)


@app.command("push")
@guarded
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
            )
        )

    def human() -> None:
        if outcome.interrupted:
            st.console.print(
                f"earlier push(es) {', '.join(map(str, outcome.interrupted))} had been killed: marked interrupted "
                f"(`{st.command('runs', 'show', str(outcome.interrupted[0]))}` shows what they wrote)"
            )
        if any(outcome.resumed.values()):
            st.console.print(f"resumed an earlier push: {outcome.resumed}")
        if outcome.status == "held":
            _print_plan(st, outcome, False)
            approve = st.command("push", "--period", outcome.period, *_scope(customer), "--checksum", outcome.checksum)
            st.console.print(
                f"[yellow]held for approval[/]: nothing written. Review it, then: {approve}", soft_wrap=True
            )
        else:
            writes = outcome.totals["writes"]
            st.console.print(
                f"push {outcome.status}: {writes['landed']} of {writes['planned']} write(s) landed, "
                f"{writes['failed']} failed; {outcome.calls} ConnectWise call(s) (run {outcome.run_id})"
            )
            money = outcome.totals
            st.console.print(
                f"billed for {outcome.period}: {st.money(money['billed_before'])} before -> "
                f"{st.money(money['billed_after'])} planned"
            )
            if outcome.approval and outcome.approval != "the approved plan":
                st.console.print(f"approval: {outcome.approval}")
            if outcome.provisional:
                st.console.print(
                    f"[yellow]{outcome.period} is not over: a provisional bill[/]; push it again after it ends"
                )
        _print_companies(st, outcome)

    st.out(outcome.as_dict(), human)
    if outcome.status == "held":
        raise typer.Exit(EXIT_HELD)
    if outcome.status == "partial":
        raise typer.Exit(EXIT_PARTIAL)


runs_app = typer.Typer(help="History of previews and pushes.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")


@runs_app.command("list")
@guarded
def runs_list(ctx: typer.Context, limit: int = 20) -> None:
    st = state(ctx)
    views = runs.list_runs(st.context(), st.tenant, limit=limit)

    def human() -> None:
        table = Table("run", "period", "kind", "trigger", "by", "started", "status", "changes", "calls")
        for v in views:
            counts = v.summary.get("counts", {})
            changes = ", ".join(f"{n} {k}" for k, n in counts.items() if n and k != "noop")
            table.add_row(
                str(v.id),
                v.period,
                v.kind,
                v.trigger,
                v.started_by,
                f"{v.started_at:%Y-%m-%d %H:%M}",
                v.status,
                changes or "-",
                str(v.calls.get("total", "-")),
            )
        st.console.print(table)

    st.out([v.as_dict() for v in views], human)


@runs_app.command("show")
@guarded
def runs_show(ctx: typer.Context, run_id: int) -> None:
    st = state(ctx)
    view, items = runs.show_run(st.context(), st.tenant, run_id)

    def human() -> None:
        st.console.print(
            f"run {view.id}: {view.kind} of {view.period} by {view.started_by} ({view.trigger}), {view.status}"
        )
        table = Table("change", "customer", "ConnectWise product", "status", "reason / error")
        for item in items:
            if item["kind"] == "noop":
                continue
            table.add_row(
                item["kind"],
                item["customer"],
                item["cw_product"],
                item["status"] or "-",
                item["error"] or item["reason"],
            )
        st.console.print(table)
        for customer, entry in view.summary.get("companies", {}).items():
            if entry["status"] != "ok":
                st.console.print(f"  {customer}: {entry['status']}: {'; '.join(entry['reasons'])}")

    st.out({**view.as_dict(), "items": items}, human)


# -- checks and reports ------------------------------------------------------------------------
@app.command("doctor")
@guarded
def doctor_command(
    ctx: typer.Context,
    period: Annotated[str, typer.Option(help="Billing month, e.g. 2026-10.")],
    create: Annotated[bool, typer.Option(help="Create missing catalog items and agreements.")] = False,
) -> None:
    """Check the ConnectWise side of the set-up (and fix what can be fixed with --create)."""
    st = state(ctx)
    diagnosis = run(doctor.diagnose(st.context(), st.tenant, period, create=create))

    def human() -> None:
        colours = {"ok": "green", "warning": "yellow", "error": "red"}
        for f in diagnosis.findings:
            mark = "fixed" if f.fixed else f.severity
            st.console.print(f"[{colours[f.severity]}]{mark:>7}[/] {f.check}: {f.subject}: {f.message}")

    st.out([f.as_dict() for f in diagnosis.findings], human)
    if diagnosis.errors:
        raise typer.Exit(EXIT_PARTIAL)


@app.command("leaks")
@guarded
def leaks_command(
    ctx: typer.Context, period: Annotated[str, typer.Option(help="Billing month, e.g. 2026-10.")]
) -> None:
    """Revenue leaks: usage with no billing line, billing lines with no usage."""
    st = state(ctx)
    report = run(leaks.revenue_leaks(st.context(), st.tenant, period))

    def human() -> None:
        table = Table("kind", "customer", "what", "detail", title=f"revenue leaks in {report.period}")
        for leak in report.leaks:
            table.add_row(leak.kind, leak.customer, leak.subject, leak.detail)
        st.console.print(table if report.leaks else "no leaks found")

    st.out([leak.as_dict() for leak in report.leaks], human)


@app.command("backup-stats")
@guarded
def backup_stats(
    ctx: typer.Context,
    period: Annotated[str, typer.Option(help="Billing month, e.g. 2026-10.")],
    wait: Annotated[float, typer.Option(help="Seconds to wait for a running push.")] = 0.0,
) -> None:
    """Basic setup: publish Backup Stats configurations (billable GB, year, month) by Managed ID."""
    st = state(ctx)
    outcome = run(basic_setup.publish_backup_stats(st.context(), st.tenant, period, wait_seconds=wait))

    def human() -> None:
        st.console.print(
            f"{len(outcome.created)} created, {len(outcome.updated)} updated, {len(outcome.unchanged)} unchanged, "
            f"{len(outcome.skipped)} skipped, {len(outcome.failed)} failed"
        )
        for customer, reason in {**outcome.skipped, **outcome.failed}.items():
            st.console.print(f"  {customer}: {reason}")

    st.out(outcome.as_dict(), human)
    if outcome.failed:
        raise typer.Exit(EXIT_PARTIAL)


demo_app = typer.Typer(help="Demo data for trying meterbridge against cwsim.", no_args_is_help=True)
app.add_typer(demo_app, name="demo")


@demo_app.command("seed")
@guarded
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
    count = demo.seed_demo(st.context(), st.tenant, push.parse_period(period), seed=seed, overwrite=overwrite)
    st.out({"customers": count}, lambda: st.console.print(f"demo data for {count} customers"))


def entry() -> None:
    app()
