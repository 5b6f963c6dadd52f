"""Usage sources meterbridge pulls (an HTTP JSON API): add, list, show, pull now, enable, disable,
remove. `meterbridge serve` (or `meterbridge worker`) pulls the hourly and daily ones."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from meterbridge.cli.app import app
from meterbridge.cli.lazy import lazy
from meterbridge.cli.render import State, fail, guarded, make_table, state
from meterbridge.cli.usage import print_import

if TYPE_CHECKING:
    from meterbridge.services import pulls
    from meterbridge.services.views import SourceView
else:  # loaded when the command runs, not for its --help
    pulls = lazy("meterbridge.services.pulls")

sources_app = typer.Typer(
    help="Usage sources pulled over HTTP (a vendor's usage API): paging, field mapping, hourly or daily pulls.",
    no_args_is_help=True,
)
app.add_typer(sources_app, name="sources")


def _pairs(option: str, given: list[str] | None, separator: str = "=") -> dict[str, str]:
    pairs = {}
    for text in given or []:
        key, found, value = text.partition(separator)
        if not found or not key.strip():
            fail(f"--{option}: {text!r} is not KEY{separator}VALUE", 2)
        pairs[key.strip()] = value.strip()
    return pairs


def _translations(given: list[str] | None) -> dict[str, dict[str, str]]:
    values: dict[str, dict[str, str]] = {}
    for field, pair in _pairs("translate", given, ":").items():
        theirs, ours = next(iter(_pairs("translate", [pair]).items()))
        values.setdefault(field, {})[theirs] = ours
    return values


def _minute(every: str, at: str) -> int:
    if every == "daily":
        hours, found, minutes = at.partition(":")
        if not (found and hours.isdigit() and minutes.isdigit()):
            fail(f"--at: {at!r} is not a time of day (HH:MM) for a daily pull", 2)
        return int(hours) * 60 + int(minutes)
    if not at.isdigit():
        fail(f"--at: {at!r} is not a minute past the hour (0-59) for an hourly pull", 2)
    return int(at)


@sources_app.command("set")
@guarded("SourceView")
def sources_set(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The source's name: the samples it brings carry it as their source.")],
    url: Annotated[str, typer.Option(help="The usage API's address, e.g. https://vendor.example/v1/usage.")],
    map: Annotated[
        list[str],
        typer.Option(
            "--map",
            help="FIELD=PATH for customer, product, measured_at, quantity, unit (and "
            "customer_name): where it is in an item, e.g. customer=account.id; a constant: unit==GB.",
        ),
    ],
    auth_header: Annotated[
        str | None, typer.Option(help='A header to send, e.g. Authorization ("" sends none; left out: kept).')
    ] = None,
    auth_value: Annotated[
        str | None, typer.Option(help="Its value (asked for when a header is given without it); stored encrypted.")
    ] = None,
    paging: Annotated[
        str | None, typer.Option(help="none, page (number and size; the default), cursor, next_link.")
    ] = None,
    items: Annotated[str | None, typer.Option(help="Where the list of items is in an answer (data).")] = None,
    next: Annotated[
        str | None, typer.Option("--next", help="cursor: the next cursor's path (next_cursor); next_link: the URL's.")
    ] = None,
    page_size: Annotated[int | None, typer.Option(help="Items asked for a page (500).")] = None,
    page_param: Annotated[str | None, typer.Option(help="The page number's query parameter (page).")] = None,
    size_param: Annotated[str | None, typer.Option(help="The page size's query parameter (page_size).")] = None,
    cursor_param: Annotated[str | None, typer.Option(help="The cursor's query parameter (cursor).")] = None,
    since_param: Annotated[
        str | None, typer.Option(help="A query parameter to send the start of last month in (fewer pages).")
    ] = None,
    param: Annotated[list[str] | None, typer.Option(help="KEY=VALUE sent with every request (repeat).")] = None,
    translate: Annotated[
        list[str] | None,
        typer.Option(help="FIELD:THEIRS=OURS, e.g. product:licenses=server (a vendor's value as ours; repeat)."),
    ] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds to wait for a page (30).")] = None,
    retries: Annotated[int | None, typer.Option(help="Tries again after a 5xx, 429 or timeout (3).")] = None,
    partial: Annotated[
        bool | None,
        typer.Option(
            "--partial/--complete",
            help="The source lists only some customers (do not flag the others removed), or all of them (the default).",
        ),
    ] = None,
    every: Annotated[str, typer.Option(help="hourly, daily or manual (only `sources pull`).")] = "manual",
    at: Annotated[
        str | None, typer.Option(help="hourly: the minute past the hour (0); daily: HH:MM (00:00), the tenant's zone.")
    ] = None,
) -> None:
    """Add or change a usage source to pull."""
    st = state(ctx)
    if auth_header and auth_value is None:
        auth_value = typer.prompt(f"value of the {auth_header} header", hide_input=True)
    given: dict[str, Any] = {
        "paging": paging, "items": items, "next": next, "page_size": page_size, "page_param": page_param,
        "size_param": size_param, "cursor_param": cursor_param, "since_param": since_param,
        "params": _pairs("param", param) if param else None, "values": _translations(translate) if translate else None,
        "timeout": timeout, "retries": retries, "complete": None if partial is None else not partial,
    }  # fmt: skip
    options = {key: value for key, value in given.items() if value is not None}  # a change keeps the rest
    view = pulls.save_source(
        st.context(), st.tenant, name, url=url, mapping=_pairs("map", map), auth_header=auth_header,
        auth_value=auth_value, every=every, at_minute=_minute(every, at or ("00:00" if every == "daily" else "0")),
        options=options, actor=st.actor,
    )  # fmt: skip
    st.out(view, lambda: _print(st, [view], then=f"pull it now with `{st.command('sources', 'pull', name)}`"))


def _print(st: State, views: list[SourceView], then: str | None = None) -> None:
    table = make_table("name", "url", "paging", "every", "next pull", "last pull", "state")
    for v in views:
        last = f"{v.last_status} (import {v.last_import})" if v.last_import else "-"
        state_text = "disabled" if not v.enabled else (f"retrying: {v.last_error}" if v.failures else "enabled")
        table.add_row(
            v.name, v.url, str(v.options.get("paging")), v.every if v.every != "daily" else
            f"daily {v.at_minute // 60:02d}:{v.at_minute % 60:02d}",
            f"{v.next_pull_at:%Y-%m-%d %H:%M} UTC" if v.next_pull_at else "-",
            f"{v.last_pull_at:%Y-%m-%d %H:%M} {last}" if v.last_pull_at else last, state_text,
        )  # fmt: skip
    st.console.print(table)
    if then:
        st.console.print(then)


@sources_app.command("list")
@guarded("list[SourceView]")
def sources_list(ctx: typer.Context) -> None:
    """The tenant's usage sources, when each is pulled next and how the last pull went."""
    st = state(ctx)
    views = pulls.list_sources(st.context(), st.tenant)
    st.out(views, lambda: _print(st, views))


