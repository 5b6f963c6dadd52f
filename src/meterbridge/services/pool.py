"""A fixed number of workers over a queue of work: concurrency bounded by the connection's calls in
flight, memory bounded by the workers (not a task per item, however many items there are)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any


async def run_workers(count: int, worker: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """``count`` copies of ``worker`` at once (each takes items from a shared iterator or queue
    until it is empty); the first error stops them all and is raised as itself."""
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(max(1, count)):
                group.create_task(worker())
    except BaseExceptionGroup as errors:
        raise errors.exceptions[0] from None
