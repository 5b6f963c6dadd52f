"""Usage samples: add, import a CSV, list, withdraw."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from meterbridge.cli.app import app
from meterbridge.cli.render import fail, guarded, make_table, state
from meterbridge.domain.periods import Period
from meterbridge.services import usage
from meterbridge.services.scope import parse_period
from meterbridge.services.tiers import decimal_of
from meterbridge.services.views import SampleView, UsageStored, Withdrawn

usage_app = typer.Typer(help="Usage samples.", no_args_is_help=True)
app.add_typer(usage_app, name="usage")

SOURCE_HELP = "The usage source; a sample's identity is (source, customer, product, measured_at)."


def _stored_text(stored: UsageStored) -> str:
    return f"{stored.added} new, {stored.replaced} replaced (corrections), {stored.unchanged} unchanged"


def _period_option(text: str | None) -> Period | None:
    return parse_period(text) if text is not None else None


@usage_app.command("add")
@guarded(UsageStored)
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
    sample = usage.Sample(customer, product, moment, decimal_of("quantity", quantity), unit, customer_name)
    stored = usage.store_samples(context, st.tenant, [sample], source=source, actor=st.actor)
    said = "stored" if stored.added else "replaced an earlier value" if stored.replaced else "already stored"
    st.out(stored, lambda: st.console.print(f"sample {said}"))


@usage_app.command("import")
@guarded(UsageStored)
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
        fail(f"{file}: {error.strerror}", 2)
    except UnicodeDecodeError as error:
        fail(f"{file}: byte {error.start} is not UTF-8: save the file as UTF-8 (CSV UTF-8) and import it again", 2)
    stored = usage.import_csv(st.context(), st.tenant, text, source=source, file=str(file), actor=st.actor)
    st.out(stored, lambda: st.console.print(f"{stored.total} samples read from {file}: {_stored_text(stored)}"))


@usage_app.command("list")
@guarded(list[SampleView])
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
        table = make_table("customer", "product", "measured at", "quantity", "source", "received", "withdrawn")
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

    st.out(views, human)


@usage_app.command("delete")
@guarded(Withdrawn)
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
    view = usage.withdraw_samples(
        st.context(),
        st.tenant,
        customer,
        product=product,
        period=_period_option(period),
        source=source,
        at=usage.parse_time("at", at) if at else None,
        actor=st.actor,
    )
    then = f"; see the effect with: {st.command('preview', '--period', period)}" if period and view.withdrawn else ""
    st.out(view, lambda: st.console.print(f"{view.withdrawn} sample(s) of {customer} withdrawn{then}"))
