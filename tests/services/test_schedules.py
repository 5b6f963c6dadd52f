"""Schedules on an injected clock against cwsim: auto-billing bills the previous month once and
then writes nothing, a missed schedule runs once when it comes back, a plan over the thresholds is
held and the managers told, a failing schedule retries with backoff and gives up telling them,
an hourly refresh reports drift once and never writes, and every push is emailed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import httpx2
import pytest
from tests.conftest import BASE_PATH, CW_HEADERS
from tests.services.conftest import World
from tests.support.actors import ACTOR
from tests.support.reference_month import PERIOD, actual, expected

from meterbridge.domain.money import format_money
from meterbridge.jobs.embedded import EmbeddedDispatcher
from meterbridge.mail import Outbox
from meterbridge.services import push, runs, schedules, tenants, usage
from meterbridge.services.errors import NotFound, ServiceError
from meterbridge.services.views import ScheduleRunView

MANAGERS = ["billing@msp.example", "owner@msp.example"]


def _ready(world: World) -> Outbox:
    outbox = Outbox(sender="meterbridge@msp.example")
    world.ctx.mailer = outbox
    tenants.update_settings(world.ctx, "default", {"managers": MANAGERS}, actor=ACTOR)
    return outbox


def _tick(world: World) -> list[ScheduleRunView]:
    return asyncio.run(EmbeddedDispatcher(world.ctx).once()).ran


def _writes(world: World) -> int:
    return sum(1 for r in world.sim.traffic.requests() if r["method"] in ("POST", "PATCH", "PUT"))


def test_auto_billing_bills_the_previous_month_once_then_writes_nothing(small_month: World) -> None:
    world, ctx = small_month, small_month.ctx
    outbox = _ready(world)
    world.clock.now = datetime(2026, 11, 1, 1, 0, tzinfo=UTC)
    view = schedules.save_schedule(
        ctx, "default", "auto-billing", {"kind": "auto_billing", "days": 3, "at": "02:00"}, actor=ACTOR
    )
    assert view.next_run_at == datetime(2026, 11, 1, 2, tzinfo=UTC) and view.next_period == PERIOD
    assert _tick(world) == []  # 01:00: not yet
    world.clock.now = datetime(2026, 11, 1, 2, 0, 5, tzinfo=UTC)
    [ran] = _tick(world)
    assert (ran.schedule, ran.period, ran.status) == ("auto-billing", PERIOD, "partial")  # blocked cases: partial
    assert actual(world.sim) == expected(world.n)
    run = runs.show_run(ctx, "default", ran.run or 0)
    assert (run.trigger, run.started_by) == ("automatic", "schedule:auto-billing")
    assert _tick(world) == []  # once per occurrence

    [email] = outbox.sent
    assert email.to == tuple(MANAGERS)
    totals = run.summary["totals"]
    billed = format_money(Decimal(totals["billed_after"]))
    headline = "partly done: some companies failed or are blocked"
    assert email.subject == f"[meterbridge] default: push of {PERIOD} {headline}, {billed} billed"
    assert f"Billed after:  {billed}" in email.text
    assert "Started by schedule:auto-billing (automatic)" in email.text
    blocked = [c for c, r in run.summary["companies"].items() if r["status"] == "blocked"]
    assert blocked and all(f"- {c}: " in email.text for c in blocked)
    assert f"http://127.0.0.1:8080/console/t/default/runs/{run.id}" in email.text
    assert [n.status for n in runs.show_run(ctx, "default", run.id).notifications] == ["sent"]

    # day 2: the same month again; nothing changed, so nothing is written
    writes = _writes(world)
    world.clock.now = datetime(2026, 11, 2, 2, 0, 5, tzinfo=UTC)
    [again] = _tick(world)
    assert again.status == "partial" and again.detail == "0 of 0 writes landed"
    assert _writes(world) == writes
    # after the first 3 days nothing runs until December
    world.clock.now = datetime(2026, 11, 3, 2, 0, 5, tzinfo=UTC)
    assert len(_tick(world)) == 1
    world.clock.now = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    assert _tick(world) == []
    assert schedules.show_schedule(ctx, "default", "auto-billing").next_run_at == datetime(2026, 12, 1, 2, tzinfo=UTC)


def test_a_missed_schedule_runs_once_when_the_process_comes_back(small_month: World) -> None:
    world, ctx = small_month, small_month.ctx
    _ready(world)
    world.clock.now = datetime(2026, 10, 30, 12, tzinfo=UTC)
    schedules.save_schedule(ctx, "default", "monthly", {"kind": "monthly", "day": 1, "at": "06:00"}, actor=ACTOR)
    world.clock.now = datetime(2026, 11, 3, 9, tzinfo=UTC)  # the process was down on November 1
    [due] = schedules.due(ctx)
    waiting = schedules.show_schedule(ctx, "default", "monthly")
    assert waiting.due_now and waiting.next_run_at == datetime(2026, 11, 1, 6, tzinfo=UTC)
    [ran] = _tick(world)
    assert not schedules.show_schedule(ctx, "default", "monthly").due_now
    assert ran.slot == due.slot == datetime(2026, 11, 1, 6, tzinfo=UTC) and ran.period == PERIOD
    assert actual(world.sim) == expected(world.n)
    assert _tick(world) == []
    # a second dispatcher that had found the same occurrence due runs nothing twice
    writes = _writes(world)
    again = asyncio.run(schedules.run_due(ctx, due.schedule_id, due.slot))
    assert again.status == "skipped" and again.detail == "already run"
    assert _writes(world) == writes


def test_a_plan_over_the_thresholds_is_held_and_the_managers_told(small_month: World) -> None:
    world, ctx = small_month, small_month.ctx
    outbox = _ready(world)
    first = asyncio.run(push.push(ctx, "default", PERIOD, force=True, actor=ACTOR))  # a person pushes the month
    asyncio.run(EmbeddedDispatcher(ctx).once())  # delivers that push's email
    assert [e.subject.split(":")[1].strip() for e in outbox.sent] == [f"push of {PERIOD} partly done"]
    assert f"Started by {ACTOR} (manual)" in outbox.sent[0].text
    tenants.update_settings(ctx, "default", {"max_changed_fraction": "0"}, actor=ACTOR)
    bigger = [
        usage.Sample(f"C{i:03d}", "storage", usage.parse_time("at", "2026-10-25T00:00:00+00:00"), Decimal(5000), "GB")
        for i in (0, 1, 2)
    ]
    usage.store_samples(ctx, "default", bigger, actor=ACTOR)
    world.clock.now = datetime(2026, 11, 3, 9, tzinfo=UTC)
    schedules.save_schedule(
        ctx, "default", "auto", {"kind": "auto_billing", "days": 3, "since": "2026-11-01"}, actor=ACTOR
    )
    before = actual(world.sim)
    [ran] = _tick(world)
    assert ran.status == "held" and ran.detail.startswith("held for approval: ")
    assert actual(world.sim) == before  # nothing written
    held = runs.show_run(ctx, "default", ran.run or 0)
    assert held.status == "held" and held.checksum
    email = outbox.sent[-1]
    assert email.subject == f"[meterbridge] default: push of {PERIOD} held for approval"
    assert f"meterbridge push --period {PERIOD} --checksum {held.checksum}" in email.text
    assert "Held because:" in email.text and "Nothing was written." in email.text
    assert schedules.show_schedule(ctx, "default", "auto").last_status == "held"
    assert _tick(world) == []  # held is settled: no retry every tick; tomorrow's run tries again
    assert first.status == "partial"


def test_a_failing_schedule_retries_with_backoff_then_gives_up_telling_the_managers(small_month: World) -> None:
    world, ctx = small_month, small_month.ctx
    outbox = _ready(world)
    tenants.init_tenant(ctx, "second", actor=ACTOR)  # no ConnectWise connection: every run fails at once
    tenants.update_settings(ctx, "second", {"managers": ["ops@second.example"]}, actor=ACTOR)
    world.clock.now = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
    options = {"kind": "monthly", "day": 1, "at": "00:00", "since": "2026-10-31"}
    schedules.save_schedule(ctx, "second", "monthly", options, actor=ACTOR)
    gaps = []
    for attempt in range(1, schedules.MAX_FAILURES + 1):
        [ran] = _tick(world)
        shown = schedules.show_schedule(ctx, "second", "monthly")
        if attempt < schedules.MAX_FAILURES:
            assert ran.status == "retrying" and shown.failures == attempt
            assert "connection" in (shown.last_error or "")
            assert _tick(world) == []  # not before its retry time
            assert shown.retry_at is not None
            gaps.append((shown.retry_at - world.clock.now).total_seconds() / 60)
            world.clock.now = shown.retry_at
        else:
            assert ran.status == "failed" and shown.last_status == "failed" and shown.failures == 0
    assert gaps == [1, 2, 4, 8, 16]
    assert _tick(world) == []
    [email] = [e for e in outbox.sent if e.to == ("ops@second.example",)]
    assert email.subject == "[meterbridge] second: schedule monthly could not bill 2026-10"
    assert "Why: " in email.text and "What to do: " in email.text


def test_refresh_reports_drift_once_and_never_writes(small_month: World) -> None:
    world, ctx = small_month, small_month.ctx
    outbox = _ready(world)
    asyncio.run(push.push(ctx, "default", PERIOD, force=True, actor=ACTOR))
    additions = world.sim.state.collections["additions"].by_id.values()
    ours = next(a for a in additions if a["product"]["identifier"] == "BACKUP-STORAGE-GB")
    world.clock.advance(minutes=5)
    answer = httpx2.patch(
        f"{world.url}{BASE_PATH}/finance/agreements/{ours['agreementId']}/additions/{ours['id']}",
        json=[{"op": "replace", "path": "quantity", "value": 1}],
        headers=CW_HEADERS,
    )
    assert answer.status_code == 200, answer.text  # someone edits our addition in ConnectWise
    world.clock.advance(minutes=5)
    options = {"kind": "refresh", "minute": 0, "since": "2026-11-01"}
    schedules.save_schedule(ctx, "default", "hourly", options, actor=ACTOR)
    writes = _writes(world)
    [ran] = _tick(world)
    assert ran.status == "drift" and ran.detail == "1 lines drifted (edited in ConnectWise)"
    assert runs.show_run(ctx, "default", ran.run or 0).kind == "preview"
    assert _writes(world) == writes  # a refresh never writes
    drift = [e for e in outbox.sent if "preview" in e.subject]
    headline = "found additions edited in ConnectWise (drift)"
    assert len(drift) == 1 and drift[0].subject == f"[meterbridge] default: preview of {PERIOD} {headline}"
    assert f"(addition {ours['id']} on agreement {ours['agreementId']})" in drift[0].text
    world.clock.advance(hours=1)
    [again] = _tick(world)
    assert again.status == "drift"
    assert len([e for e in outbox.sent if "preview" in e.subject]) == 1  # the same drift is told once
    world.clock.advance(hours=1)
    [third] = _tick(world)
    assert _writes(world) == writes
    previews = [r.id for r in runs.list_runs(ctx, "default", kind="preview")]
    # the same plan hour after hour keeps the run the managers were told about and the newest one
    assert previews == [third.run, ran.run] and again.run not in previews


def test_schedule_options_are_checked_against_their_kind(small_month: World) -> None:
    ctx = small_month.ctx

    def refused(name: str, options: dict[str, object], field: str, words: str) -> None:
        with pytest.raises(ServiceError) as caught:
            schedules.save_schedule(ctx, "default", name, options, actor=ACTOR)
        assert getattr(caught.value, "field", None) == field and words in str(caught.value), str(caught.value)

    refused("a", {"kind": "auto_billing", "day": 5}, "day", "applies to monthly schedules")
    refused("a", {"kind": "monthly", "minute": 5}, "minute", "applies to refresh schedules")
    refused("a", {"kind": "weekly"}, "kind", "not auto_billing, monthly or refresh")
    refused("a", {"days": 3}, "kind", "a new schedule needs its kind")
    refused("a", {"kind": "monthly", "day": 32}, "day", "not a day of the month (1 to 31)")
    refused("a", {"kind": "auto_billing", "days": 29}, "days", "1 to 28")
    refused("a", {"kind": "monthly", "at": "25:00"}, "at", "HH:MM")
    refused("a", {"kind": "monthly", "missing_day": "later"}, "missing_day", "clamp")
    refused("a", {"kind": "monthly", "target": "next"}, "target", "previous")
    refused("a", {"kind": "monthly", "since": "soon"}, "since", "YYYY-MM-DD")
    refused("A b", {"kind": "monthly"}, "name", "lowercase")
    refused("a", {"kind": "monthly", "every": 2}, "every", "not a schedule option")
    schedules.save_schedule(ctx, "default", "m", {"kind": "monthly", "day": 31, "missing_day": "skip"}, actor=ACTOR)
    refused("m", {"kind": "refresh"}, "kind", "remove it and add")
    view = schedules.save_schedule(ctx, "default", "m", {"at": "07:30"}, actor=ACTOR)
    assert (view.day, view.missing_day, view.at, view.minute) == (31, "skip", "07:30", None)
    assert "a month without day 31 does not run" in view.description
    assert schedules.remove_schedule(ctx, "default", "m", actor=ACTOR).key == "m"
    with pytest.raises(NotFound):
        schedules.show_schedule(ctx, "default", "m")
