"""Latency and faults, seeded so that the same sequence of requests meets the same faults.

A rule matches requests by method and by a glob on the API path (the part after
``apis/3.0/``, e.g. ``finance/agreements/*/additions``). Each matching request draws from one
``random.Random(seed)``: first its latency (``latency_ms`` plus up to ``jitter_ms``), then at
most one fault: an error status (500 by default; 429 carries Retry-After; before the request is
processed, or after it with ``error_after_processing``), a dropped connection (before or after
the request is processed) or a hang (held open for ``hang_seconds``, then dropped). ``limit``
caps how many requests a rule may fault.
"""

from __future__ import annotations

import fnmatch
import random
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Action = Literal["none", "error", "drop", "hang"]


@dataclass
class FaultRule:
    methods: list[str] = field(default_factory=list)  # empty: every method
    path: str = "*"
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    error_ratio: float = 0.0
    error_status: int = 500
    retry_after: int = 1
    drop_ratio: float = 0.0
    drop_after_processing: bool = False
    error_after_processing: bool = False  # the write is applied, then the error answered (the answer lost)
    hang_ratio: float = 0.0
    hang_seconds: float = 30.0
    limit: int | None = None
    faulted: int = 0

    def matches(self, method: str, api_path: str) -> bool:
        if self.methods and method.upper() not in {m.upper() for m in self.methods}:
            return False
        return fnmatch.fnmatchcase(api_path, self.path)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultRule:
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault rule field(s): {', '.join(sorted(unknown))}")
        rule = cls(**data)
        for ratio in ("error_ratio", "drop_ratio", "hang_ratio"):
            if not 0.0 <= getattr(rule, ratio) <= 1.0:
                raise ValueError(f"{ratio} must be between 0 and 1")
        if not 400 <= rule.error_status <= 599:
            raise ValueError("error_status must be an HTTP error status (400-599)")
        return rule


@dataclass(frozen=True)
class Decision:
    latency_s: float = 0.0
    action: Action = "none"
    status: int = 500
    retry_after: int = 1
    after_processing: bool = False
    hang_s: float = 0.0


class Faults:
    def __init__(self, seed: int = 0, rules: list[FaultRule] | None = None) -> None:
        self.seed = seed
        self.rules: list[FaultRule] = rules or []
        self._random = random.Random(seed)  # noqa: S311 - reproducible simulation, not security

    def configure(self, seed: int, rules: list[FaultRule]) -> None:
        self.seed = seed
        self.rules = rules
        self._random = random.Random(seed)  # noqa: S311

    def as_json(self) -> dict[str, Any]:
        return {"seed": self.seed, "rules": [asdict(rule) for rule in self.rules]}

    def decide(self, method: str, api_path: str) -> Decision:
        latency = 0.0
        for rule in self.rules:
            if not rule.matches(method, api_path):
                continue
            latency += rule.latency_ms / 1000.0
            if rule.jitter_ms:
                latency += self._random.uniform(0.0, rule.jitter_ms) / 1000.0
            if rule.limit is not None and rule.faulted >= rule.limit:
                continue
            draw = self._random.random()
            action: Action = "none"
            if draw < rule.error_ratio:
                action = "error"
            elif draw < rule.error_ratio + rule.drop_ratio:
                action = "drop"
            elif draw < rule.error_ratio + rule.drop_ratio + rule.hang_ratio:
                action = "hang"
            if action != "none":
                rule.faulted += 1
                return Decision(
                    latency_s=latency,
                    action=action,
                    status=rule.error_status,
                    retry_after=rule.retry_after,
                    after_processing=rule.error_after_processing if action == "error" else rule.drop_after_processing,
                    hang_s=rule.hang_seconds,
                )
        return Decision(latency_s=latency)
