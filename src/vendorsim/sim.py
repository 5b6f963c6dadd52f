"""The simulator's state: token, accounts, samples in their stable order, queued faults, request log.

Everything here is plain Python, so tests may also set the state directly
(``sim.token = ...``, ``sim.replace(generate(5))``) instead of going through the admin API.
"""

from __future__ import annotations

import calendar
import random
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

UNITS = {"storage": "GB", "licenses": "count", "devices": "count"}
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Sample:
    """One measurement: storage is a Decimal with two decimals, licenses and devices an int."""

    account_id: str
    metric: str
    value: Decimal | int
    measured_at: datetime  # aware, UTC, whole seconds

    @property
    def unit(self) -> str:
        return UNITS[self.metric]

    def sort_key(self) -> tuple[datetime, str, str]:
        return (self.measured_at, self.account_id, self.metric)


@dataclass
class Dataset:
    accounts: dict[str, str] = field(default_factory=dict)  # id -> name
    samples: list[Sample] = field(default_factory=list)


@dataclass
class Fault:
    """Answer ``status`` (or sleep ``hang`` seconds first) for ``times`` requests to ``path``,
    after letting ``after`` of them through untouched."""

    status: int | None = None
    hang: float | None = None
    times: int = 1
    after: int = 0
    path: str = "/v1/usage"


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]
    status: int

    def as_json(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "query": self.query, "status": self.status}


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def account_id(number: int) -> str:
    return f"acc-{number:04d}"


def generate(
    accounts: int,
    month: str = "2026-10",
    days: int = 1,
    metrics: tuple[str, ...] = ("storage", "licenses"),
    seed: int = 1,
) -> Dataset:
    """A deterministic dataset: per account and metric, one sample a day at 23:00Z for the
    last ``days`` days of ``month`` (YYYY-MM). The same arguments give the same dataset."""
    try:
        year, month_number = (int(part) for part in month.split("-"))
        last_day = calendar.monthrange(year, month_number)[1]
    except (ValueError, calendar.IllegalMonthError):
        raise ValueError(f"month: expected YYYY-MM, not {month!r}") from None
    if accounts < 0:
        raise ValueError("accounts: must be zero or more")
    if not 1 <= days <= last_day:
        raise ValueError(f"days: must be from 1 to {last_day} for {month}")
    unknown = sorted(set(metrics) - set(UNITS))
    if unknown or not metrics:
        raise ValueError(f"metrics: choose from {', '.join(UNITS)} (got {', '.join(unknown) or 'none'})")
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not security
    dataset = Dataset()
    moments = [datetime(year, month_number, day, 23, tzinfo=UTC) for day in range(last_day - days + 1, last_day + 1)]
    for number in range(1, accounts + 1):
        ident = account_id(number)
        dataset.accounts[ident] = f"Account {number:04d} Ltd"
        for metric in metrics:
            # storage in cents of a GB (10 to 50,000 GB), growing by up to 50 GB a day;
            # licenses and devices 1 to 60, changing by one now and then
            level = rng.randint(1_000, 5_000_000) if metric == "storage" else rng.randint(1, 60)
            for moment in moments:
                value: Decimal | int = (Decimal(level) * CENT).quantize(CENT) if metric == "storage" else level
                if metric == "storage":
                    level += rng.randint(0, 5_000)
                elif rng.random() < 0.1:
                    level = max(1, level + rng.choice((-1, 1)))
                dataset.samples.append(Sample(ident, metric, value, moment))
    return dataset


class VendorSim:
    def __init__(self, token: str = "vendor-token", dataset: Dataset | None = None) -> None:  # noqa: S107 - a simulator's well-known token
        self.token = token
        self.accounts: dict[str, str] = {}
        self.samples: list[Sample] = []
        self.faults: list[Fault] = []
        self.requests: list[LoggedRequest] = []
        if dataset is not None:
            self.replace(dataset)

    def reset(self) -> None:
        """Empty dataset, no faults, cleared log (the token stays)."""
        self.replace(Dataset())
        self.faults.clear()
        self.requests.clear()

    def replace(self, dataset: Dataset) -> None:
        self.accounts = dict(dataset.accounts)
        self.samples = sorted(dataset.samples, key=Sample.sort_key)

    def add(self, samples: list[Sample], names: dict[str, str]) -> None:
        """Append samples; ``names`` sets (or changes) the names of their accounts."""
        missing = {s.account_id for s in samples} - set(names) - set(self.accounts)
        if missing:
            raise ValueError(f"no name for account(s) {', '.join(sorted(missing))}")
        self.accounts.update(names)
        self.samples.extend(samples)
        self.samples.sort(key=Sample.sort_key)  # stable: equal keys keep the order they came in

    def rename(self, ident: str, name: str) -> None:
        if ident not in self.accounts:
            raise KeyError(ident)
        self.accounts[ident] = name

    def delete(self, ident: str) -> int:
        """Remove the account and its samples; return how many samples went."""
        if ident not in self.accounts:
            raise KeyError(ident)
        del self.accounts[ident]
        before = len(self.samples)
        self.samples = [s for s in self.samples if s.account_id != ident]
        return before - len(self.samples)

    def select(self, since: datetime | None) -> list[Sample]:
        """The samples measured at or after ``since`` (all without it), in the stable order."""
        if since is None:
            return self.samples
        return self.samples[bisect_left(self.samples, since, key=lambda s: s.measured_at) :]

    def take_fault(self, path: str) -> Fault | None:
        """The fault this request meets, if any: the first queued fault for its path counts the
        request (first the ``after`` to let through, then the ``times`` to fault) and leaves the
        queue when it has faulted ``times`` requests."""
        fault = next((f for f in self.faults if f.path == path), None)
        if fault is None:
            return None
        if fault.after > 0:
            fault.after -= 1
            return None
        fault.times -= 1
        if fault.times <= 0:
            self.faults.remove(fault)
        return fault
