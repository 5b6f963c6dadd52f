"""ConnectWise companies, the links of customers to them, and customers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from meterbridge.cli.app import app
from meterbridge.cli.lazy import lazy
from meterbridge.cli.render import fail, guarded, make_table, run, state

if TYPE_CHECKING:
    from meterbridge.services import companies, customers
else:  # loaded when the command runs, not for its --help
    companies = lazy("meterbridge.services.companies")
    customers = lazy("meterbridge.services.customers")

companies_app = typer.Typer(help="ConnectWise companies and customer links.", no_args_is_help=True)
app.add_typer(companies_app, name="companies")


@companies_app.command("import")
@guarded("Imported")
def companies_import(ctx: typer.Context) -> None:
    """Refresh the cache of ConnectWise companies."""
    st = state(ctx)
    view = run(companies.import_companies(st.context(), st.tenant, actor=st.actor))
    st.out(view, lambda: st.console.print(f"{view.imported} ConnectWise companies imported"))


@companies_app.command("link")
@guarded("LinkReportView | LinkView")
def companies_link(
    ctx: typer.Context,
    customer: Annotated[str | None, typer.Argument(help="Link this customer by hand...")] = None,
    company: Annotated[str | None, typer.Argument(help="...to this company (identifier or id).")] = None,
) -> None:
    """Without arguments: link every unlinked customer by identifier, then exact name; show near matches."""
    st = state(ctx)
    if customer is not None:
        if company is None:
            fail(f"name the company to link to (identifier or id), or use `{st.command('companies', 'unlink')}`", 2)
        linked = companies.set_link(st.context(), st.tenant, customer, company, actor=st.actor)
        st.out(linked, lambda: st.console.print(f"{customer} linked to {linked.cw_identifier} ({linked.cw_id})"))
        return
    report = companies.link_customers(st.context(), st.tenant, actor=st.actor)

    def human() -> None:
        st.console.print(f"linked {len(report.linked)} customer(s) automatically")
        for entry in report.linked:
            st.console.print(f"  {entry.external_id} -> {entry.cw_identifier} (by {entry.how})")
        if report.suggested:
            table = make_table("customer", "name", "suggestions (score)", title="near matches: link by hand")
            for entry in report.suggested:
                suggestions = ", ".join(f"{s.identifier} ({s.score:.2f})" for s in entry.suggestions)
                table.add_row(entry.external_id, entry.name, suggestions)
            st.console.print(table)
        for entry in report.unmatched:
            st.console.print(f"  [yellow]no match[/] {entry.external_id} ({entry.name})")

    st.out(report, human)


@companies_app.command("suggest")
@guarded("list[SuggestionView]")
def companies_suggest(ctx: typer.Context, customer: str) -> None:
    """The ConnectWise companies a customer may be (name and id alike, scored), each with the command that links it."""
    st = state(ctx)
    views = companies.suggestions(st.context(), st.tenant, customer)

    def human() -> None:
        if not views:
            st.console.print(
                f"no imported company resembles {customer}: find its identifier in ConnectWise (Companies), then "
                f"`{st.command('companies', 'link', customer, 'IDENTIFIER')}`"
            )
        for s in views:
            link = st.command("companies", "link", customer, s.identifier)
            st.console.print(f"{s.score:.2f}  {s.identifier}  {s.name}  ->  {link}", soft_wrap=True)

    st.out(views, human)


@companies_app.command("unlink")
@guarded("LinkView")
def companies_unlink(ctx: typer.Context, customer: str) -> None:
    """Set a customer's link to "not set" (automatic linking leaves it so)."""
    st = state(ctx)
    view = companies.set_link(st.context(), st.tenant, customer, None, actor=st.actor)
    st.out(view, lambda: st.console.print(f"{customer} unlinked"))


@companies_app.command("list")
@guarded("list[LinkView]")
def companies_list(ctx: typer.Context) -> None:
    """Customers and the ConnectWise company each is linked to."""
    st = state(ctx)
    links = companies.list_links(st.context(), st.tenant)

    def human() -> None:
        table = make_table("customer", "name", "company", "id", "how")
        for link in links:
            table.add_row(
                link.external_id, link.name, link.cw_identifier or "-", str(link.cw_id or "-"), link.how or "-"
            )
        st.console.print(table)

    st.out(links, human)


customers_app = typer.Typer(help="Customers (the owners of usage).", no_args_is_help=True)
app.add_typer(customers_app, name="customers")


@customers_app.command("add")
@guarded("CustomerSaved")
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
    view = customers.add_customer(
        st.context(), st.tenant, external_id, name, managed_id=managed_id, push_enabled=push_enabled, actor=st.actor
    )
    st.out(
        view,
        lambda: st.console.print(
            f"customer {external_id} ({view.name}) {'added' if view.created else 'updated'}: push "
            f"{'enabled' if view.push_enabled else 'disabled'}, Managed ID {view.managed_id or '-'}"
        ),
    )


@customers_app.command("list")
@guarded("list[CustomerView]")
def customers_list(ctx: typer.Context) -> None:
    """Customers: link, Managed ID, push enabled, configurations."""
    st = state(ctx)
    views = customers.list_customers(st.context(), st.tenant)

    def human() -> None:
        table = make_table("customer", "name", "company", "Managed ID", "push", "configurations")
        for v in views:
            missing = ""
            if v.missing_since is not None:
                missing = f" [yellow](not listed by {v.source} since {v.missing_since:%Y-%m-%d})[/]"
            table.add_row(
                v.external_id,
                v.name + missing,
                f"{v.cw_identifier} ({v.cw_id})" if v.cw_id else "[yellow]not linked[/]",
                v.managed_id or "-",
                "yes" if v.push_enabled else "[yellow]disabled[/]",
                str(v.configurations),
            )
        st.console.print(table)

    st.out(views, human)
