"""Billing configurations: the list per customer and the "+ Add configuration" wizard (bill mode,
billed automatically or not, our products, the ConnectWise product or GB ranges, the agreement
rule, data mode, included quantity, blocks, what zero usage does), with every error shown next
to the field it names. The form holds the whole configuration: what it leaves empty is the default."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from meterbridge.services import configurations, customers, products, rules
from meterbridge.services.configuration_options import CHOICES, format_range, parse_range
from meterbridge.services.errors import InvalidInput, ServiceError
from meterbridge.services.views import ConfigurationView, Role
from meterbridge.web.console.auth import Form, Page, Posted, TenantPage
from meterbridge.web.console.render import PREFIX, page, redirect

router = APIRouter(prefix=PREFIX)
TEXT_OPTIONS = ("cw_product", "block_size", "included", "description", "agreement_rule", "addition_rule")
CHOICE_OPTIONS = tuple(CHOICES)


def _values(view: ConfigurationView | None, customer: str | None) -> dict[str, Any]:
    """What the form shows: a configuration's options (ranges one a line), or a new one's defaults."""
    if view is None:
        return {"customer": customer or "", "key": "", "enabled": True, "products": [], "ranges": ""}
    values: dict[str, Any] = {**view.options, "customer": view.customer, "key": view.key, "enabled": view.enabled}
    values["ranges"] = "\n".join(format_range(r) for r in view.options.get("ranges", []))
    return values


def _form_page(
    request: Request, call: TenantPage, values: dict[str, Any], *, editing: str | None, status: int = 200,
    error: ServiceError | None = None,
) -> Response:  # fmt: skip
    field = (error.field or "").split(".")[0] if error else ""
    return page(
        request,
        "configuration_form.html",
        status,
        section="configurations",
        values=values,
        editing=editing,
        error=error,
        errors={field: error.message} if error and field else {},
        customers=customers.list_customers(call.ctx, call.tenant),
        products=products.list_products(call.ctx, call.tenant),
        rules=[r for r in rules.list_rules(call.ctx, call.tenant)],
        choices=CHOICES,
        **call.template_context(),
    )


PAGE_SIZE = 100


@dataclass
class Listing:
    """The configurations on this page, of those matching the search."""

    shown: list[ConfigurationView]
    matching: int
    offset: int
    limit: int = PAGE_SIZE


def _listing(call: TenantPage, q: str, offset: int) -> Listing:
    wanted = q.strip().casefold()
    every = configurations.list_configurations(call.ctx, call.tenant)
    found = [c for c in every if not wanted or wanted in c.customer.casefold() or wanted in c.key.casefold()]
    return Listing(found[offset : offset + PAGE_SIZE], len(found), offset)


def _list_page(
    request: Request, call: TenantPage, *, rule: dict[str, str], status: int = 200, error: ServiceError | None = None,
    q: str = "", offset: int = 0,
) -> Response:  # fmt: skip
    listing = _listing(call, q, offset)
    return page(
        request,
        "configurations.html",
        status,
        section="configurations",
        listing=listing,
        configurations=listing.shown,
        q=q,
        show=None,
        pager_base=f"{call.base}/configurations",
        without=[c for c in customers.list_customers(call.ctx, call.tenant) if c.configurations == 0],
        rules=rules.list_rules(call.ctx, call.tenant),
        rule=rule,
        error=error,
        errors={"rule_" + (error.field or "text"): error.message} if error else {},
        notice=request.query_params.get("done"),
        **call.template_context(),
    )


@router.get("/t/{tenant}/configurations", response_class=HTMLResponse)
def list_page(
    request: Request,
    call: Page,
    rule: Annotated[str, Query(max_length=100)] = "",
    q: Annotated[str, Query(max_length=200)] = "",
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    return _list_page(request, call, rule={"name": rule, "text": "", "target": "agreement"}, q=q, offset=offset)


@router.post("/t/{tenant}/rules", response_class=HTMLResponse)
def save_rule(request: Request, call: Page, form: Posted) -> Response:
    """A rule in ConnectWise's conditions language; an error says where the parser stopped."""
    call.require(Role.BILLING)
    rule = {"name": form.text("name"), "text": form.text("text"), "target": form.text("target") or "agreement"}
    try:
        if not rule["name"]:
            raise InvalidInput("name: name the rule (default-agreement is the one every customer uses)", field="name")
        saved = rules.save_rule(call.ctx, call.tenant, rule["name"], rule["text"], target=rule["target"],
                                actor=call.actor)  # fmt: skip
    except ServiceError as error:
        return _list_page(request, call, rule=rule, status=422, error=error)
    return redirect(f"{call.base}/configurations#rules", f"Rule {saved.name} saved: {saved.text}")


@router.get("/t/{tenant}/configurations/new", response_class=HTMLResponse)
def new(request: Request, call: Page, customer: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    call.require(Role.BILLING)
    return _form_page(request, call, _values(None, customer), editing=None)


@router.get("/t/{tenant}/configurations/{key}", response_class=HTMLResponse)
def edit(request: Request, call: Page, key: str) -> Response:
    view = configurations.show_configuration(call.ctx, call.tenant, key)
    return _form_page(request, call, _values(view, None), editing=key)


def _options(form: Form) -> dict[str, Any]:
    options: dict[str, Any] = {"products": form.texts("products")}
    for name in (*TEXT_OPTIONS, *CHOICE_OPTIONS):
        value = form.optional(name)
        if value is not None:
            options[name] = value
    ranges = [line for line in form.text("ranges").splitlines() if line.strip()]
    if ranges:
        options["ranges"] = [parse_range(line, f"ranges line {n}") for n, line in enumerate(ranges, start=1)]
    if form.checked("allow_overlap"):
        options["allow_overlap"] = True
    return options


@router.post("/t/{tenant}/configurations", response_class=HTMLResponse)
def save(request: Request, call: Page, form: Posted) -> Response:
    call.require(Role.BILLING)
    editing = form.optional("editing")
    key = editing or form.text("key")
    values: dict[str, Any] = {name: form.text(name) for name in ("customer", "key", "ranges", *TEXT_OPTIONS)}
    values.update({name: form.text(name) for name in CHOICE_OPTIONS})
    values.update(products=form.texts("products"), enabled=form.checked("enabled"),
                  allow_overlap=form.checked("allow_overlap"), key=key)  # fmt: skip
    try:
        if not values["customer"]:
            raise InvalidInput("customer: pick the customer this configuration bills", field="customer")
        if not key:
            raise InvalidInput("key: name the configuration (e.g. storage, licenses)", field="key")
        if not values["products"]:
            raise InvalidInput("products: tick at least one product to bill", field="products")
        saved = configurations.save_configuration(
            call.ctx, call.tenant, values["customer"], key, _options(form),
            enabled=form.checked("enabled"), replace=True, actor=call.actor,
        )  # fmt: skip
    except ServiceError as error:
        return _form_page(request, call, values, editing=editing, status=422, error=error)
    verb = "added" if saved.created else "saved"
    return redirect(f"{call.base}/configurations", f"Configuration {key} of {saved.customer} {verb}.")


@router.post("/t/{tenant}/configurations/{key}/delete")
def delete(call: Page, key: str, _form: Posted) -> Response:
    call.require(Role.BILLING)
    deleted = configurations.delete_configuration(call.ctx, call.tenant, key, actor=call.actor)
    return redirect(f"{call.base}/configurations", f"Deleted configuration {deleted.key}: {deleted.detail}")
