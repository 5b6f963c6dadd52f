"""A plan made a chunk of customers at a time is the plan of the whole: the same changes in the
same order, the same checksum, counts, money and verdict, stored as one run; and a push planned in
chunks bills exactly what one planned whole does."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal

from tests.services.conftest import World
from tests.services.test_setup_services import hand_made_storage_addition
from tests.support.actors import ACTOR
from tests.support.reference_month import MEASURED, PERIOD, actual, expected, identifier

from meterbridge.domain.plan import Change, ChangeKind, checksum
from meterbridge.services import (
    companies,
    configurations,
    customers,
    doctor,
    leaks,
    pins,
    prices,
    products,
    push,
    rules,
    runs,
    tenants,
    usage,
)
from meterbridge.services.configuration_options import DEFAULT_AGREEMENT_RULE
from meterbridge.services.context import Context
from meterbridge.services.planning import plan_in_chunks
from meterbridge.services.scope import open_tenant, tenant_row
from meterbridge.store.repos import configurations as config_rows
from meterbridge.store.repos import customers as customer_rows


def _preview(ctx: Context) -> push.Outcome:
    return asyncio.run(push.preview(ctx, "default", PERIOD, actor=ACTOR))


def test_a_preview_in_chunks_of_three_customers_is_the_preview_of_the_whole(small_month: World) -> None:
    whole = _preview(replace(small_month.ctx, plan_chunk=10_000))
    chunked = _preview(replace(small_month.ctx, plan_chunk=3))

    assert whole.counts["create"] > 30 and whole.counts["blocked"] > 0  # a month with every case in it
    assert chunked.checksum == whole.checksum
    assert (chunked.counts, chunked.totals, chunked.verdict) == (whole.counts, whole.totals, whole.verdict)
    assert chunked.companies == whole.companies
    assert list(chunked.companies) == sorted(chunked.companies)
    stored = chunked.with_changes().changes or []
    assert stored == (whole.with_changes().changes or [])
    assert [c.key for c in stored] == sorted(c.key for c in stored)
    assert len(stored) == sum(whole.counts.values())
    page = runs.run_changes(small_month.ctx, "default", chunked.run, offset=len(stored) - 1, limit=5)
    assert page.total == len(stored) and page.items[0].key == stored[-1].key  # positions run on across chunks


def test_the_safety_verdict_weighs_every_chunk_together(small_month: World) -> None:
    """A push planned in chunks is held by the thresholds as the whole plan is, its reasons word for word."""
    ctx = replace(small_month.ctx, plan_chunk=4)
    first = asyncio.run(push.push(ctx, "default", PERIOD, force=True, actor=ACTOR))
    assert first.totals.writes.landed > 0
    tenants.update_settings(ctx, "default", {"max_changed_fraction": "0.05"}, actor=ACTOR)
    prices.set_price(ctx, "default", "server", unit_price="46", unit_cost="18", actor=ACTOR)  # 1 line in ~4 changes
    held = asyncio.run(push.push(ctx, "default", PERIOD, force=True, actor=ACTOR))
    whole = asyncio.run(push.preview(replace(ctx, plan_chunk=10_000), "default", PERIOD, actor=ACTOR))
    assert held.status == "held" and held.safety_reasons == whole.safety_reasons
    assert "existing lines change" in held.safety_reasons[0]


def test_a_push_planned_in_chunks_bills_exactly_once(small_month: World) -> None:
    ctx = replace(small_month.ctx, plan_chunk=3)
    approved = _preview(ctx)
    first = asyncio.run(push.push(ctx, "default", PERIOD, checksum=approved.checksum, actor=ACTOR))
    assert first.approval == "the approved plan"
    assert first.totals.writes.landed == first.totals.writes.planned == approved.totals.writes.planned
    assert actual(small_month.sim) == expected(small_month.n)
    again = asyncio.run(push.push(ctx, "default", PERIOD, force=True, actor=ACTOR))
    assert again.totals.writes.planned == 0 and again.counts["noop"] == first.counts["create"] + first.counts["noop"]
    assert actual(small_month.sim) == expected(small_month.n)


def test_two_customers_of_one_company_adopt_as_one_plan_would_wherever_the_chunks_split(small_month: World) -> None:
    """C000 and C001 bill to one company, both with a rule that adopts its hand-made storage line:
    the line first in the plan's order adopts it (C000's), the other creates its own, whether the
    two are planned together or apart; the configuration keys sort the other way round."""
    ctx = small_month.ctx
    hand_made = hand_made_storage_addition(small_month)
    rule = 'product/identifier = "BACKUP-STORAGE-GB"'
    rules.save_rule(ctx, "default", "adopt-storage", rule, target="addition", actor=ACTOR)
    companies.set_link(ctx, "default", identifier(1), identifier(0), actor=ACTOR)
    adopt = {"products": ["storage"], "addition_rule": "adopt-storage"}
    configurations.save_configuration(ctx, "default", identifier(0), f"{identifier(0)}-storage", adopt, actor=ACTOR)
    configurations.save_configuration(ctx, "default", identifier(1), "A-storage", adopt, actor=ACTOR)

    whole = _preview(replace(ctx, plan_chunk=10_000))
    apart = _preview(replace(ctx, plan_chunk=1))
    assert apart.checksum == whole.checksum
    changes = {(c.customer, c.cw_product): c for c in apart.with_changes().changes or []}
    adopted = changes[(identifier(0), "BACKUP-STORAGE-GB")]
    assert (adopted.kind.value, adopted.addition_id) == ("update", hand_made)
    assert changes[(identifier(1), "BACKUP-STORAGE-GB")].kind.value == "create"


def test_a_price_edited_while_the_chunks_are_planned_counts_from_the_next_run(small_month: World) -> None:
    """Every chunk of one run is priced by the price lists, rules and products as the run found
    them: a price set between two chunks does not bill the later customers at the new price."""
    ctx = replace(small_month.ctx, plan_chunk=5)
    scope = open_tenant(ctx, "default")

    async def plan_editing_after_the_first_chunk() -> list[Change]:
        planned: list[Change] = []
        async with ctx.client(scope.connection()) as cw:
            async for built in plan_in_chunks(scope, scope.billing_period(PERIOD)[0], cw):
                if not planned:
                    prices.set_price(ctx, "default", "server", unit_price="99", unit_cost="18", actor=ACTOR)
                    rules.save_rule(ctx, "default", DEFAULT_AGREEMENT_RULE, 'name = "nothing matches"', actor=ACTOR)
                assert built.plan is not None
                planned.extend(built.plan.changes)
        return planned

    whole_before = _preview(replace(ctx, plan_chunk=10_000))
    changes = asyncio.run(plan_editing_after_the_first_chunk())
    assert checksum(changes) == whole_before.checksum  # the run as it began, chunk after chunk
    server_lines = [c for c in changes if c.cw_product == "BACKUP-SERVER" and c.kind is ChangeKind.CREATE]
    assert len({c.customer for c in server_lines}) > 5  # lines in later chunks than the first
    assert all(c.values.get("unitPrice") != Decimal("99") for c in server_lines)
    after = _preview(replace(ctx, plan_chunk=10_000))  # the next run: the new price, the new rule
    assert after.checksum != whole_before.checksum
    assert after.counts["blocked"] > whole_before.counts["blocked"]


def test_a_product_made_while_the_chunks_are_planned_waits_for_the_next_run(small_month: World) -> None:
    """A product created between two chunks, with a price, usage and a configuration of a customer in
    a later chunk: the run goes on without it (that configuration names a product the run does not
    know, and its customer is held back saying so); the next run bills it."""
    ctx = replace(small_month.ctx, plan_chunk=5)
    scope = open_tenant(ctx, "default")
    late = identifier(20)  # case 0 (storage) again, in the fifth chunk

    async def plan_adding_after_the_first_chunk() -> list[Change]:
        planned: list[Change] = []
        async with ctx.client(scope.connection()) as cw:
            async for built in plan_in_chunks(scope, scope.billing_period(PERIOD)[0], cw):
                if not planned:
                    products.save_product(ctx, "default", "vm", actor=ACTOR, cw_product="BACKUP-SERVER")
                    prices.set_price(ctx, "default", "vm", unit_price="7", actor=ACTOR)
                    at = usage.parse_time("at", MEASURED)
                    vm = [usage.Sample(late, "vm", at, Decimal(3), "count")]
                    usage.store_samples(ctx, "default", vm, actor=ACTOR)
                    options = {"products": ["vm"]}
                    configurations.save_configuration(ctx, "default", late, f"{late}-vm", options, actor=ACTOR)
                assert built.plan is not None
                planned.extend(built.plan.changes)
        return planned

    changes = asyncio.run(plan_adding_after_the_first_chunk())
    held = [c for c in changes if c.customer == late]
    assert held and all(c.kind in (ChangeKind.BLOCKED, ChangeKind.NOOP) for c in held)
    assert any(c.kind is ChangeKind.BLOCKED and "unknown product(s) vm" in c.reason for c in held)
    after = _preview(replace(ctx, plan_chunk=10_000))
    assert any(c.key.startswith(f"{late}/{late}-vm/") for c in after.with_changes().changes or [])


def test_the_leak_report_and_the_doctor_in_chunks_say_what_they_say_of_the_whole(small_month: World) -> None:
    """Every kind of leak (usage without a line, not invoiced, a line without usage, a hand-made
    addition of a managed product on a company two customers share, named by the first of them
    even when only the other's chunk reads the agreement) and every doctor finding, in chunks of
    3 customers and of 1, as planned whole, in the same order."""
    ctx = small_month.ctx
    asyncio.run(push.push(ctx, "default", PERIOD, force=True, actor=ACTOR))
    hand_made_storage_addition(small_month)
    companies.set_link(ctx, "default", identifier(21), identifier(0), actor=ACTOR)  # company 0, a later chunk
    # C000's push off: its chunk reads no agreement, C021's reads company 0's
    customers.add_customer(ctx, "default", identifier(0), push_enabled=False, actor=ACTOR)
    # C002 moves to company 3: its chunk reads the additions of company 2's agreement (its lines are
    # there), not the agreement; C022, now of company 2, reads it in a later chunk
    agreements = small_month.sim.state.collections["agreements"].by_id.values()
    [company_2s] = [a["id"] for a in agreements if a["name"] == "Backup - 2"]
    hand_made_storage_addition(small_month, agreement_id=company_2s, product="BACKUP-SERVER")
    companies.set_link(ctx, "default", identifier(2), identifier(3), actor=ACTOR)
    companies.set_link(ctx, "default", identifier(22), identifier(2), actor=ACTOR)
    configurations.save_configuration(
        ctx, "default", identifier(3), f"{identifier(3)}-storage", {"products": ["storage"]}, actor=ACTOR
    )  # case 3 bills storage by quantity only: now by a second configuration too (no allow_overlap: held)
    products.save_product(ctx, "default", "archive", kind="storage", unit="GB", cw_product="ARCHIVE-GB", actor=ACTOR)

    def report(chunk: int) -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str, str, str]]]:
        sized = replace(ctx, plan_chunk=chunk)
        leaks_found = asyncio.run(leaks.revenue_leaks(sized, "default", PERIOD)).leaks
        found = asyncio.run(doctor.diagnose(sized, "default", PERIOD, actor=ACTOR)).findings
        return (
            [(leak.kind.value, leak.customer, leak.subject, leak.detail) for leak in leaks_found],
            [(f.severity.value, f.check, f.subject, f.message) for f in found],
        )

    whole = report(10_000)
    kinds = {kind for kind, *_ in whole[0]}
    assert kinds >= {"usage-without-line", "usage-not-invoiced", "line-without-usage"}, whole[0]
    unmanaged = {(who, what) for _, who, what, detail in whole[0] if "does not manage" in detail}
    assert {(identifier(0), "BACKUP-STORAGE-GB"), (identifier(22), "BACKUP-SERVER")} <= unmanaged, whole[0]
    assert {("error", "catalog", "ARCHIVE-GB"), ("error", "agreement", identifier(10))} <= {f[:3] for f in whole[1]}
    assert report(3) == whole
    assert report(1) == whole


def test_a_rule_or_pin_saved_while_the_chunks_are_planned(small_month: World) -> None:
    """A configuration of a later chunk saved mid-run with an addition rule saved mid-run too waits
    for the next run (planned without the rule it would not adopt what the rule names: a second
    addition beside it); a pin is the configuration's own and counts in the chunk that reads it."""
    ctx = replace(small_month.ctx, plan_chunk=5)
    scope = open_tenant(ctx, "default")
    adopting, ambiguous = identifier(20), identifier(29)  # bills storage; two agreements match: blocked
    [pinned] = [c.key for c in configurations.list_configurations(ctx, "default", ambiguous)]
    agreements = small_month.sim.state.collections["agreements"].by_id.values()
    [second] = [a["id"] for a in agreements if a["name"] == "Backup (second) - 29"]
    [its_agreement] = [a["id"] for a in agreements if a["name"] == "Backup - 20"]
    by_hand = hand_made_storage_addition(small_month, agreement_id=its_agreement, product="BACKUP-SERVER")

    async def plan_saving_after_the_first_chunk() -> list[Change]:
        planned: list[Change] = []
        async with ctx.client(scope.connection()) as cw:
            async for built in plan_in_chunks(scope, scope.billing_period(PERIOD)[0], cw):
                if not planned:
                    rule = 'product/identifier = "BACKUP-SERVER"'
                    rules.save_rule(ctx, "default", "adopt-servers", rule, target="addition", actor=ACTOR)
                    adopt = {"products": ["server"], "addition_rule": "adopt-servers"}
                    configurations.save_configuration(
                        ctx, "default", adopting, f"{adopting}-servers", adopt, actor=ACTOR
                    )
                    await pins.set_pin(ctx, "default", pinned, second, actor=ACTOR)
                assert built.plan is not None
                planned.extend(built.plan.changes)
        return planned

    changes = asyncio.run(plan_saving_after_the_first_chunk())
    held = [c for c in changes if c.customer == adopting]
    assert held and all(c.kind is ChangeKind.BLOCKED for c in held)
    assert all("adopt-servers is not among the rules this run began with" in c.reason for c in held), held
    assert [c.kind for c in changes if c.customer == ambiguous] == [ChangeKind.CREATE]
    assert [c.agreement_id for c in changes if c.customer == ambiguous] == [second]
    after = asyncio.run(push.preview(replace(ctx, plan_chunk=10_000), "default", PERIOD, actor=ACTOR))
    # planned, no longer blocked: adopting the 5 servers added by hand for 1 is a drop its company is held for
    assert after.companies[adopting].status == "held", after.companies[adopting]
    assert after.companies[adopting].reasons == ["Server 5 -> 1, a 80.0 % drop over max_quantity_drop 30 %"]
    [servers] = [c for c in after.with_changes().changes or [] if c.key.startswith(f"{adopting}/{adopting}-servers/")]
    assert (servers.kind, servers.addition_id) == (ChangeKind.UPDATE, by_hand)  # adopted: one addition bills
    with ctx.db.session() as session:  # a chunk reads the pins of its own customers' configurations only
        tenant_id = tenant_row(session, "default").id
        ids = {c.external_id: c.id for c in customer_rows.all_of(session, tenant_id, [ambiguous, adopting])}
        [config_id] = [c.id for c in config_rows.all_of(session, tenant_id, [ids[ambiguous]])]
        assert config_rows.pins(session, tenant_id, [ids[ambiguous]]) == {(config_id, "agreement"): second}
        assert config_rows.pins(session, tenant_id, [ids[adopting]]) == {}
        assert config_rows.pins(session, tenant_id, []) == {}
        assert config_rows.pins(session, tenant_id) == {(config_id, "agreement"): second}
