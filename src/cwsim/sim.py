"""The simulator: state, records, faults, rate limiter and traffic, held together."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from cwsim.faults import Faults
from cwsim.ratelimit import Monotonic, RateLimiter
from cwsim.records import Records
from cwsim.state import Clock, SimSettings, SimState, system_clock
from cwsim.traffic import Traffic


@dataclass
class Simulator:
    state: SimState
    faults: Faults
    limiter: RateLimiter
    traffic: Traffic = field(default_factory=Traffic)

    @property
    def records(self) -> Records:
        return Records(self.state)

    @classmethod
    def create(
        cls,
        settings: SimSettings | None = None,
        *,
        clock: Clock = system_clock,
        monotonic: Monotonic = time.monotonic,
        seed: int = 0,
    ) -> Simulator:
        state = SimState(settings, clock)
        return cls(
            state=state,
            faults=Faults(seed),
            limiter=RateLimiter(state.settings.rate_limit_per_minute, monotonic),
        )

    def reset(self) -> None:
        self.state.reset()
        self.faults.configure(self.faults.seed, [])
        self.limiter.configure(self.state.settings.rate_limit_per_minute)
        self.traffic.clear()
