"""The embedded dispatcher: in the ``meterbridge serve`` process, every ``tick_seconds`` it runs
what is due (tenants concurrently, one run per tenant at a time) and delivers the messages due.
A process that was down runs a missed occurrence when it comes back, once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from meterbridge.jobs import tasks
from meterbridge.services.context import Context
from meterbridge.services.pulls import PullDue
from meterbridge.services.schedules import Due
from meterbridge.services.views import DeliveryReport, ImportView, ScheduleRunView

log = logging.getLogger("meterbridge.jobs")


@dataclass
class Tick:
    ran: list[ScheduleRunView] = field(default_factory=list)
    delivered: DeliveryReport = field(default_factory=DeliveryReport)
    pulled: list[ImportView] = field(default_factory=list)


class EmbeddedDispatcher:
    def __init__(
        self,
        ctx: Context,
        *,
        tick_seconds: float = 30.0,
        concurrency: int = 4,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.ctx = ctx
        self.tick_seconds = tick_seconds
        self._sleep = sleep
        self._slots = asyncio.Semaphore(concurrency)
        self._tenants: dict[int, asyncio.Lock] = {}
        self._task: asyncio.Task[None] | None = None

    async def once(self) -> Tick:
        """One pass: pull every due usage source, run every due occurrence, then deliver what is due."""
        pulls, due = tasks.find_due_pulls(self.ctx), tasks.find_due(self.ctx)
        # side by side: a slow source does not hold back a billing run
        work = await asyncio.gather(*(self._pull(p) for p in pulls), *(self._run(d) for d in due))
        pulled = [w for w in work[: len(pulls)] if isinstance(w, ImportView)]
        ran = [w for w in work[len(pulls) :] if isinstance(w, ScheduleRunView)]
        delivered = await tasks.deliver(self.ctx)
        return Tick(ran, delivered, pulled)

    async def _pull(self, due: PullDue) -> ImportView | None:
        async with self._slots:
            try:
                return await tasks.run_pull(self.ctx, due)
            except Exception:
                log.exception("pull %r stopped", due)
                return None

    async def _run(self, due: Due) -> ScheduleRunView | None:
        lock = self._tenants.setdefault(due.tenant_id, asyncio.Lock())
        async with self._slots, lock:
            try:
                return await tasks.run_schedule(self.ctx, due.schedule_id, due.slot)
            except Exception:
                log.exception("schedule %r stopped", due)
                return None

    async def run_forever(self) -> None:
        while True:
            try:
                await self.once()
            except Exception:
                log.exception("the scheduler's pass failed; trying again in %s s", self.tick_seconds)
            await self._sleep(self.tick_seconds)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run_forever(), name="meterbridge-scheduler")

    async def stop(self) -> None:
        """Stop (a push cut short is resumed by the next run, from its journal)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
