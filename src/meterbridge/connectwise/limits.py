"""Politeness shared by all requests of one connection: a token bucket and a concurrency limit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

Monotonic = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class TokenBucket:
    """``per_minute`` requests a minute, refilled continuously, starting full.

    ``acquire`` waits (with the injected sleep) until a token is free; waiters are served in
    arrival order, so one busy caller cannot starve the others.
    """

    def __init__(self, per_minute: int, *, clock: Monotonic = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self.per_minute = per_minute
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self.sleep = sleep
        self.tokens = self.capacity
        self.updated = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    async def acquire(self) -> float:
        """Take one token; returns the seconds waited."""
        waited = 0.0
        async with self._lock:
            self._refill()
            while self.tokens < 1.0:
                delay = (1.0 - self.tokens) / self.rate
                await self.sleep(delay)
                waited += delay
                self._refill()
            self.tokens -= 1.0
        return waited

    def drain(self) -> None:
        """ConnectWise said 429: assume the server's bucket is empty too."""
        self._refill()
        self.tokens = min(self.tokens, 0.0)
