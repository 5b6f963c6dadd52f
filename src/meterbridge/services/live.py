"""A push as it happens: its run id as soon as it has one, writes done of how many, and which
lines of which company landed or failed so far. The REST API and the console show it while the
push runs; the run record has the final word when it ends."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from meterbridge.services.results import Applied


@dataclass
class LiveRun:
    run_id: int | None = None
    done: int = 0
    total: int | None = None  # None until the plan is made
    applied: Applied = field(default_factory=Applied)
    started: asyncio.Event = field(default_factory=asyncio.Event)  # set when the run has its id
    finished: bool = False

    def start(self, run_id: int) -> None:
        self.run_id = run_id
        self.started.set()

    def progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total
