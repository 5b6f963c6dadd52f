"""Token arithmetic for the pacing of one connection (pacing.py): time is passed in, nothing waits here."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

Monotonic = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

#: a token short by less than this is there (float rounding of a wait computed to the instant)
_EPSILON = 1e-9


class Bucket:
    """Tokens earned at ``rate`` a second up to ``capacity``; with ``growth`` (a fraction a
    second), the rate compounds from the moment it was set: ``rate · e^(growth·(t - since))``.

    Pure arithmetic over the monotonic times it is given: ``wait(now)`` says how long until a
    token is there, ``take(now)`` spends one. A bucket built with ``tokens=capacity`` starts full.
    """

    def __init__(self, rate: float, capacity: float, now: float, *, tokens: float = 0.0, growth: float = 0.0) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError("a bucket needs a positive rate and room for a token")
        self.rate = rate
        self.capacity = capacity
        self.growth = growth
        self.since = now
        self.tokens = min(capacity, tokens)
        self.updated = now

    def rate_at(self, now: float) -> float:
        return self.rate * math.exp(self.growth * (now - self.since)) if self.growth else self.rate

    def _earned(self, start: float, end: float) -> float:
        """Tokens earned from ``start`` to ``end`` (the integral of the rate)."""
        if not self.growth:
            return self.rate * (end - start)
        return (self.rate_at(end) - self.rate_at(start)) / self.growth

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + self._earned(self.updated, now))
            self.updated = now

    def wait(self, now: float) -> float:
        """Seconds from ``now`` until a token is there (0: one is)."""
        self._refill(now)
        short = 1.0 - self.tokens
        if short <= _EPSILON:
            return 0.0
        if not self.growth:
            return short / self.rate
        # rate_at(t) = rate_at(now) + growth · short, solved for t
        return math.log1p(self.growth * short / self.rate_at(now)) / self.growth

    def take(self, now: float) -> None:
        """Spend a token (the caller waited for it)."""
        self._refill(now)
        self.tokens = max(self.tokens, 1.0) - 1.0  # the rounding short of one is forgiven, not owed

    def empty(self, now: float) -> None:
        """No token now (the server said its own bucket is empty)."""
        self._refill(now)
        self.tokens = min(self.tokens, 0.0)
