"""The demo's year on the overview, in a browser: usage seeded for twelve months and the months
before the demo's billed one after the other (as scripts/demo does) chart a year, each month's
bar what its push billed; the axis' labels are drawn whole (102,999 GB was cut to "02,999 GB")."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.actors import ACTOR
from tests.support.console_world import SIM_KEYS, ConsoleWorld, _run

from meterbridge.domain.periods import Period
from meterbridge.services import companies, connections, demo, push, tenants

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MONTHS = ("Dec 25", "Jan 26", "Feb 26", "Mar 26", "Apr 26", "May 26", "Jun 26", "Jul 26", "Aug 26", "Sep 26", "Oct 26")


def test_the_demo_charts_a_year(open_console: Any, world: ConsoleWorld) -> None:
    connections.set_connection(world.ctx, "acme", site=world.cw_url, client_id="console-test", actor=ACTOR, **SIM_KEYS)
    tenants.update_settings(world.ctx, "acme", {"rate_limit_per_minute": 1_000_000}, actor=ACTOR)  # cwsim's own
    assert _run(connections.test_connection(world.ctx, "acme", actor=ACTOR)).ok
    _run(companies.import_companies(world.ctx, "acme", actor=ACTOR))
    october = Period.parse("2026-10")
    demo.seed_demo(world.ctx, "acme", october, months=12, actor=ACTOR)
    companies.link_customers(world.ctx, "acme", actor=ACTOR)
    history = _run(demo.push_history(world.ctx, "acme", october, months=12, actor=ACTOR))
    assert [o.period for o in history] == [str(p) for p in demo.earlier_months(october, 12)]
    assert history[0].period == "2025-11" and all(o.status.value in ("done", "partial") for o in history)
    previewed = _run(push.preview(world.ctx, "acme", "2026-10", actor=ACTOR))
    _run(push.push(world.ctx, "acme", "2026-10", checksum=previewed.checksum, actor=ACTOR))
    world.user("acme", "ann", "viewer")
    c = open_console()
    c.sign_in("ann")
    p = c.page
    assert p.locator("section[aria-labelledby=setup]").count() == 0  # set up: the charts come first
    charts = p.locator("figure.chart svg")
    billed = charts.first.get_attribute("aria-label") or ""
    for month in MONTHS:  # every month of the year billed (November has just begun)
        assert f"{month}: $0.00" not in billed and f"{month}: $" in billed, (month, billed)
    for n in range(charts.count()):
        label = charts.nth(n).get_attribute("aria-label") or ""
        if not label.startswith("Workstation"):  # the demo's one product nobody uses
            assert ": 0 " not in label.split("Nov 26")[0], label  # usage every month of the year
        left = charts.nth(n).locator(".tick").first.evaluate("tick => tick.getBBox().x")
        assert left >= 0, (label, left)  # the axis' top label is drawn whole
    c.shot("charts-year")
