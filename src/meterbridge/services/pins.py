"""Pins checked against ConnectWise before they are saved: a pin to an agreement that does not
exist, or belongs to another company, is refused; when ConnectWise cannot be reached the pin is
saved and said to be unchecked (the next preview checks it again)."""

from __future__ import annotations

from typing import Literal

from meterbridge.connectwise.client import ConnectWiseClient
from meterbridge.connectwise.conditions import F
from meterbridge.connectwise.errors import ConnectWiseError
from meterbridge.connectwise.errors import NotFound as CWNotFound
from meterbridge.services.actors import Actor
from meterbridge.services.audit import audit
from meterbridge.services.configurations import configuration_row
from meterbridge.services.context import Context
from meterbridge.services.errors import InvalidInput
from meterbridge.services.scope import TenantScope, open_tenant
from meterbridge.services.views import PinView
from meterbridge.store.models import Customer
from meterbridge.store.repos import configurations as configs
from meterbridge.store.repos import customers

Target = Literal["agreement", "addition"]


def _company_of(scope: TenantScope, configuration: str) -> tuple[str, int | None]:
    with scope.ctx.db.session() as session:
        config = configuration_row(session, scope.id, configuration)
        customer = session.get(Customer, config.customer_id)
        assert customer is not None
        link = customers.link_of(session, customer.id)
        return customer.external_id, link.cw_company_id if link else None


def _save(scope: TenantScope, configuration: str, cw_id: int | None, target: Target, actor: Actor) -> None:
    with scope.ctx.db.session() as session:
        config = configuration_row(session, scope.id, configuration)
        pinned = configs.pins(session, scope.id).get((config.id, target))
        configs.set_pin(session, scope.id, config.id, target, cw_id, by=str(actor), at=scope.ctx.clock())
        after = {"configuration": configuration, "target": target, "id": cw_id}
        before = {**after, "id": pinned} if pinned is not None else None
        audit(session, scope.ctx, scope.id, actor, "pin.set", after, before=before)


async def _check_agreement(cw: ConnectWiseClient, agreement_id: int, company: int | None, customer: str) -> str:
    found = await cw.agreements(F("id").eq(agreement_id))
    if not found:
        raise InvalidInput(
            f"agreement {agreement_id} does not exist in ConnectWise",
            hint="check the id (Finance > Agreements)",
            field="cw_id",
        )
    agreement = found[0]
    owner = agreement.company.id if agreement.company else None
    if company is not None and owner != company:
        raise InvalidInput(
            f"agreement {agreement_id} ({agreement.name}) belongs to company {owner}, not to company {company} that "
            f"customer {customer} is linked to",
            hint="pin one of its own agreements",
            field="cw_id",
        )
    note = f"agreement {agreement_id} ({agreement.name})"
    if agreement.cancelled_flag:
        note += " is cancelled: its lines stay blocked until it is reopened"
    return note


async def _check_addition(cw: ConnectWiseClient, addition_id: int, company: int | None, customer: str) -> str:
    if company is None:
        raise InvalidInput(
            f"customer {customer} is not linked to a ConnectWise company, so its additions cannot be looked up",
            hint="link it first",
            action="companies.link",
            params={"customer": customer},
            field="customer",
        )
    for agreement in await cw.agreements_of_companies({company}):
        if agreement.id is None:
            continue
        for addition in await cw.additions(agreement.id, F("id").eq(addition_id)):
            product = addition.product.identifier if addition.product else "?"
            return f"addition {addition_id} ({product}) on agreement {agreement.id}"
    raise InvalidInput(
        f"addition {addition_id} is on none of the agreements of company {company} (customer {customer})",
        hint="check the id",
        field="cw_id",
    )


async def set_pin(
    ctx: Context, tenant: str, configuration: str, cw_id: int | None, *, actor: Actor, target: Target = "agreement"
) -> PinView:
    """Check the pinned agreement (or addition) in ConnectWise, then save the pin; None removes it."""
    scope = open_tenant(ctx, tenant)
    customer, company = _company_of(scope, configuration)

    def view(checked: bool, message: str) -> PinView:
        return PinView(configuration=configuration, target=target, cw_id=cw_id, checked=checked, message=message)

    if cw_id is None:
        _save(scope, configuration, None, target, actor)
        return view(True, f"{target} pin of {configuration} removed")
    if cw_id <= 0:
        raise InvalidInput(f"{target}: {cw_id} is not a ConnectWise id (ids are positive)", field="cw_id")
    try:
        async with ctx.client(scope.connection()) as cw:
            if target == "agreement":
                note = await _check_agreement(cw, cw_id, company, customer)
            else:
                note = await _check_addition(cw, cw_id, company, customer)
    except CWNotFound:
        raise InvalidInput(f"{target} {cw_id} does not exist in ConnectWise: check the id", field="cw_id") from None
    except ConnectWiseError as error:
        _save(scope, configuration, cw_id, target, actor)
        return view(
            False,
            f"{target} {cw_id} pinned to {configuration} UNCHECKED: ConnectWise could not be asked ({error}); "
            "the next preview checks it",
        )
    _save(scope, configuration, cw_id, target, actor)
    return view(True, f"{note} pinned to {configuration}")