@sources_app.command("show")
@guarded("SourceView")
def sources_show(ctx: typer.Context, name: str) -> None:
    """One source with its options and field mapping (never the auth header's value)."""
    st = state(ctx)
    view = pulls.show_source(st.context(), st.tenant, name)

    def human() -> None:
        _print(st, [view])
        st.console.print(json.dumps(view.options, indent=2, default=str), highlight=False)

    st.out(view, human)


@sources_app.command("pull")
@guarded("ImportView")
def sources_pull(ctx: typer.Context, name: str) -> None:
    """Pull the source now: every page; the good records stored, the bad ones reported."""
    st = state(ctx)
    view = pulls.pull(st.context(), st.tenant, name, actor=st.actor)

    def human() -> None:
        if view.status == "failed":
            st.console.print(f"[red]the pull failed[/]: {view.message}", highlight=False)
        else:
            print_import(st, view, f"{view.pages} page(s) of {view.name}")

    st.out(view, human)
    if view.status == "failed":
        raise typer.Exit(1)


def _toggle(ctx: typer.Context, name: str, enabled: bool) -> None:
    st = state(ctx)
    view = pulls.set_enabled(st.context(), st.tenant, name, enabled, actor=st.actor)
    st.out(view, lambda: _print(st, [view]))


@sources_app.command("enable")
@guarded("SourceView")
def sources_enable(ctx: typer.Context, name: str) -> None:
    """Pull it on its schedule again (from its next time on)."""
    _toggle(ctx, name, True)


@sources_app.command("disable")
@guarded("SourceView")
def sources_disable(ctx: typer.Context, name: str) -> None:
    """Stop pulling it on its schedule (`sources pull` still works)."""
    _toggle(ctx, name, False)


@sources_app.command("remove")
@guarded("SourceView")
def sources_remove(ctx: typer.Context, name: str) -> None:
    """Remove the source; its samples and imports stay."""
    st = state(ctx)
    view = pulls.remove_source(st.context(), st.tenant, name, actor=st.actor)
    st.out(view, lambda: st.console.print(f"source {name} removed; its samples and imports stay"))
