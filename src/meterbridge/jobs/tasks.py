"""The task functions both dispatchers run: find what is due, run one occurrence (a schedule's
run, a usage source's pull), deliver messages. Each is safe to run twice or in several processes
at once (the occurrence is settled by compare and set, the push holds the tenant's lease, a
delivery attempt is claimed first)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from meterbridge.services import notify, pulls, schedules
from meterbridge.services.context import Context
from meterbridge.services.views import DeliveryReport, ImportView, ScheduleRunView

log = logging.getLogger("meterbridge.jobs")


def find_due(ctx: Context) -> list[schedules.Due]:
    return schedules.due(ctx)


async def run_schedule(ctx: Context, schedule_id: int, slot: datetime) -> ScheduleRunView:
    """Run one due occurrence, then deliver the messages it queued for its tenant."""
    ran = await schedules.run_due(ctx, schedule_id, slot)
    log.info("schedule %s for %s: %s (%s)", ran.schedule, ran.period, ran.status, ran.detail)
    return ran


async def deliver(ctx: Context) -> DeliveryReport:
    report = await notify.deliver_due(ctx)
    if report.sent or report.retrying or report.failed:
        log.info("notifications: %s sent, %s to retry, %s given up", report.sent, report.retrying, report.failed)
    return report


def find_due_pulls(ctx: Context) -> list[pulls.PullDue]:
    return pulls.due_pulls(ctx)


async def run_pull(ctx: Context, due: pulls.PullDue) -> ImportView | None:
    """Pull one due usage source (in a thread: a pull reads pages and writes the database)."""
    pulled = await asyncio.to_thread(pulls.run_due_pull, ctx, due)
    if pulled is not None:
        log.info("pull of %s for %s: %s, %s rows (%s)", due.name, due.tenant, pulled.status, pulled.rows,
                 pulled.message)  # fmt: skip
    return pulled
