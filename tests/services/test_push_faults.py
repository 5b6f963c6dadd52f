"""Faults from cwsim (429 storms, 10 % 500s, answers lost after processing): the push completes,
failed companies are reported with reasons, the others are unaffected, and the next push settles it."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from tests.services.conftest import World
from tests.support.actors import ACTOR
from tests.support.reference_month import PERIOD, actual, expected

from cwsim.faults import FaultRule
from meterbridge.services import push
from meterbridge.services.review import review
from meterbridge.store.models import JournalEntry

pytestmark = pytest.mark.slow


def test_storms_and_errors_fail_only_the_companies_they_hit(small_month: World) -> None:
    ctx, sim = small_month.ctx, small_month.sim
    sim.faults.configure(
        11,
        [
            FaultRule(methods=["GET"], path="*/additions", error_status=429, error_ratio=1.0, retry_after=1, limit=30),
            FaultRule(methods=["POST"], path="*/additions", drop_ratio=0.1, drop_after_processing=True),
            FaultRule(error_status=500, error_ratio=0.10),
        ],
    )
    outcome = asyncio.run(push.push(ctx, "default", PERIOD, force=True, actor=ACTOR))
    storm, dropped, errors = sim.faults.rules
    assert storm.faulted == 30 and errors.faulted > 0
    assert outcome.status == "partial"
    failed = {c: v for c, v in outcome.companies.items() if v.status in ("failed", "partial")}
    assert failed, "10 % 500s on writes must fail some companies"
    for entry in failed.values():
        assert all("POST finance/agreements/" in reason for reason in entry.reasons), entry
        assert all("500" in reason or "may have been applied" in reason for reason in entry.reasons), entry
        assert len(entry.failed) == len(entry.reasons) >= 1, "each line that did not land is named"
        assert entry.status == ("partial" if entry.landed else "failed")
    assert outcome.totals.writes.failed == sum(len(e.failed) for e in failed.values())
    # What the invoices charge after it: a line whose write failed still bills what it billed before,
    # and the review's companies add up to that total.
    not_landed = {key for entry in failed.values() for key in entry.failed}
    plan = outcome.with_changes()
    after = sum(
        c.old_amount if c.key in not_landed else Decimal(0) if c.kind == "cancel" else
        c.old_amount if c.kind == "blocked" else c.new_amount
        for c in plan.changes or []
    )  # fmt: skip
    planned = sum(Decimal(0) if c.kind == "cancel" else c.old_amount if c.kind == "blocked" else c.new_amount
                  for c in plan.changes or [])  # fmt: skip
    assert outcome.totals.billed_after == after != planned
    by_company = review(ctx, "default", outcome.run, limit=500)
    assert sum(b.billed_after for b in by_company.companies) == outcome.totals.billed_after

    wanted = expected(small_month.n)
    held = actual(sim)
    failed_agreements = {
        change.agreement_id for change in (outcome.with_changes().changes or []) if change.customer in failed
    }
    assert [r for r in held if r[0] not in failed_agreements] == [r for r in wanted if r[0] not in failed_agreements]
    assert len(held) == len(set(held)), "nothing written twice"

    sim.faults.configure(11, [])
    again = asyncio.run(push.push(ctx, "default", PERIOD, force=True, actor=ACTOR))
    assert {c for c, v in again.companies.items() if v.status in ("failed", "partial")} == set()
    assert actual(sim) == wanted
    with ctx.db.session() as session:
        open_intents = session.scalar(
            select(func.count()).select_from(JournalEntry).where(JournalEntry.result.is_(None))
        )
    assert open_intents == 0
    assert dropped.faulted == 0 or again.resumed.found >= 1


def test_intents_are_journalled_as_their_writes_go_never_all_before_the_first(small_month: World) -> None:
    """At most as many intents are open as the connection has calls in flight, however large the plan."""
    ctx = small_month.ctx
    open_at_writes: list[int] = []

    def observe(endpoint: str, status: str, _seconds: float) -> None:
        if endpoint.startswith("POST"):
            with ctx.db.session() as session:
                query = select(func.count()).select_from(JournalEntry).where(JournalEntry.result.is_(None))
                open_at_writes.append(session.scalar(query) or 0)

    watched = dataclasses.replace(ctx, observer=observe)
    outcome = asyncio.run(push.push(watched, "default", PERIOD, force=True, actor=ACTOR))
    concurrency = 8  # the tenant's default max_concurrency
    assert outcome.counts["create"] > 3 * concurrency
    assert len(open_at_writes) == outcome.counts["create"]
    assert max(open_at_writes) <= concurrency, open_at_writes[:10]
    assert actual(small_month.sim) == expected(small_month.n)
