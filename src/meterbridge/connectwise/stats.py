"""Counters of calls, retries, 429s and latency per endpoint, for callers (a push reports them)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_ID_SEGMENT = re.compile(r"(?<=/)\d+(?=/|$)")


def endpoint_of(method: str, path: str) -> str:
    """``GET finance/agreements/12/additions`` -> ``GET finance/agreements/{id}/additions``."""
    return f"{method} {_ID_SEGMENT.sub('{id}', '/' + path.strip('/'))[1:]}"


@dataclass
class EndpointStats:
    calls: int = 0
    retries: int = 0
    rate_limited: int = 0
    failures: int = 0
    seconds: float = 0.0
    slowest: float = 0.0

    @property
    def mean_seconds(self) -> float:
        return self.seconds / self.calls if self.calls else 0.0


@dataclass
class CallStats:
    endpoints: dict[str, EndpointStats] = field(default_factory=dict)

    def _get(self, endpoint: str) -> EndpointStats:
        return self.endpoints.setdefault(endpoint, EndpointStats())

    def call(self, endpoint: str, seconds: float) -> None:
        stats = self._get(endpoint)
        stats.calls += 1
        stats.seconds += seconds
        stats.slowest = max(stats.slowest, seconds)

    def retry(self, endpoint: str, *, rate_limited: bool) -> None:
        stats = self._get(endpoint)
        stats.retries += 1
        if rate_limited:
            stats.rate_limited += 1

    def failure(self, endpoint: str) -> None:
        self._get(endpoint).failures += 1

    @property
    def calls(self) -> int:
        return sum(s.calls for s in self.endpoints.values())

    @property
    def retries(self) -> int:
        return sum(s.retries for s in self.endpoints.values())

    @property
    def rate_limited(self) -> int:
        return sum(s.rate_limited for s in self.endpoints.values())

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {
            name: {
                "calls": s.calls,
                "retries": s.retries,
                "rate_limited": s.rate_limited,
                "failures": s.failures,
                "mean_seconds": round(s.mean_seconds, 6),
                "slowest_seconds": round(s.slowest, 6),
            }
            for name, s in sorted(self.endpoints.items())
        }
