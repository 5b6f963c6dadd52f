"""A plan made a chunk of customers at a time is the plan of the whole: the same changes in the
same order, the same checksum, counts, money and verdict, stored as one run; and a push planned in
chunks bills exactly what one planned whole does."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from tests.services.conftest import World
from tests.services.test_setup_services import hand_made_storage_addition
from tests.support.actors import ACTOR
from tests.support.reference_month import PERIOD, actual, expected, identifier

from meterbridge.services import companies, configurations, prices, push, rules, runs, tenants
from meterbridge.services.context import Context


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
