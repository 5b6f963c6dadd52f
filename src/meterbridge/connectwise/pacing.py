"""When a request of one connection may leave: limits set by the settings, and limits learnt from
ConnectWise's answers (AIMD: cut at once when it says "too many", grown back slowly).

One ``Pacer`` per client, shared by every request of it. A request leaves when, in turn (requests
are admitted in the order they asked, one at a time through these waits):

* fewer requests than the window are in flight (at most ``max_concurrency``);
* no pause is in force: a throttle's Retry-After pauses every request of the client, the
  request that got it and all the others, so no one retries into the limit on its own;
* the connection's own bucket (``rate_limit_per_minute``, starting full) has a token;
* once ConnectWise has throttled twice, the learnt rate's bucket has a token.

A throttle (429, or 503 with Retry-After) to a request sent after the last slowdown is a new
slowdown: the window halves (down to 1 in flight) and the rate is learnt anew. ConnectWise's
bucket is empty at each slowdown, so the calls it answered between two slowdowns, over the
time between them, is the rate it grants (measured from the oldest slowdown of the last minute).
A throttle to a request sent before the last slowdown is that slowdown seen again: only its
pause counts. Every other answer grows the window by 1/window (one request more per window of
answers), and the learnt rate grows 2 % a second, compounded, until ConnectWise throttles again
or it passes the connection's own limit (then it is forgotten).

No request gives up for being throttled while the client makes progress: a throttled request
fails (``RateLimited``) only when no request of this client has been answered (other than by a
throttle or a 5xx) for ``patience`` seconds, counted from its first request: a run-wide deadline,
not a count of retries.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass

from meterbridge.connectwise.limits import Bucket, Monotonic, Sleep

#: how fast a learnt rate grows back while ConnectWise does not throttle (a fraction a second)
GROWTH = 0.02
#: the learnt rate is measured over the slowdowns of this many seconds (the oldest in it to now)
HORIZON = 60.0


@dataclass(frozen=True)
class Pacing:
    """How a client is pacing itself now, and how it slowed down so far."""

    in_flight_limit: int
    max_in_flight: int
    learnt_per_minute: float | None  # what ConnectWise grants, as learnt; None: not limited by it
    slowdowns: int  # new throttles: each halved the window (and re-learnt the rate)
    throttled: int  # every throttled answer
    paused_seconds: float  # time no request could leave because of a Retry-After
    lowest_in_flight_limit: int
    lowest_per_minute: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}


class Pacer:
    def __init__(
        self,
        *,
        per_minute: int,
        max_in_flight: int,
        patience_seconds: float,
        clock: Monotonic,
        sleep: Sleep,
        growth: float = GROWTH,
        horizon: float = HORIZON,
    ) -> None:
        self.max_in_flight = max_in_flight
        self.patience = patience_seconds
        self._clock = clock
        self._sleep = sleep
        self._growth = growth
        self._horizon = horizon
        self._ceiling = per_minute / 60.0
        self._own = Bucket(self._ceiling, float(per_minute), clock(), tokens=float(per_minute))
        self._learnt: Bucket | None = None
        self._window = float(max_in_flight)
        self._in_flight = 0
        self._paused_until = float("-inf")
        self._admitted = 0  # requests let go so far: each request's ticket is its number among them
        self._cut_after = 0  # the ticket of the last request let go before the last slowdown
        self._answered = 0
        self._cuts: deque[tuple[float, int]] = deque(maxlen=64)  # (when, answered by then) per slowdown
        self._last_progress: float | None = None
        self._turn = asyncio.Lock()
        self._freed = asyncio.Event()
        self._throttled = 0
        self._paused = 0.0
        self._lowest_window = max_in_flight
        self._lowest_rate: float | None = None

    @property
    def in_flight_limit(self) -> int:
        return max(1, int(self._window))

    def state(self) -> Pacing:
        now = self._clock()
        learnt = self._learnt.rate_at(now) * 60 if self._learnt is not None else None
        return Pacing(
            self.in_flight_limit,
            self.max_in_flight,
            learnt,
            len(self._cuts),
            self._throttled,
            self._paused,
            self._lowest_window,
            self._lowest_rate * 60 if self._lowest_rate is not None else None,
        )

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[int]:
        """Wait for this request's turn, and hold a place among those in flight; yields its ticket
        (for ``throttled``)."""
        ticket = await self._admit()
        try:
            yield ticket
        finally:
            self._in_flight -= 1
            self._freed.set()

    async def _admit(self) -> int:
        async with self._turn:
            while True:
                now = self._clock()
                if self._last_progress is None:
                    self._last_progress = now  # the deadline counts from the first request
                if self._in_flight >= self.in_flight_limit:
                    self._freed.clear()
                    await self._freed.wait()
                    continue
                if self._learnt is not None and self._learnt.rate_at(now) >= self._ceiling:
                    self._learnt = None  # grown back to the connection's own limit
                paused = self._paused_until - now
                delay = max(
                    paused,
                    self._own.wait(now),
                    self._learnt.wait(now) if self._learnt is not None else 0.0,
                )
                if delay > 0:
                    self._paused += max(0.0, min(paused, delay))
                    await self._sleep(delay)
                    continue
                self._own.take(now)
                if self._learnt is not None:
                    self._learnt.take(now)
                self._in_flight += 1
                self._admitted += 1
                return self._admitted

    def answered(self, *, progress: bool) -> None:
        """An answer other than a throttle; ``progress``: one that counts against the deadline
        (not a 5xx)."""
        self._answered += 1
        self._window = min(float(self.max_in_flight), self._window + 1.0 / self._window)
        if progress:
            self._last_progress = self._clock()

    def throttled(self, ticket: int, wait: float) -> float | None:
        """A throttle to the request of ``ticket``, asking to wait ``wait`` seconds: every
        request pauses that long; a new one cuts the window and learns the rate. Returns the
        seconds without progress when the request should give up (the patience would be passed
        by the end of the wait), else None."""
        now = self._clock()
        self._throttled += 1
        self._paused_until = max(self._paused_until, now + wait)
        if ticket > self._cut_after:  # it left after the last slowdown: ConnectWise is full again
            self._slow_down(now)
        idle = now - (self._last_progress if self._last_progress is not None else now)
        return idle if idle + wait > self.patience else None

    def _slow_down(self, now: float) -> None:
        self._cut_after = self._admitted
        self._window = max(1.0, min(self._window, self._in_flight + 1.0) / 2)
        self._lowest_window = min(self._lowest_window, self.in_flight_limit)
        since = next(((t, n) for t, n in self._cuts if now - t <= self._horizon), None)
        if since is None and self._cuts:
            since = self._cuts[-1]
        if since is not None and now > since[0] and self._answered > since[1]:
            rate = min(self._ceiling, (self._answered - since[1]) / (now - since[0]))
            if self._learnt is not None:  # a slowdown at most halves it
                rate = max(rate, self._learnt.rate_at(now) / 2)
            self._learnt = Bucket(rate, 1.0, now, growth=self._growth)
            self._lowest_rate = rate if self._lowest_rate is None else min(self._lowest_rate, rate)
        elif self._learnt is not None:
            self._learnt.empty(now)  # nothing new to learn from: ConnectWise is empty now all the same
        self._cuts.append((now, self._answered))
