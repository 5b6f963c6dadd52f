"""Pins checked against ConnectWise before they are saved: a pin to an agreement that does not
exist, or belongs to another company, is refused; when ConnectWise cannot be reached the pin is
saved and said to be unchecked (the next preview checks it again)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select

from meterbridge.connectwise.client import ConnectWiseClient
from meterbridge.connectwise.conditions import F
from meterbridge.connectwise.errors import ConnectWiseError
from meterbridge.connectwise.errors import NotFound as CWNotFound
from meterbridge.services.configurations import configuration_row, pin
from meterbridge.services.connections import load_settings
from meterbridge.services.context import Context
from meterbridge.services.errors import InvalidInput
from meterbridge.services.tenants import tenant_row
from meterbridge.store.models import Customer, Link


@dataclass(frozen=True)
class PinOutcome:
    configuration: str
    target: str
    cw_id: int | None
    checked: bool  # False: ConnectWise could not be asked; the pin is saved unchecked
    message: str


def _company_of(ctx: Context, tenant: str, configuration: str) -> tuple[str, int | None]:
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        config = configuration_row(session, row.id, configuration)
        customer = session.get(Customer, config.customer_id)
        assert customer is not None
        link = session.scalar(select(Link).where(Link.customer_id == customer.id))
        return customer.external_id, link.cw_company_id if link else None


async def _check_agreement(cw: ConnectWiseClient, agreement_id: int, company: int | None, customer: str) -> str:
    found = await cw.agreements(F("id").eq(agreement_id))
    if not found:
        raise InvalidInput(
            f"agreement {agreement_id} does not exist in ConnectWise: check the id (Finance > Agreements)"
        )
    agreement = found[0]
    owner = agreement.company.id if agreement.company else None
    if company is not None and owner != company:
        raise InvalidInput(
            f"agreement {agreement_id} ({agreement.name}) belongs to company {owner}, not to company {company} that "
            f"customer {customer} is linked to: pin one of its own agreements"
        )
    note = f"agreement {agreement_id} ({agreement.name})"
    if agreement.cancelled_flag:
        note += " is cancelled: its lines stay blocked until it is reopened"
    return note


async def _check_addition(cw: ConnectWiseClient, addition_id: int, company: int | None, customer: str) -> str:
    if company is None:
        raise InvalidInput(
            f"customer {customer} is not linked to a ConnectWise company, so its additions cannot be looked up: "
            "link it first (`meterbridge companies link`)"
        )
    for agreement in await cw.agreements_of_companies({company}):
        if agreement.id is None:
            continue
        for addition in await cw.additions(agreement.id, F("id").eq(addition_id)):
            product = addition.product.identifier if addition.product else "?"
            return f"addition {addition_id} ({product}) on agreement {agreement.id}"
    raise InvalidInput(
        f"addition {addition_id} is on none of the agreements of company {company} (customer {customer}): check the id"
    )


async def set_pin(
    ctx: Context,
    tenant: str,
    configuration: str,
    cw_id: int | None,
    *,
    target: Literal["agreement", "addition"] = "agreement",
    actor: str = "cli",
) -> PinOutcome:
    """Check the pinned agreement (or addition) in ConnectWise, then save the pin; None removes it."""
    customer, company = _company_of(ctx, tenant, configuration)
    if cw_id is None:
        pin(ctx, tenant, configuration, None, target=target, actor=actor)
        return PinOutcome(configuration, target, None, True, f"{target} pin of {configuration} removed")
    if cw_id <= 0:
        raise InvalidInput(f"{target}: {cw_id} is not a ConnectWise id (ids are positive)")
    try:
        async with ctx.client(load_settings(ctx, tenant)) as cw:
            if target == "agreement":
                note = await _check_agreement(cw, cw_id, company, customer)
            else:
                note = await _check_addition(cw, cw_id, company, customer)
    except CWNotFound:
        raise InvalidInput(f"{target} {cw_id} does not exist in ConnectWise: check the id") from None
    except ConnectWiseError as error:
        pin(ctx, tenant, configuration, cw_id, target=target, actor=actor)
        return PinOutcome(
            configuration,
            target,
            cw_id,
            False,
            f"{target} {cw_id} pinned to {configuration} UNCHECKED: ConnectWise could not be asked ({error}); "
            "the next preview checks it",
        )
    pin(ctx, tenant, configuration, cw_id, target=target, actor=actor)
    return PinOutcome(configuration, target, cw_id, True, f"{note} pinned to {configuration}")
