"""Sign-in attempts are limited: after 5 failures in 15 minutes for one username, or from one
address, the next attempt is refused (429 with Retry-After) until the window has moved on."""

from __future__ import annotations

from collections import defaultdict, deque
from datetime import datetime, timedelta

from meterbridge.services.context import Clock
from meterbridge.services.errors import RateLimited


class SignInLimiter:
    def __init__(self, clock: Clock, *, attempts: int = 5, window: timedelta = timedelta(minutes=15)) -> None:
        self._clock = clock
        self._attempts = attempts
        self._window = window
        self._failures: dict[str, deque[datetime]] = defaultdict(deque)

    def _recent(self, key: str) -> deque[datetime]:
        failures = self._failures[key]
        horizon = self._clock() - self._window
        while failures and failures[0] <= horizon:
            failures.popleft()
        return failures

    def check(self, *keys: str) -> None:
        for key in keys:
            failures = self._recent(key)
            if len(failures) >= self._attempts:
                wait = (failures[0] + self._window - self._clock()).total_seconds()
                raise RateLimited(
                    f"too many failed sign-ins for {key.partition(':')[2] or key}",
                    hint="wait, then try again",
                    retry_after=max(1.0, wait),
                )

    def failed(self, *keys: str) -> None:
        now = self._clock()
        for key in keys:
            self._recent(key).append(now)

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)
