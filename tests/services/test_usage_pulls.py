"""Pull sources against vendorsim (a backup vendor's usage API) on a real loopback socket: paging by
page number, cursor and next link; a 500 retried; a timeout failing the pull, then retried by the
scheduler; a refused token; renamed and removed accounts; unknown customers listed; the hourly
occurrence claimed once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from tests.support.actors import ACTOR
from tests.support.server import serve

from meterbridge.services import customers, imports, pulls
from meterbridge.services.context import Context
from meterbridge.services.errors import InvalidInput
from meterbridge.store.models import Customer, UsageImportRow
from vendorsim.app import create_app
from vendorsim.sim import Fault, VendorSim, generate

MAPPING = {
    "customer": "account.id", "customer_name": "account.name", "product": "metric", "measured_at": "measured_at",
    "quantity": "value", "unit": "unit",
}  # fmt: skip
PRODUCTS = {"product": {"storage": "storage", "licenses": "server"}}


@pytest.fixture
def vendor() -> Iterator[tuple[VendorSim, str]]:
    sim = VendorSim()
    sim.replace(generate(accounts=10, month="2026-10", days=2))  # 10 accounts x 2 metrics x 2 days = 40 records
    with serve(create_app(sim)) as url:
        yield sim, url


def add_source(ctx: Context, url: str, every: str = "manual", **options: object) -> None:
    pulls.save_source(
        ctx, "default", "vendor", url=f"{url}/v1/usage", mapping=dict(MAPPING), auth_header="Authorization",
        auth_value="Bearer vendor-token", actor=ACTOR, options={"values": PRODUCTS, "page_size": 7, **options},
        every=every,
    )  # fmt: skip


def no_wait(_seconds: float) -> None:
    return None


@pytest.mark.parametrize("paging", ["page", "cursor", "next_link"])
def test_a_pull_reads_every_page_once_and_again_changes_nothing(
    ctx: Context, vendor: tuple[VendorSim, str], paging: str
) -> None:
    sim, url = vendor
    add_source(ctx, url, paging=paging, next="links.next" if paging == "next_link" else "next_cursor")
    view = pulls.pull(ctx, "default", "vendor", actor=ACTOR, sleep=no_wait)
    assert (view.status, view.origin, view.rows, view.added, view.rejected) == ("done", "pull", 40, 40, 0), view
    # 40 records, 7 a page: 6 pages, and page numbers go on to an empty page (a source may cap its size)
    assert view.pages == (7 if paging == "page" else 6) and len(view.new_customers) == 10
    assert {r.query.get("page_size") for r in sim.requests} == {"7"}
    again = pulls.pull(ctx, "default", "vendor", actor=ACTOR, sleep=no_wait)
    assert (again.added, again.replaced, again.unchanged) == (0, 0, 40)
    shown = pulls.show_source(ctx, "default", "vendor")
    assert shown.last_status == "done" and shown.last_import == again.id and "auth_value" not in shown.model_dump()


def test_a_500_is_retried_and_the_pull_completes(ctx: Context, vendor: tuple[VendorSim, str]) -> None:
    sim, url = vendor
    add_source(ctx, url)
    sim.faults.append(Fault(status=500, times=1, after=2))
    waits: list[float] = []
    view = pulls.pull(ctx, "default", "vendor", actor=ACTOR, sleep=waits.append)
    assert (view.status, view.added) == ("done", 40)
    assert [r.status for r in sim.requests] == [200, 200, 500, 200, 200, 200, 200, 200]
    assert waits == [0.5], "one retry, after half a second"


def test_a_timeout_fails_the_pull_storing_nothing_and_the_scheduler_retries_it(
    ctx: Context, vendor: tuple[VendorSim, str]
) -> None:
    sim, url = vendor
    add_source(ctx, url, every="hourly", timeout=0.3, retries=1)
    sim.faults.append(Fault(hang=1.0, times=2, after=1))
    view = pulls.pull(ctx, "default", "vendor", actor=ACTOR, sleep=no_wait)
    assert view.status == "failed" and view.added == 0
    assert view.message == f"page 2: {url}/v1/usage: no answer within 0.3 s, 2 attempts; the next pull tries again"
    with ctx.db.session() as session:
        assert session.scalars(select(Customer)).all() == [], "a failed pull stores nothing, not even its first page"
    source = pulls.show_source(ctx, "default", "vendor")
    assert source.failures == 1 and source.next_pull_at == ctx.clock() + timedelta(minutes=1)
    assert pulls.due_pulls(ctx) == []
    ctx.clock.advance(minutes=1)  # type: ignore[attr-defined]
    (due,) = pulls.due_pulls(ctx)
    retried = pulls.run_due_pull(ctx, due, sleep=no_wait)
    assert retried is not None and (retried.status, retried.added) == ("done", 40)
    assert pulls.run_due_pull(ctx, due, sleep=no_wait) is None, "claimed once"
    assert pulls.show_source(ctx, "default", "vendor").failures == 0


def test_a_refused_token_is_not_retried_and_says_what_to_check(ctx: Context, vendor: tuple[VendorSim, str]) -> None:
    sim, url = vendor
    add_source(ctx, url)
    sim.token = "rotated"
    view = pulls.pull(ctx, "default", "vendor", actor=ACTOR, sleep=no_wait)
    assert view.status == "failed" and "HTTP 401" in (view.message or "") and "check the auth header" in view.message
    assert len(sim.requests) == 1


def test_renamed_and_removed_accounts_are_tracked_and_flagged(ctx: Context, vendor: tuple[VendorSim, str]) -> None:
    sim, url = vendor
    add_source(ctx, url)
    pulls.pull(ctx, "default", "vendor", actor=ACTOR, sleep=no_wait)
    sim.rename("acc-0002", "Renamed Two GmbH")
    sim.delete("acc-0003")
    view = pulls.pull(ctx, "default", "vendor", actor=ACTOR, sleep=no_wait)
    assert [(r.customer, r.new_name) for r in view.renamed] == [("acc-0002", "Renamed Two GmbH")]
    assert view.removed == ["acc-0003"]
    with ctx.db.session() as session:
        flagged = session.scalars(select(Customer.external_id).where(Customer.missing_since.is_not(None))).all()
        assert flagged == ["acc-0003"]
    shown = {c.external_id: c for c in customers.list_customers(ctx, "default")}
    assert shown["acc-0003"].missing_since == ctx.clock() and shown["acc-0003"].source == "vendor"
    assert shown["acc-0002"].name == "Renamed Two GmbH" and shown["acc-0002"].missing_since is None
    listed = imports.list_imports(ctx, "default", source="vendor")
    assert listed[0].removed == ["acc-0003"] and listed[0].origin == "pull"


def test_records_without_a_known_customer_are_listed_not_dropped(ctx: Context, vendor: tuple[VendorSim, str]) -> None:
    _sim, url = vendor
    mapping = {k: v for k, v in MAPPING.items() if k != "customer_name"}
    pulls.save_source(
        ctx, "default", "vendor", url=f"{url}/v1/usage", mapping=mapping, auth_header="Authorization",
        auth_value="Bearer vendor-token", actor=ACTOR, options={"values": PRODUCTS},
    )  # fmt: skip
    view = pulls.pull(ctx, "default", "vendor", actor=ACTOR, sleep=no_wait)
    assert view.status == "partial" and view.rejected == 40
    assert view.unknown_customers == [f"acc-{i:04d}" for i in range(1, 11)]


def test_an_hourly_source_is_due_once_an_hour(ctx: Context, vendor: tuple[VendorSim, str]) -> None:
    _sim, url = vendor
    add_source(ctx, url, every="hourly")
    assert pulls.due_pulls(ctx) == [], "saved now: due from its next time on"
    ctx.clock.advance(hours=1)  # type: ignore[attr-defined]
    (due,) = pulls.due_pulls(ctx)
    assert pulls.run_due_pull(ctx, due, sleep=no_wait) is not None
    assert pulls.due_pulls(ctx) == []
    with ctx.db.session() as session:
        assert session.scalars(select(UsageImportRow.actor)).all() == ["schedule:pull vendor"]


def test_a_source_refuses_options_it_would_ignore(ctx: Context) -> None:
    for options, message in (
        ({"paging": "scroll"}, "paging: 'scroll' is not one of"),
        ({"colour": "red"}, "colour: not an option of a pull source"),
        ({"page_size": 0}, "page_size: 0 is not a whole number from 1 to 10000"),
    ):
        with pytest.raises(InvalidInput, match=message):
            pulls.save_source(ctx, "default", "v", url="https://vendor.example/usage", mapping=dict(MAPPING),
                              actor=ACTOR, options=options)  # fmt: skip
    with pytest.raises(InvalidInput, match="mapping: no path for unit"):
        pulls.save_source(ctx, "default", "v", url="https://vendor.example/usage",
                          mapping={k: v for k, v in MAPPING.items() if k != "unit"}, actor=ACTOR)  # fmt: skip
    with pytest.raises(InvalidInput, match=r"url: 169\.254\.169\.254 is a link-local"):
        pulls.save_source(ctx, "default", "v", url="http://169.254.169.254/x", mapping=dict(MAPPING), actor=ACTOR)


def test_a_change_keeps_the_auth_value_and_the_options_it_does_not_name(
    ctx: Context, vendor: tuple[VendorSim, str]
) -> None:
    _sim, url = vendor
    add_source(ctx, url, complete=False)
    pulls.save_source(ctx, "default", "vendor", url=f"{url}/v1/usage", mapping=dict(MAPPING), every="hourly",
                      actor=ACTOR)  # fmt: skip
    source = pulls.show_source(ctx, "default", "vendor")
    assert source.every == "hourly" and source.options["complete"] is False and source.options["page_size"] == 7
    assert pulls.pull(ctx, "default", "vendor", actor=ACTOR, sleep=no_wait).status == "done", "the token was kept"
    with pytest.raises(InvalidInput, match="complete: 'false' is not true or false"):
        add_source(ctx, url, complete="false")


def test_paging_that_loops_or_leaves_the_source_fails_the_pull(ctx: Context) -> None:
    from fastapi import FastAPI

    loop = FastAPI()

    @loop.get("/same")
    def same() -> dict[str, object]:
        return {"data": [], "next_cursor": "again", "links": {"next": "https://elsewhere.example/steal"}}

    with serve(loop) as url:
        mapping = dict(MAPPING)
        pulls.save_source(ctx, "default", "loop", url=f"{url}/same", mapping=mapping, actor=ACTOR,
                          options={"paging": "cursor"})  # fmt: skip
        looped = pulls.pull(ctx, "default", "loop", actor=ACTOR, sleep=no_wait)
        assert looped.status == "failed" and "sent 'again' again: its paging loops" in (looped.message or "")
        pulls.save_source(ctx, "default", "away", url=f"{url}/same", mapping=mapping, actor=ACTOR,
                          auth_header="Authorization", auth_value="Bearer secret",
                          options={"paging": "next_link", "next": "links.next"})  # fmt: skip
        away = pulls.pull(ctx, "default", "away", actor=ACTOR, sleep=no_wait)
        assert away.status == "failed" and "leaves" in (away.message or "") and "not followed" in away.message
