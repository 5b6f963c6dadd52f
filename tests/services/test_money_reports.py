"""The leak report in money, and the history of a push that never finished, on the reference month
against cwsim, on SQLite and PostgreSQL: unbilled usage valued at the prices in force (price list,
a customer's own tiers, a DoNotBill line, a blocked line, a line that bills two products counted
once), what a hand-made addition bills; ``leaks`` and ``runs list``/``show`` as people read them."""

from __future__ import annotations

import asyncio
import json
import threading
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner
from tests.services.conftest import World
from tests.services.test_setup_services import hand_made_storage_addition
from tests.support.actors import ACTOR
from tests.support.cli_world import meterbridge_command
from tests.support.reference_month import PERIOD, identifier

from meterbridge.cli import Injected
from meterbridge.services import configurations, leaks, prices, push, runs, usage
from meterbridge.services.errors import ServiceError

D = Decimal
REPR = ("{'", "Decimal(", "None", "datetime.")


def mb(world: World, home: Path, *args: str) -> str:
    """``meterbridge ARGS`` on the world's database and clock, as a user runs it."""
    env = {
        "MBRIDGE_DATABASE_URL": world.database_url,
        "MBRIDGE_SECRET_KEY": world.key.decode("ascii"),
        "MBRIDGE_HOME": str(home),
        "COLUMNS": "400",
    }
    result = CliRunner().invoke(meterbridge_command(), list(args), env=env, obj=Injected(world.clock))
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.output


def test_the_leak_report_values_unbilled_usage_at_the_prices_in_force(small_month: World, tmp_path: Path) -> None:
    ctx = small_month.ctx
    # C000's own graduated price for M365 users, which no configuration of its bills: 2 x 4 + 3 x 3
    prices.set_price(ctx, "default", "m365", customer=identifier(0), unit_price="3.5", tiers="2:4,:3", actor=ACTOR)
    # case 2 bills storage and servers as one total line: DoNotBill now, counted once
    configurations.save_configuration(
        ctx, "default", identifier(2), f"{identifier(2)}-all", {"bill_mode": "DoNotBill"}, actor=ACTOR
    )
    asyncio.run(push.push(ctx, "default", PERIOD, force=True, actor=ACTOR))
    report = asyncio.run(leaks.revenue_leaks(ctx, "default", PERIOD)).view()
    found = {(leak.kind.value, leak.customer, leak.subject): leak for leak in report.leaks}

    def amount(kind: str, customer: int | str, subject: str) -> Decimal | None:
        who = identifier(customer) if isinstance(customer, int) else customer
        return found[(kind, who, subject)].amount

    assert amount("usage-without-line", 0, "m365") == D("17.00")  # 5 users on its own tiers
    assert amount("usage-without-line", 0, "server") == D("45.00")  # the price list
    assert amount("usage-without-line", 0, "workstation") == D("24.00")
    assert amount("usage-not-invoiced", 5, "storage") == D("13.53")  # 135.25 GB at 0.10, DoNotBill
    assert amount("usage-without-line", 9, "storage") == D("16.33")  # ambiguous agreement: blocked
    assert amount("usage-without-line", 10, "storage") == D("17.03")  # no agreement: blocked
    assert amount("usage-without-line", "unlinked-11", "storage") == D("17.73")  # not linked: blocked
    for product, money in (("storage", "22.63"), ("server", "135.00"), ("workstation", "60.00"), ("m365", "42.00")):
        assert amount("usage-without-line", 18, product) == D(money), product  # push disabled: every product
    # 114.25 GB at 0.10 (11.43) + 3 servers at 45: one line, counted with the first of its products
    assert amount("usage-not-invoiced", 2, "server") == D("146.43")
    shared = found[("usage-not-invoiced", identifier(2), "storage")]
    assert shared.amount == 0 and "its line also bills server: counted there" in shared.detail
    assert "it would bill $17.00 at C000's own price" in found[("usage-without-line", identifier(0), "m365")].detail
    assert "$13.53" in found[("usage-not-invoiced", identifier(5), "storage")].detail
    unbilled = [leak.amount or 0 for leak in report.leaks if leak.kind.value.startswith("usage-")]
    assert report.unbilled == sum(unbilled) and report.unbilled > D("1000")
    assert report.billed_without_usage == 0

    hand_made = hand_made_storage_addition(small_month, unitPrice=0.2)  # 5 GB at 0.20, by hand, on C000's agreement
    # C000's storage usage withdrawn, its configuration leaving the addition as it is: it bills 100.25 GB at 0.10
    configurations.save_configuration(
        ctx, "default", identifier(0), f"{identifier(0)}-storage", {"zero_policy": "leave"}, actor=ACTOR
    )
    usage.withdraw_samples(ctx, "default", identifier(0), product="storage", actor=ACTOR)
    later = asyncio.run(leaks.revenue_leaks(ctx, "default", PERIOD)).view()
    idle = [leak for leak in later.leaks if leak.kind.value == "line-without-usage"]
    [extra] = [leak for leak in idle if "does not manage" in leak.detail]
    assert extra.amount == D("1.00")
    assert f"addition {hand_made} on agreement 1 bills $1.00 for {PERIOD}" in extra.detail
    [left] = [leak for leak in idle if "there is no usage this period" in leak.detail]
    assert (left.customer, left.amount) == (identifier(0), D("10.03")) and "still bills $10.03" in left.detail
    assert later.billed_without_usage == D("11.03")

    shown = mb(small_month, tmp_path, "leaks", "--period", PERIOD)
    assert "$17.00" in shown and "$146.43" in shown
    assert f"unbilled usage in {PERIOD}: ${later.unbilled:,.2f} at the prices in force" in shown
    assert "additions billing it without usage: $11.03" in shown
    assert not any(bad in shown for bad in REPR), shown
    as_json = json.loads(mb(small_month, tmp_path, "--json", "leaks", "--period", PERIOD))
    assert (as_json["unbilled"], as_json["billed_without_usage"]) == (f"{later.unbilled}", "11.03")
    [m365] = [leak for leak in as_json["leaks"] if (leak["customer"], leak["subject"]) == (identifier(0), "m365")]
    assert (m365["kind"], m365["amount"]) == ("usage-without-line", "17.00")


