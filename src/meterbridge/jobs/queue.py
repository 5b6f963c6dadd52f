"""The Procrastinate dispatcher, for ``meterbridge worker`` processes on PostgreSQL.

* ``meterbridge.tick`` is periodic (every ``tick_seconds``; Procrastinate defers each period's
  tick once, whichever worker sees it first): it finds the due occurrences and defers one
  ``meterbridge.run_schedule`` job each, with the lock ``tenant:ID`` (one job of a tenant runs at
  a time, whatever the worker) and the queueing lock ``schedule:ID`` (a schedule waiting to run
  is queued once, never piled up); one ``meterbridge.run_pull`` job per usage source due (lock
  and queueing lock ``pull:ID``); and it defers ``meterbridge.deliver`` when messages are due.
* A job whose worker died (no heartbeat for ``stalled_after`` seconds) is marked failed, which
  frees its tenant's lock; its occurrence is still due (it was not settled), so the next tick
  queues it again, and the push resumes from its journal without writing anything twice.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import procrastinate
import psycopg
from procrastinate import exceptions as queue_errors
from procrastinate.jobs import Status

from meterbridge.jobs import tasks
from meterbridge.services.context import Context
from meterbridge.services.pulls import PullDue

log = logging.getLogger("meterbridge.jobs")
QUEUE = "meterbridge"


def conninfo(database_url: str) -> str:
    """A psycopg connection string from meterbridge's SQLAlchemy URL."""
    for prefix in ("postgresql+psycopg://", "postgresql+psycopg2://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql://" + database_url[len(prefix) :]
    return database_url


def cron_every(seconds: float) -> str:
    """A cron expression for "every ``seconds``" (under a minute: Procrastinate's seconds field)."""
    whole = max(1, round(seconds))
    if whole < 60:
        return f"* * * * * */{whole}"
    return f"*/{max(1, whole // 60)} * * * *"


def build_app(database_url: str, context: Callable[[], Context], *, tick_seconds: float, stalled_after: float) -> Any:
    """The Procrastinate app of meterbridge's tasks (``context``: the worker's Context, built once)."""
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(database_url)))

    @app.task(name="meterbridge.run_schedule", queue=QUEUE)
    async def run_schedule(schedule_id: int, slot: str) -> None:
        await tasks.run_schedule(context(), schedule_id, datetime.fromisoformat(slot))
        await tasks.deliver(context())

    @app.task(name="meterbridge.deliver", queue=QUEUE)
    async def deliver() -> None:
        await tasks.deliver(context())

    @app.task(name="meterbridge.run_pull", queue=QUEUE)
    async def run_pull(tenant: str, tenant_id: int, source_id: int, name: str, slot: str, retry: bool) -> None:
        due = PullDue(tenant, tenant_id, source_id, name, datetime.fromisoformat(slot), retry)
        await tasks.run_pull(context(), due)

    @app.periodic(cron=cron_every(tick_seconds), periodic_id="tick")
    @app.task(name="meterbridge.tick", queue=QUEUE, queueing_lock="meterbridge.tick")
    async def tick(timestamp: int) -> None:
        await fail_stalled(app, stalled_after)
        ctx = context()
        for pull in tasks.find_due_pulls(ctx):
            with contextlib.suppress(queue_errors.AlreadyEnqueued):
                key = f"pull:{pull.source_id}"
                await run_pull.configure(lock=key, queueing_lock=key).defer_async(
                    tenant=pull.tenant, tenant_id=pull.tenant_id, source_id=pull.source_id, name=pull.name,
                    slot=pull.slot.isoformat(), retry=pull.retry,
                )  # fmt: skip
        for due in tasks.find_due(ctx):
            with contextlib.suppress(queue_errors.AlreadyEnqueued):  # queued already, waiting for its tenant
                await run_schedule.configure(
                    lock=f"tenant:{due.tenant_id}", queueing_lock=f"schedule:{due.schedule_id}"
                ).defer_async(schedule_id=due.schedule_id, slot=due.slot.isoformat())
        with contextlib.suppress(queue_errors.AlreadyEnqueued):
            await deliver.configure(queueing_lock="meterbridge.deliver").defer_async()

    return app


async def fail_stalled(app: Any, stalled_after: float) -> int:
    """Jobs left "doing" by a dead worker: failed, so their locks are free again."""
    stalled = await app.job_manager.get_stalled_jobs(queue=QUEUE, seconds_since_heartbeat=stalled_after)
    count = 0
    for job in stalled:
        await app.job_manager.finish_job_by_id_async(job.id, status=Status.FAILED, delete_job=False)
        log.warning("job %s (%s) was left by a dead worker: failed, to be queued again", job.id, job.task_name)
        count += 1
    return count


def ensure_schema(app: Any, database_url: str) -> bool:
    """Create Procrastinate's tables unless they are there (workers starting at once take turns);
    True when this call created them."""
    with psycopg.connect(conninfo(database_url)) as connection:
        connection.execute("SELECT pg_advisory_xact_lock(7246102)")
        present = connection.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()
        if present and present[0]:
            return False
        connection.execute(app.schema_manager.get_schema())
        return True


async def run_worker(
    app: Any, *, concurrency: int, stalled_after: float, heartbeat: float, name: str | None = None
) -> None:
    async with app.open_async():
        await app.run_worker_async(
            queues=[QUEUE],
            concurrency=concurrency,
            name=name,
            update_heartbeat_interval=heartbeat,
            stalled_worker_timeout=stalled_after,
            install_signal_handlers=True,
        )
