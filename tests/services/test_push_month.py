"""A month for 200 customers end to end: preview, push, push again, correct usage, push again."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal

import pytest
from tests.services.conftest import World
from tests.support.actors import ACTOR
from tests.support.reference_month import PERIOD, Usage, actual, expected, identifier, usage_of

from meterbridge.services import push, runs, usage
from meterbridge.services.errors import ApprovalNeeded, ChecksumMismatch

pytestmark = pytest.mark.slow


def test_a_month_of_200_customers_lands_exactly_as_expected_and_twice_is_only_noops(month: World) -> None:
    ctx = month.ctx
    before = actual(month.sim)
    assert before == []

    preview = asyncio.run(push.preview(ctx, "default", PERIOD, actor=ACTOR))
    assert preview.status == "previewed"
    assert actual(month.sim) == [], "a preview writes nothing"
    companies = preview.companies
    assert companies[identifier(9)].status == "blocked"
    assert "2 agreements match the rule" in companies[identifier(9)].reasons[0]
    assert "no agreement matches the rule" in companies[identifier(10)].reasons[0]
    assert "not linked" in companies["unlinked-11"].reasons[0]
    assert identifier(18) not in companies, "push disabled: out of scope"

    first = asyncio.run(push.push(ctx, "default", PERIOD, checksum=preview.checksum, actor=ACTOR))
    assert first.status == "partial"  # the ambiguous, missing and unlinked customers are blocked
    failed = {c for c, v in first.companies.items() if v.status == "failed"}
    assert failed == set()
    assert actual(month.sim) == expected(month.n)

    second = asyncio.run(push.push(ctx, "default", PERIOD, force=True, actor=ACTOR))
    counts = second.counts
    assert counts["create"] == counts["update"] == counts["cancel"] == 0
    assert counts["noop"] == first.counts["create"] + first.counts["noop"]
    assert actual(month.sim) == expected(month.n)
    writes = [e for e in (second.with_changes().changes or []) if e.kind.value != "noop" and e.kind.value != "blocked"]
    assert writes == []

    history = runs.list_runs(ctx, "default")
    assert [r.kind for r in history] == ["push", "push", "preview"]
    assert history[1].calls["total"] > 0
    assert history[1].summary["counts"]["create"] == first.counts["create"]


def test_a_usage_correction_updates_exactly_the_changed_lines(month: World) -> None:
    ctx = month.ctx
    asyncio.run(push.push(ctx, "default", PERIOD, force=True, actor=ACTOR))
    corrected: dict[int, Usage] = {}
    samples = []
    for i in (0, 20, 40):  # storage, basis max: a higher reading later in the month
        corrected[i] = usage_of(i, bump=50)
        samples.append(
            usage.Sample(
                identifier(i), "storage", usage.parse_time("at", "2026-10-25T08:00:00Z"), corrected[i].storage, "GB"
            )
        )
    for i in (1, 21):  # servers, basis last: a later count
        base = usage_of(i)
        corrected[i] = Usage(base.storage, base.servers + 2, base.workstations, base.users)
        samples.append(
            usage.Sample(
                identifier(i),
                "server",
                usage.parse_time("at", "2026-10-26T08:00:00Z"),
                Decimal(corrected[i].servers),
                "count",
            )
        )
    usage.store_samples(ctx, "default", samples, source="correction", actor=ACTOR)
    month.clock.advance(hours=1)

    outcome = asyncio.run(push.push(ctx, "default", PERIOD, force=True, actor=ACTOR))
    assert outcome.status == "partial"
    assert outcome.counts["update"] == 5 and outcome.counts["create"] == 0 and outcome.counts["cancel"] == 0
    updated = sorted(c.customer for c in (outcome.with_changes().changes or []) if c.kind.value == "update")
    assert updated == sorted(identifier(i) for i in corrected)
    fields = Counter(f.field for c in (outcome.with_changes().changes or []) for f in c.fields)
    assert fields == {"quantity": 5, "unitPrice": 2, "unitCost": 2}  # the average of servers+workstations moved
    assert actual(month.sim) == expected(month.n, corrected)


def test_a_push_needs_a_reviewed_checksum_or_force_and_refuses_a_changed_plan(small_month: World) -> None:
    ctx = small_month.ctx
    with pytest.raises(ApprovalNeeded):
        asyncio.run(push.push(ctx, "default", PERIOD, actor=ACTOR))
    preview = asyncio.run(push.preview(ctx, "default", PERIOD, actor=ACTOR))
    usage.store_samples(
        ctx,
        "default",
        [usage.Sample(identifier(0), "storage", usage.parse_time("at", "2026-10-29T00:00:00Z"), Decimal(999), "GB")],
        source="late",
        actor=ACTOR,
    )
    with pytest.raises(ChecksumMismatch, match="changed since it was reviewed"):
        asyncio.run(push.push(ctx, "default", PERIOD, checksum=preview.checksum, actor=ACTOR))
    assert actual(small_month.sim) == [], "a refused push writes nothing"
    assert runs.list_runs(ctx, "default")[0].status == "refused"