def _paused_push(world: World, after: int) -> tuple[threading.Thread, threading.Event, list[BaseException]]:
    """A push of the world's month in a thread of its own, paused (its event loop held) once
    ``after`` writes are done, until the event is set."""
    reached, go_on = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def progress(done: int, _total: int) -> None:
        if done >= after and not reached.is_set():
            reached.set()
            go_on.wait(timeout=120)

    def work() -> None:
        try:
            asyncio.run(push.push(world.ctx, "default", PERIOD, force=True, actor=ACTOR, progress=progress))
        except ServiceError as error:  # the lease it lost while paused
            failures.append(error)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    assert reached.wait(timeout=120), "the push reached its writes"
    return thread, go_on, failures


def test_a_push_that_never_finished_shows_what_its_journal_says_it_wrote(small_month: World, tmp_path: Path) -> None:
    thread, go_on, _ = _paused_push(small_month, after=3)
    try:
        [running] = runs.list_runs(small_month.ctx, "default", kind="push")
        assert running.status == "running" and running.journal is not None
        assert sum(running.journal.landed.values()) >= 3
        # its lease runs out while it is paused: nobody runs it any more, it is interrupted
        small_month.clock.advance(hours=1)
        listed = mb(small_month, tmp_path, "runs", "list")
        [interrupted] = runs.list_runs(small_month.ctx, "default", kind="push")
        assert interrupted.status == "interrupted" and interrupted.journal is not None
        landed = interrupted.journal.landed.get("create", 0)
        assert landed >= 3 and interrupted.journal.sent >= landed
        row = next(line for line in listed.splitlines() if f"│ {interrupted.id} " in line)
        assert "interrupted" in row and f"{landed} create landed" in row
        assert f"at least {interrupted.journal.sent}" in row
        shown = mb(small_month, tmp_path, "runs", "show", str(interrupted.id))
        assert f"its journal: {landed} create landed" in shown
        assert f"interrupted: {landed} write(s) had landed" in shown
        assert not any(bad in text for text in (listed, shown) for bad in REPR)
    finally:
        go_on.set()
        thread.join(timeout=120)
    assert not thread.is_alive()
