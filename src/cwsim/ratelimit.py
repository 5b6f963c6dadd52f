"""A token bucket per API member: ``limit`` requests a minute, refilled continuously."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Monotonic = Callable[[], float]


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class RateLimiter:
    per_minute: int
    clock: Monotonic = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def take(self, member: str) -> int | None:
        """Spend one token; None when allowed, else the whole seconds to wait (Retry-After)."""
        if self.per_minute <= 0:
            return None
        now = self.clock()
        rate = self.per_minute / 60.0
        bucket = self._buckets.get(member)
        if bucket is None:
            bucket = self._buckets[member] = _Bucket(tokens=float(self.per_minute), updated=now)
        bucket.tokens = min(float(self.per_minute), bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - bucket.tokens) / rate))

    def configure(self, per_minute: int) -> None:
        if per_minute != self.per_minute:
            self.per_minute = per_minute
            self._buckets.clear()
