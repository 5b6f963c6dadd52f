"""A push's page while it runs, in a browser: companies done of how many, writes done and the
money changed so far move as the writes land (cwsim slows every write down), each never past
what the plan says, and the page ends on the run's results, whose totals are what the progress
reached."""

from __future__ import annotations

import contextlib
import re
import time
from decimal import Decimal
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from tests.console.conftest import money_of
from tests.support.actors import ACTOR
from tests.support.console_world import ConsoleWorld, set_up

from cwsim.faults import FaultRule
from meterbridge.services import tenants

pytestmark = [pytest.mark.browser, pytest.mark.slow]


LIVE_FIGURES = """el => ({
    companies: el.querySelector('#live-companies .figure').innerText,
    writes: el.querySelector('#live-writes .figure').innerText,
    change: el.querySelector('#live-change .figure').innerText,
    planned: el.querySelector('#live-change').innerText,
    billed: el.querySelector('#live-billed .figure').innerText,
})"""


def _of(text: str) -> tuple[int, int]:
    """'3 of 12' -> (3, 12)."""
    found = re.search(r"(\d+) of (\d+)", text)
    assert found, text
    return int(found.group(1)), int(found.group(2))


def test_a_push_shows_companies_writes_and_money_while_it_runs(open_console: Any, world: ConsoleWorld) -> None:
    run = set_up(world)
    tenants.update_settings(world.ctx, "acme", {"max_concurrency": 2}, actor=ACTOR)  # two writes at a time
    world.user("acme", "ann", "billing")
    world.sim.faults.rules.append(FaultRule(methods=["POST"], path="*additions", latency_ms=250))
    c = open_console()
    c.sign_in("ann")
    p = c.page
    c.go(f"/console/t/acme/billing?period=2026-10&run={run}")
    cards = p.locator("#totals .card")
    before, change = money_of(cards.nth(0).inner_text()), money_of(cards.nth(2).inner_text())
    writes = int(cards.nth(3).locator(".figure").inner_text())
    p.once("dialog", lambda dialog: dialog.accept())
    p.click("button:has-text('Push to ConnectWise')")
    p.wait_for_url("**/runs/*")
    p.locator("#live-totals").wait_for()
    assert p.locator("#totals").count() == 0 and p.locator("#companies").count() == 0  # no empty totals meanwhile
    seen: list[tuple[int, int, str]] = []
    shot = False
    deadline = time.monotonic() + 60
    while p.locator("h1 .badge-running").count() and time.monotonic() < deadline:
        with contextlib.suppress(PlaywrightTimeoutError):  # the page reloads without them when the push ends
            # every figure from one swap of the polled card: read in one script, not one after another
            # (htmx replaces the card every 700 ms, and may do so between two reads)
            live = p.locator("#live-totals").evaluate(LIVE_FIGURES, timeout=1000)
            companies = _of(live["companies"])
            done, total = _of(live["writes"])
            so_far = money_of(live["change"])
            planned = money_of(live["planned"].split("of", 1)[1])
            assert total == writes and planned == change
            assert companies[0] <= companies[1] and done <= total
            billed = money_of(live["billed"])
            assert Decimal(billed) == Decimal(before) + Decimal(so_far), (billed, before, so_far)
            seen.append((companies[0], done, so_far))
            if not shot and 0 < companies[0] < companies[1]:
                c.shot("push-live")
                shot = True
        p.wait_for_timeout(150)
    p.wait_for_selector("h1 .badge-done, h1 .badge-partial")
    assert len({s[0] for s in seen}) > 2, seen  # companies done moved
    assert len({s[1] for s in seen}) > 2, seen  # writes done moved
    assert len({s[2] for s in seen}) > 2, seen  # and the money with them
    assert [s[1] for s in seen] == sorted(s[1] for s in seen), seen  # never back
    totals = p.locator("#totals .card")
    assert money_of(totals.nth(2).inner_text()) == change and money_of(totals.nth(0).inner_text()) == before
    assert f"{writes} landed" in p.locator("#totals").inner_text()
    assert p.locator("#progress").count() == 0
