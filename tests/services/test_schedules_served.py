"""The embedded dispatcher in the served app (what ``meterbridge serve`` runs): a due schedule
pushes the month with nobody at the keyboard, the managers get the email, and the run and the
schedule show it over the REST API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx2
from tests.services.conftest import World
from tests.support.actors import ACTOR
from tests.support.reference_month import PERIOD, actual, expected
from tests.support.server import serve

from meterbridge.mail import Outbox
from meterbridge.services import accounts, runs, schedules, tenants
from meterbridge.settings import Settings
from meterbridge.web.app import create_app


def _world_served(world: World) -> Iterator[tuple[str, Outbox]]:
    outbox = Outbox()
    world.ctx.mailer = outbox
    tenants.update_settings(world.ctx, "default", {"managers": ["billing@msp.example"]}, actor=ACTOR)
    app = create_app(world.ctx, Settings(database_url=world.database_url, tick_seconds=1), scheduler=True)
    with serve(app, lifespan=True) as url:
        yield url, outbox


def test_the_served_app_runs_a_due_schedule_on_its_own(small_month: World) -> None:
    world, ctx = small_month, small_month.ctx
    world.clock.now = datetime(2026, 11, 1, 2, 0, 30, tzinfo=UTC)
    schedules.save_schedule(ctx, "default", "auto", {"kind": "auto_billing", "since": "2026-10-31"}, actor=ACTOR)
    token = accounts.create_token(ctx, "default", "probe", "viewer", actor=ACTOR).token
    for url, outbox in _world_served(world):
        deadline = time.monotonic() + 60
        while not (done := [r for r in runs.list_runs(ctx, "default") if r.kind == "push" and r.status != "running"]):
            assert time.monotonic() < deadline, "the served app ran no schedule"
            time.sleep(0.1)
        while not outbox.sent:
            assert time.monotonic() < deadline, "no email was sent"
            time.sleep(0.1)
        [run] = done
        assert (run.trigger, run.started_by, run.period) == ("automatic", "schedule:auto", PERIOD)
        assert actual(world.sim) == expected(world.n)
        shown = httpx2.get(
            f"{url}/api/v1/tenants/default/runs/{run.id}", headers={"Authorization": f"Bearer {token}"}
        ).json()
        assert [(n["channel"], n["status"], n["target"]) for n in shown["notifications"]] == [
            ("email", "sent", "billing@msp.example")
        ]
        listed = httpx2.get(
            f"{url}/api/v1/tenants/default/schedules", headers={"Authorization": f"Bearer {token}"}
        ).json()
        assert listed[0]["last_run"] == run.id and listed[0]["last_status"] == "partial"
