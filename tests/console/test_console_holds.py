"""The console over plain HTTP (no browser) with a company held for approval: the preview page
names it with its line and threshold and offers to approve it alone or every held company at
once; its Approve button pushes that company alone, by the checksum of its changes; a blocked
line says what it would bill; the API answers the same."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from html import unescape
from typing import Any

import httpx2
import pytest
from tests.support.actors import ACTOR
from tests.support.console_world import PASSWORD, SIM_KEYS, ConsoleWorld, console_world, finished_run
from tests.support.contract import ContractLog

from meterbridge.services import (
    companies,
    configurations,
    connections,
    customers,
    prices,
    products,
    push,
    rules,
    usage,
)

T = "acme"


@pytest.fixture
def world(database_url: str, contract_log: ContractLog) -> Iterator[ConsoleWorld]:
    with console_world(database_url, contract_log, now=datetime(2026, 12, 3, 9, tzinfo=UTC)) as built:
        yield built


def _backup_companies(world: ConsoleWorld) -> tuple[list[str], str]:
    """Every company's identifier, and one with a single backup agreement that bills all of October."""
    state = world.sim.state.collections
    named = {c["id"]: c["identifier"] for c in state["companies"].by_id.values()}
    backup: dict[int, list[dict[str, Any]]] = {}
    for agreement in state["agreements"].by_id.values():
        if agreement["type"]["name"] == "Backup Services":
            backup.setdefault(agreement["company"]["id"], []).append(agreement)
    plain = sorted(
        named[company]
        for company, found in backup.items()
        if len(found) == 1
        and not found[0].get("cancelledFlag")
        and found[0].get("billStartDate", "")[:10] <= "2026-10-01"
        and not found[0].get("endDate")
    )
    return sorted(named.values()), plain[0]


def _use(world: ConsoleWorld, month: str, quantities: dict[str, int]) -> None:
    at = datetime.fromisoformat(f"{month}-20T12:00:00+00:00")
    samples = [usage.Sample(c, "storage", at, Decimal(q), "GB") for c, q in quantities.items()]
    usage.store_samples(world.ctx, T, samples, source="feed", actor=ACTOR)


def _text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_a_held_company_is_named_on_the_preview_and_approved_alone_from_the_console(world: ConsoleWorld) -> None:
    ctx = world.ctx
    connections.set_connection(ctx, T, site=world.cw_url, client_id="console-test", actor=ACTOR, **SIM_KEYS)
    asyncio.run(companies.import_companies(ctx, T, actor=ACTOR))
    products.save_product(ctx, T, "storage", name="Storage", kind="storage", unit="GB", basis="max",
                          cw_product="BACKUP-STORAGE-GB", actor=ACTOR)  # fmt: skip
    prices.set_price(ctx, T, "storage", unit_price="0.10", unit_cost="0.04", actor=ACTOR)
    rules.save_rule(ctx, T, "default-agreement", 'type/name = "Backup Services"', actor=ACTOR)
    every, held = _backup_companies(world)
    for identifier in every:
        customers.add_customer(ctx, T, identifier, f"Customer {identifier}", actor=ACTOR)
        options = {"products": ["storage"], "strategy": "per_period"}
        configurations.save_configuration(ctx, T, identifier, f"{identifier}-storage", options, actor=ACTOR)
    companies.link_customers(ctx, T, actor=ACTOR)
    _use(world, "2026-10", {c: 1000 for c in every} | {held: 1200})
    asyncio.run(push.push(ctx, T, "2026-10", force=True, actor=ACTOR))
    unlinked = next(c for c in every if c != held)
    companies.set_link(ctx, T, unlinked, None, actor=ACTOR)  # its line is blocked
    _use(world, "2026-11", {c: 1010 for c in every} | {held: 385})

    world.user(T, "ann", "billing")
    with httpx2.Client(base_url=world.url, follow_redirects=False, timeout=60) as http:
        signed = http.post("/console/sign-in", data={"username": "ann", "password": PASSWORD, "next": "/console"})
        assert signed.status_code == 303
        page = http.get(f"/console/t/{T}/billing?period=2026-11")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is not None
        previewed = http.post(f"/console/t/{T}/billing/preview", data={"period": "2026-11", "csrf_token": csrf[1]})
        assert previewed.status_code == 303
        page = http.get(previewed.headers["location"])
        assert page.status_code == 200, page.text[:500]
        shown = _text(page.text)
        reason = "Storage 1,200 GB in 2026-10 -> 385 GB in 2026-11, a 67.9 % drop over max_quantity_drop 30 %"
        assert "Safety check: holds 1 company for approval, the others go ahead." in shown
        assert f"{held}: {reason}" in shown  # in the verdict's reasons, and on the company's own card
        assert f"Approve Customer {held} alone" in shown and "Approve all held and push" in shown
        assert "$0.00 would bill $101.00" in shown  # the unlinked company's line: 1,010 GB at $0.10, once linked
        forms = re.findall(r'<form method="post" action="[^"]*/billing/push" class="approve-company">(.*?)</form>',
                           page.text, re.S)  # fmt: skip
        [approve] = forms
        fields = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', approve))
        assert fields["customers"] == held and fields["approve_held"] == "1"
        started = http.post(f"/console/t/{T}/billing/push", data=fields)
        assert started.status_code == 303
        pushed = int(started.headers["location"].rsplit("/", 1)[1])
        head = finished_run(ctx, T, pushed)
        assert head.status.value == "done" and head.summary["approval"] == "the approved plan"
        november = [
            a for a in world.sim.state.collections["additions"].by_id.values() if a["effectiveDate"][:7] == "2026-11"
        ]
        assert [(a["quantity"]) for a in november] == [385], "the approved company alone"
        api = http.get(f"/api/v1/tenants/{T}/runs/{pushed}").json()
        assert api["companies"][held]["reasons"] == [f"approved by checksum: {reason}"]
