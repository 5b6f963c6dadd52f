"""Crash safety: ``meterbridge push`` in a subprocess, SIGKILLed at 30+ points spread over its
journal (just after an intent, just after a result), then resumed: no duplicate, missing or
wrong addition. Two pushes of one tenant at once: one waits or refuses, nothing twice. And a push
paused (SIGSTOP) mid-writes past its lease while another takes over and finishes, then let go on
(SIGCONT): it sends nothing more, and nothing is billed twice."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.services.conftest import World
from tests.support.actors import ACTOR
from tests.support.processes import Command
from tests.support.reference_month import PERIOD, actual, expected

from cwsim.faults import FaultRule
from meterbridge.services import push, runs, tenants
from meterbridge.store.models import JournalEntry

pytestmark = pytest.mark.slow
EXIT_PARTIAL = 4  # blocked customers (ambiguous, missing, unlinked) make every push of this month partial
EXIT_LEASE_HELD = 5


def _env(world: World, home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "MBRIDGE_DATABASE_URL": world.database_url,
        "MBRIDGE_SECRET_KEY": world.key.decode("ascii"),
        "MBRIDGE_HOME": str(home),
    }


def _push(world: World, home: Path, *extra: str) -> Command:
    """``meterbridge push`` in a process of its own (forked warm: tests/support/processes.py)."""
    approval = [] if "--checksum" in extra else ["--force"]  # a reviewed plan, or what is planned now
    return Command(["push", "--period", PERIOD, *approval, *extra], _env(world, home), home / "output")


def _journal(world: World) -> tuple[int, int]:
    """(intents, results) journalled so far: one statement on a plain connection, as the tests poll
    it every few milliseconds while a push runs (an ORM session and two counts cost the push's
    processes a good share of the cores)."""
    with world.ctx.db.engine.connect() as connection:
        intents, results = connection.execute(
            select(func.count(), func.count(JournalEntry.result)).select_from(JournalEntry)
        ).one()
    return intents, results


def test_killed_at_30_points_and_resumed_bills_exactly_once(live_month: World, tmp_path: Path) -> None:
    live_month.sim.faults.configure(3, [FaultRule(methods=["POST", "PATCH"], latency_ms=40)])
    kills = 0
    points: list[tuple[int, int]] = []
    for attempt in range(80):
        intents, results = _journal(live_month)
        after_result = attempt % 2 == 1  # alternate: kill right after an intent, or right after a result
        process = _push(live_month, tmp_path, "--wait", "30")
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            now_intents, now_results = _journal(live_month)
            if (now_results > results) if after_result else (now_intents > intents):
                process.kill()
                kills += 1
                points.append(_journal(live_month))
                break
            time.sleep(0.002)
        else:
            _, stderr = process.communicate(timeout=60)
            assert process.returncode == EXIT_PARTIAL, stderr
            break
    assert kills >= 30, f"only {kills} kills before the push completed"
    assert len({p for p in points}) >= 30, "the kills are spread over the journal"
    assert any(i > r for i, r in points), "some kills left an intent without its result"

    final = _push(live_month, tmp_path, "--wait", "30")
    _, stderr = final.communicate(timeout=120)
    assert final.returncode == EXIT_PARTIAL, stderr
    assert actual(live_month.sim) == expected(live_month.n)
    intents, results = _journal(live_month)
    assert intents == results, "every intent has its result"
    statuses = Counter(run.status for run in runs.list_runs(live_month.ctx, "default", limit=500))
    assert "running" not in statuses, "no killed push stays running in the history"
    assert statuses["interrupted"] == kills


def test_a_killed_push_is_marked_interrupted_and_its_approval_applies_to_the_rest(
    live_month: World, tmp_path: Path
) -> None:
    live_month.sim.faults.configure(3, [FaultRule(methods=["POST", "PATCH"], latency_ms=40)])
    reviewed = push.preview(live_month.ctx, "default", PERIOD, actor=ACTOR)
    checksum = asyncio.run(reviewed).checksum
    process = _push(live_month, tmp_path, "--checksum", checksum)
    while _journal(live_month)[1] < 5 and process.poll() is None:
        time.sleep(0.002)
    process.kill()
    landed = _journal(live_month)[1]
    assert 5 <= landed < len(expected(live_month.n)), "killed part way"
    # read while its process is gone (nobody holds the lease): shown interrupted, not running
    [killed] = [run for run in runs.list_runs(live_month.ctx, "default") if run.kind == "push"]
    assert killed.status == "interrupted" and "its process is gone" in killed.summary["interrupted"]["found"]

    again = _push(live_month, tmp_path, "--checksum", checksum, "--wait", "30")
    out, err = again.communicate(timeout=120)
    assert again.returncode == EXIT_PARTIAL, err  # the blocked customers, as reviewed
    assert f"approval: the rest of the approved plan {checksum[:12]}" in out
    view = runs.show_run(live_month.ctx, "default", killed.id)
    assert view.status == "interrupted"
    assert view.summary["interrupted"]["writes_landed"] >= landed - 1  # the one in flight may be settled on resume
    assert actual(live_month.sim) == expected(live_month.n), "everything approved, nothing twice"


def test_two_pushes_at_once_one_refuses_and_nothing_is_written_twice(live_month: World, tmp_path: Path) -> None:
    live_month.sim.faults.configure(3, [FaultRule(methods=["POST"], latency_ms=600)])
    first = _push(live_month, tmp_path, "--wait", "0")
    while _journal(live_month)[0] == 0 and first.poll() is None:
        time.sleep(0.01)
    second = _push(live_month, tmp_path, "--wait", "0")
    _, second_err = second.communicate(timeout=120)
    _, first_err = first.communicate(timeout=120)
    assert first.returncode == EXIT_PARTIAL, first_err
    assert second.returncode == EXIT_LEASE_HELD, second_err
    assert "another push of this tenant is running" in second_err

    waiting = [_push(live_month, tmp_path, "--wait", "60") for _ in range(2)]
    codes = [process.wait(timeout=120) for process in waiting]
    assert codes == [EXIT_PARTIAL, EXIT_PARTIAL]
    held = actual(live_month.sim)
    assert held == expected(live_month.n)
    assert len(held) == len(set(held))


PAUSED_TRIALS = 6  # per database


def test_a_push_paused_past_its_lease_sends_nothing_after_the_takeover(
    live_worlds: Callable[[Path], AbstractContextManager[World]], tmp_path: Path
) -> None:
    """The adversarial run's sequence: a push at a short lease is stopped right after it journals
    an intent (its write about to leave or under way), a second push waits the lease out, takes
    over and finishes, then the first goes on. The first's next write is fenced the moment before
    it would leave: it stops, saying what it did; the additions are exactly the month's, once."""
    rng = random.Random(27)
    for trial in range(PAUSED_TRIALS):
        folder = tmp_path / f"trial-{trial}"
        folder.mkdir()
        with live_worlds(folder) as world:
            short = {"lease_seconds": 5, "request_timeout_seconds": 1, "max_concurrency": 1}
            tenants.update_settings(world.ctx, "default", short, actor=ACTOR)
            world.sim.faults.configure(3, [FaultRule(methods=["POST", "PATCH"], latency_ms=120)])
            first = _push(world, folder, "--wait", "0")
            stop_at = rng.randint(2, 25)  # intents journalled
            while _journal(world)[0] < stop_at and first.poll() is None:
                time.sleep(0.005)  # its writes leave 120 ms apart
            assert first.poll() is None, f"the first push ended before it was paused: {first.communicate(timeout=5)}"
            os.kill(first.pid, signal.SIGSTOP)
            try:
                world.sim.faults.configure(3, [])
                second = _push(world, folder, "--wait", "30")  # waits the lease out, then takes over
                _, second_err = second.communicate(timeout=120)
                # SQLite: a process paused inside a write transaction holds the database's write lock,
                # so nobody can take over until it goes on; the second push says so within its wait
                locked = world.database_url.startswith("sqlite") and second.returncode == EXIT_LEASE_HELD
                if locked:
                    assert "locked by another process in the middle of a write" in second_err, second_err
                else:
                    assert second.returncode == EXIT_PARTIAL, second_err
            finally:
                os.kill(first.pid, signal.SIGCONT)
            _, first_err = first.communicate(timeout=60)
            if locked:  # nobody took over: the first goes on and finishes its own push
                assert first.returncode == EXIT_PARTIAL, first_err
            else:
                assert first.returncode == EXIT_LEASE_HELD, first_err  # lease lost: the same exit code
                assert "none was sent after the lease was lost" in first_err, first_err
            # the companies of the writes it had under way were left to the next push: it checks them
            third = _push(world, folder, "--wait", "30")
            _, third_err = third.communicate(timeout=120)
            assert third.returncode == EXIT_PARTIAL, third_err
            held = actual(world.sim)
            assert held == expected(world.n), f"trial {trial}: the month's additions, exactly"
            assert len(held) == len(set(held)), f"trial {trial}: nothing twice"


