"""Billing configurations, their pins (checked in ConnectWise), and rules."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from meterbridge.services import configurations, pins, rules
from meterbridge.services.views import ConfigurationSaved, ConfigurationView, Deleted, PinView, RuleView
from meterbridge.web.api.bodies import ConfigurationIn, PinIn, RuleIn
from meterbridge.web.deps import Billing, Viewer

router = APIRouter(tags=["configurations and rules"])


@router.get("/configurations", response_model=list[ConfigurationView])
def list_configurations(call: Viewer, customer: Annotated[str | None, Query()] = None) -> list[ConfigurationView]:
    return configurations.list_configurations(call.ctx, call.tenant, customer)


@router.get("/configurations/{key}", response_model=ConfigurationView)
def get_configuration(call: Viewer, key: str) -> ConfigurationView:
    return configurations.show_configuration(call.ctx, call.tenant, key)


@router.put("/configurations/{key}", response_model=ConfigurationSaved)
def put_configuration(call: Billing, key: str, body: ConfigurationIn) -> ConfigurationSaved:
    """Create a configuration, or change the options given of one (the others are kept); errors
    name the field (docs/billing-core.md: which options combine)."""
    return configurations.save_configuration(
        call.ctx,
        call.tenant,
        body.customer,
        key,
        body.options,
        enabled=body.enabled,
        clear=body.clear,
        replace=body.replace,
        actor=call.actor,
    )


@router.delete("/configurations/{key}", response_model=Deleted)
def delete_configuration(call: Billing, key: str) -> Deleted:
    return configurations.delete_configuration(call.ctx, call.tenant, key, actor=call.actor)


@router.put("/configurations/{key}/pins/{target}", response_model=PinView)
async def pin(call: Billing, key: str, target: Literal["agreement", "addition"], body: PinIn) -> PinView:
    """Pin the agreement (or the addition to adopt) by hand; checked in ConnectWise first."""
    return await pins.set_pin(call.ctx, call.tenant, key, body.cw_id, target=target, actor=call.actor)


@router.delete("/configurations/{key}/pins/{target}", response_model=PinView)
async def unpin(call: Billing, key: str, target: Literal["agreement", "addition"]) -> PinView:
    return await pins.set_pin(call.ctx, call.tenant, key, None, target=target, actor=call.actor)


@router.get("/rules", response_model=list[RuleView])
def list_rules(call: Viewer) -> list[RuleView]:
    return rules.list_rules(call.ctx, call.tenant)


@router.put("/rules/{name}", response_model=RuleView)
def put_rule(call: Billing, name: str, body: RuleIn) -> RuleView:
    """A rule in the ConnectWise conditions language; an error says where the parser stopped (position)."""
    return rules.save_rule(call.ctx, call.tenant, name, body.text, target=body.target, actor=call.actor)
