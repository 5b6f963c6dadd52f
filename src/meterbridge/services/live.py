"""A push as it happens: its run id as soon as it has one, writes done of how many, and which
lines of which company landed or failed so far. The REST API and the console show it while the
push runs; the run record has the final word when it ends.

``push_progress`` sums it up for a person: companies done of how many, writes done, and the
money the writes that landed have changed so far. What each write changes is read once from the
run's stored plan (the plan is stored before the first write), then every look is a count in
memory."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from meterbridge.domain.money import ZERO, round_amount
from meterbridge.services.context import Context
from meterbridge.services.errors import NotFound
from meterbridge.services.results import Applied, amount_after
from meterbridge.services.scope import tenant_row
from meterbridge.services.views.progress import PushProgress
from meterbridge.store.repos import runs

_WRITES = frozenset(runs.WRITE_KINDS)


@dataclass(frozen=True)
class PlannedWrites:
    """A stored plan's writes by company and line key: what each changes in money, in the plan's
    order (a line that moves to another agreement has two writes, a cancel and a create)."""

    before: Decimal  # what the plan's lines bill before it (all of them, not only its writes)
    changes: dict[tuple[str, str], list[Decimal]]  # (customer, line key) -> each write's change
    per_company: dict[str, int]  # customer -> writes planned

    @property
    def change(self) -> Decimal:
        return sum((sum(each, ZERO) for each in self.changes.values()), ZERO)

    def of(self, customer: str, keys: list[str]) -> Decimal:
        """What the writes of ``keys`` change (a key listed twice: its first two writes)."""
        seen: dict[str, int] = defaultdict(int)
        total = ZERO
        for key in keys:
            each = self.changes.get((customer, key), [])
            if seen[key] < len(each):
                total += each[seen[key]]
            seen[key] += 1
        return total


@dataclass
class LiveRun:
    run_id: int | None = None
    done: int = 0
    total: int | None = None  # None until the plan is made
    applied: Applied = field(default_factory=Applied)
    started: asyncio.Event = field(default_factory=asyncio.Event)  # set when the run has its id
    finished: bool = False
    planned: PlannedWrites | None = None  # read from the stored plan at the first look once it is made

    def start(self, run_id: int) -> None:
        self.run_id = run_id
        self.started.set()

    def progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total


def _planned_writes(ctx: Context, tenant: str, run_id: int) -> PlannedWrites:
    before = ZERO
    changes: dict[tuple[str, str], list[Decimal]] = defaultdict(list)
    per_company: dict[str, int] = defaultdict(int)
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        if runs.get(session, row.id, run_id) is None:
            raise NotFound(f"run {run_id} does not exist", hint="list the runs to see them", field="run")
        for payload in runs.payloads(session, run_id):
            old = Decimal(str(payload.get("old_amount", "0")))
            before += old
            kind = str(payload.get("kind"))
            if kind in _WRITES:
                customer = str(payload.get("customer"))
                after = amount_after(kind, old, Decimal(str(payload.get("new_amount", "0"))))
                changes[(customer, str(payload.get("key")))].append(after - old)
                per_company[customer] += 1
    return PlannedWrites(before, dict(changes), dict(per_company))


def push_progress(ctx: Context, tenant: str, run_id: int, live: LiveRun) -> PushProgress:
    """How far the running push ``live`` of run ``run_id`` got: companies, writes and money."""
    total = live.total
    if total is None:
        return PushProgress(run=run_id, planning=True)
    planned = live.planned
    if planned is None:
        planned = live.planned = _planned_writes(ctx, tenant, run_id)
    # the push adds to these on the event loop while this reads them: copies, each made at once
    landed = {customer: list(keys) for customer, keys in list(live.applied.landed.items())}
    failed = {customer: [key for key, _ in keys] for customer, keys in list(live.applied.failed.items())}
    unbilled = live.applied.unbilled
    landed_count = sum(len(keys) for keys in landed.values())
    failed_count = sum(len(keys) for keys in failed.values())
    finished = {*landed, *failed}
    done_companies = sum(
        1
        for customer in finished
        if len(landed.get(customer, ())) + len(failed.get(customer, ())) >= planned.per_company.get(customer, 0)
    )
    landed_change = sum((planned.of(customer, keys) for customer, keys in landed.items()), ZERO)
    failed_change = sum((planned.of(customer, keys) for customer, keys in failed.items()), ZERO)
    # unbilled: the failed writes' changes and the landed ones ConnectWise answered with another amount
    so_far = round_amount(landed_change - (unbilled - failed_change))
    before = round_amount(planned.before)
    return PushProgress(
        run=run_id,
        planning=False,
        writes_done=landed_count + failed_count,  # of the same look as the money, not live.done's
        writes_total=total,
        landed=landed_count,
        failed=failed_count,
        companies_done=done_companies,
        companies_total=len(planned.per_company),
        billed_before=before,
        change_planned=round_amount(planned.change),
        change_so_far=so_far,
        billed_so_far=before + so_far,
    )
