"""Crash safety: ``meterbridge push`` in a subprocess, SIGKILLed at 30+ points spread over its
journal (just after an intent, just after a result), then resumed: no duplicate, missing or
wrong addition. And two pushes of one tenant at once: one waits or refuses, nothing twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.services.conftest import World
from tests.support.actors import ACTOR
from tests.support.reference_month import PERIOD, actual, expected

from cwsim.faults import FaultRule
from meterbridge.services import push, runs
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


def _push(world: World, home: Path, *extra: str) -> subprocess.Popen[bytes]:
    approval = [] if "--checksum" in extra else ["--force"]  # a reviewed plan, or what is planned now
    command = [sys.executable, "-m", "meterbridge", "push", "--period", PERIOD, *approval, *extra]
    return subprocess.Popen(command, env=_env(world, home), stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _journal(world: World) -> tuple[int, int]:
    with world.ctx.db.session() as session:
        total = session.scalar(select(func.count()).select_from(JournalEntry)) or 0
        done = (
            session.scalar(select(func.count()).select_from(JournalEntry).where(JournalEntry.result.is_not(None))) or 0
        )
    return total, done


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
                process.send_signal(signal.SIGKILL)
                process.wait()
                kills += 1
                points.append(_journal(live_month))
                break
            time.sleep(0.002)
        else:
            process.wait()
            _, stderr = process.communicate()
            assert process.returncode == EXIT_PARTIAL, stderr.decode()
            break
    assert kills >= 30, f"only {kills} kills before the push completed"
    assert len({p for p in points}) >= 30, "the kills are spread over the journal"
    assert any(i > r for i, r in points), "some kills left an intent without its result"

    final = _push(live_month, tmp_path, "--wait", "30")
    _, stderr = final.communicate(timeout=120)
    assert final.returncode == EXIT_PARTIAL, stderr.decode()
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
    process.send_signal(signal.SIGKILL)
    process.wait()
    landed = _journal(live_month)[1]
    assert 5 <= landed < len(expected(live_month.n)), "killed part way"
    [killed] = [run for run in runs.list_runs(live_month.ctx, "default") if run.kind == "push"]
    assert killed.status == "running"

    again = _push(live_month, tmp_path, "--checksum", checksum, "--wait", "30")
    out, err = again.communicate(timeout=120)
    assert again.returncode == EXIT_PARTIAL, err.decode()  # the blocked customers, as reviewed
    assert f"approval: the rest of the approved plan {checksum[:12]}" in out.decode()
    assert f"earlier push(es) {killed.id} had been killed: marked interrupted" in out.decode()
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
    assert first.returncode == EXIT_PARTIAL, first_err.decode()
    assert second.returncode == EXIT_LEASE_HELD, second_err.decode()
    assert b"another push of this tenant is running" in second_err

    waiting = [_push(live_month, tmp_path, "--wait", "60") for _ in range(2)]
    codes = [process.wait(timeout=120) for process in waiting]
    assert codes == [EXIT_PARTIAL, EXIT_PARTIAL]
    held = actual(live_month.sim)
    assert held == expected(live_month.n)
    assert len(held) == len(set(held))
