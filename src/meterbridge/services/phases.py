"""Where a run's time goes, phase by phase (read database, price, read ConnectWise, plan, store, write).

Measured with the context's monotonic clock; a phase timed twice adds up. A phase timed inside
another is that one's time no longer: the phases add up to the time measured, never count a
second twice. Benches print them; a run keeps them with the plan it built.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Phases:
    clock: Callable[[], float] = time.monotonic
    seconds: dict[str, float] = field(default_factory=dict)
    _inner: list[float] = field(default_factory=list)  # per open phase: the time of the phases inside it

    @contextmanager
    def timing(self, name: str) -> Iterator[None]:
        started = self.clock()
        self._inner.append(0.0)
        try:
            yield
        finally:
            elapsed = self.clock() - started
            self.add(name, elapsed - self._inner.pop())
            if self._inner:
                self._inner[-1] += elapsed

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