def test_a_push_waiting_on_a_writer_paused_inside_its_transaction_says_so_and_goes_on_after(
    live_month: World, tmp_path: Path
) -> None:
    """A process stopped in the middle of a write holds its lock (SQLite: the database's one write
    lock; PostgreSQL: the lease row): a push asked to wait 2 s does not wait for ever behind it but
    refuses after the database's lock wait, saying what holds it; once the lock goes, it pushes."""
    engine = live_month.ctx.db.engine
    with engine.connect() as holder:
        if live_month.database_url.startswith("sqlite"):
            holder.exec_driver_sql("BEGIN IMMEDIATE")  # what a process paused mid-write holds
        else:
            holder.begin()
            holder.exec_driver_sql(
                "INSERT INTO leases (tenant_id, token) SELECT id, 0 FROM tenants ON CONFLICT DO NOTHING"
            )
            holder.exec_driver_sql("SELECT 1 FROM leases FOR UPDATE")
        started = time.monotonic()
        blocked = _push(live_month, tmp_path, "--wait", "2")
        _, stderr = blocked.communicate(timeout=90)
        waited = time.monotonic() - started
        holder.rollback()
    assert blocked.returncode == EXIT_LEASE_HELD, stderr
    assert "locked by another process in the middle of a write" in stderr, stderr
    assert waited < 60, f"it waited {waited:.0f} s"
    assert actual(live_month.sim) == [], "nothing was written"
    after = _push(live_month, tmp_path, "--wait", "2")
    _, stderr = after.communicate(timeout=120)
    assert after.returncode == EXIT_PARTIAL, stderr
    assert actual(live_month.sim) == expected(live_month.n)
