"""Pushes started over HTTP run in the server's event loop: the request answers 202 with the run
as soon as the push holds the lease and has its run id (a held lease, a bad period or a missing
approval answer at once, as errors); the run resource shows the push's progress and the lines
that landed or failed while it runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from meterbridge.services.live import LiveRun
from meterbridge.web.metrics import Metrics

log = logging.getLogger("meterbridge.web")


class Background:
    def __init__(self, metrics: Metrics, monotonic: Callable[[], float]) -> None:
        self.live: dict[int, LiveRun] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._metrics = metrics
        self._monotonic = monotonic

    async def start(self, work: Callable[[LiveRun], Coroutine[Any, Any, Any]]) -> int:
        """Start ``work`` (a push given its LiveRun); its run id once it has one. An error raised
        before the run started is raised here."""
        live = LiveRun()
        began = self._monotonic()
        task = asyncio.create_task(work(live))
        started = asyncio.create_task(live.started.wait())
        await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
        if not live.started.is_set():
            started.cancel()
            task.result()  # raises what stopped it
            raise RuntimeError("the push ended without a run")
        assert live.run_id is not None
        run_id = live.run_id
        self.live[run_id] = live
        self._tasks.add(task)

        def finished(done: asyncio.Task[Any]) -> None:
            self._tasks.discard(done)
            live.finished = True
            self.live.pop(run_id, None)
            self._metrics.push_seconds.observe(self._monotonic() - began)
            if done.cancelled():
                self._metrics.pushes.labels("cancelled").inc()
                return
            error = done.exception()
            if error is not None:
                self._metrics.pushes.labels("failed").inc()
                log.warning("push run %s stopped: %s", run_id, error)
                return
            self._metrics.pushes.labels(str(getattr(done.result(), "status", "done"))).inc()

        task.add_done_callback(finished)
        return run_id

    async def stop(self) -> None:
        """At shutdown: cancel what still runs (a cancelled push is resumed by the next one)."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def drain(self) -> None:
        """Wait for every push started so far (tests, and a graceful stop)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
