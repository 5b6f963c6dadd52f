"""Plans, changes with their explanations, runs and what a preview or push came to."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field

from meterbridge.domain.plan import Change, ChangeKind
from meterbridge.services.views.base import Exact, Message, View, jsonable
from meterbridge.services.views.schedules import NotificationView


class RunKind(StrEnum):
    PREVIEW = "preview"
    PUSH = "push"
    STATS = "stats"  # Backup Stats


class RunStatus(StrEnum):
    RUNNING = "running"
    PREVIEWED = "previewed"
    DONE = "done"  # every write landed
    PARTIAL = "partial"  # some companies failed or are blocked
    HELD = "held"  # over the safety thresholds: nothing written, waiting for approval
    REFUSED = "refused"  # the approved checksum is not this plan: nothing written
    FAILED = "failed"  # stopped (ConnectWise unreachable, lease lost)
    INTERRUPTED = "interrupted"  # its process died; a later push settled its journal


class CompanyStatus(StrEnum):
    OK = "ok"  # every write landed, or nothing to write
    BLOCKED = "blocked"  # nothing written: the reasons say what to fix
    PARTIAL = "partial"  # some writes landed, some did not: both listed; the next push completes it
    FAILED = "failed"  # none of its writes landed
    #: its writes landed, but the additions ConnectWise answered with invoice another amount than planned
    MISMATCH = "mismatch"
    #: nothing written: a line over a safety threshold (the reasons name it); approved by checksum
    HELD = "held"


class StepView(View):
    step: str
    detail: str
    value: str | None = None
    warning: bool = False


class FieldChangeView(View):
    field: str
    old: Any
    new: Any


class AdditionState(View):
    """An addition's billing fields as ConnectWise held them when the plan was made."""

    quantity: Exact
    unit_price: Exact | None = None
    unit_cost: Exact | None = None
    bill_customer: str = ""
    effective: date | None = None
    cancelled: date | None = None


class LastMonthView(View):
    """The latest month pushed for a line before the plan's (what the jump guard compares with)."""

    period: str
    quantity: Exact
    amount: Exact


class ChangeView(View):
    """One change of a plan, with every number's explanation (usage -> unit -> ... -> price)."""

    kind: ChangeKind
    key: str
    customer: str
    cw_product: str
    agreement_id: int | None = None
    addition_id: int | None = None
    values: dict[str, Any] = Field(default_factory=dict)
    fields: list[FieldChangeView] = Field(default_factory=list)
    reason: str = ""
    warnings: list[str] = Field(default_factory=list)
    drift: bool = False
    old_amount: Exact
    new_amount: Exact
    explanation: list[StepView] = Field(default_factory=list)
    digest: str = ""  # an approval of this write is recognised by it
    action: str | None = None  # a blocked line: the use case that fixes it (doctor.create, companies.link, ...)
    params: dict[str, str] = Field(default_factory=dict)
    #: the addition as ConnectWise held it when the plan was made (None: the line has none yet);
    #: with ``values`` or ``fields`` it is what the addition holds after the change (the billing export)
    held: AdditionState | None = None
    prorated: bool = False  # the agreement prorates: the amounts are for the days the addition is active
    invoiced: bool = False  # ConnectWise has invoiced the period: a write changes nothing it invoiced
    #: a blocked line: what it would bill for the period once written (it bills its old amount while blocked)
    would_bill: Exact | None = None
    #: a write: the latest month pushed for its line before this one (None: never pushed)
    last: LastMonthView | None = None

    @classmethod
    def of(
        cls, change: Change, action: tuple[str, dict[str, str]] | None = None, held: AdditionState | None = None
    ) -> ChangeView:
        return cls(
            held=held,
            prorated=change.prorated,
            invoiced=change.invoiced,
            action=action[0] if action else None,
            params=dict(action[1]) if action else {},
            kind=change.kind,
            key=change.key,
            customer=change.customer,
            cw_product=change.cw_product,
            agreement_id=change.agreement_id,
            addition_id=change.addition_id,
            values=jsonable(dict(change.values)),
            fields=[FieldChangeView(field=f.field, old=jsonable(f.old), new=jsonable(f.new)) for f in change.fields],
            reason=change.reason,
            warnings=list(change.warnings),
            drift=change.drift,
            old_amount=change.old_amount,
            new_amount=change.new_amount,
            explanation=[
                StepView(
                    step=s.name,
                    detail=s.detail,
                    value=None if s.value is None else str(s.value),
                    warning=s.warning,
                )
                for s in change.explanation.steps
            ],
            digest=change.digest(),
            would_bill=change.would_bill if change.kind is ChangeKind.BLOCKED else None,
            last=(
                LastMonthView(period=change.last.period, quantity=change.last.quantity, amount=change.last.amount)
                if change.last is not None and change.is_write
                else None
            ),
        )

    @property
    def is_write(self) -> bool:
        return self.kind in (ChangeKind.CREATE, ChangeKind.UPDATE, ChangeKind.CANCEL)

    def explanation_lines(self) -> list[str]:
        return [f"{'!' if s.warning else '-'} {s.step}: {s.detail}" for s in self.explanation]


class PlanItemView(ChangeView):
    """A change as a run stored it, with what the push did with it (read leniently: a run stored
    by an older meterbridge may lack a newer field)."""

    model_config = ConfigDict(extra="ignore")

    status: str | None = None  # done, failed, skipped; None for a preview
    error: Message | None = None


class CompanyResult(View):
    status: CompanyStatus = CompanyStatus.OK
    writes: int = 0
    reasons: list[str] = Field(default_factory=list)
    landed: list[str] = Field(default_factory=list)  # line keys written
    failed: list[str] = Field(default_factory=list)  # line keys not written
    name: str | None = None  # a held company: its name, for the messages that list it
    #: a held company: the checksum of its changes alone, which approves it (with its customer named)
    checksum: str | None = None


class WriteCounts(View):
    planned: int
    landed: int
    failed: int


class Totals(View):
    """Companies by status, writes, and what the invoices charge before and after (billed amounts)."""

    companies: dict[str, int]
    writes: WriteCounts
    billed_before: Exact
    billed_after: Exact
    billed_change: Exact


class ResumedView(View):
    found: int = 0  # creates of an earlier push that had landed: adopted, not created again
    not_applied: int = 0
    updates_landed: int = 0


class HeldView(View):
    """The companies a plan holds for approval (a line over a threshold each): how many, what their
    changes come to, and whether this push wrote them (approved by checksum)."""

    companies: int
    billed_change: Exact
    approved: bool = False


class PushOffView(View):
    """Customers whose push is off: nothing is planned or written for them."""

    count: int
    customers: list[str] = Field(default_factory=list)  # the first ten


class RunOutcome(View):
    """What a preview or push came to: per company, in money, and (when asked for) every change."""

    run: int
    kind: RunKind
    period: str
    calls: int
    status: RunStatus
    checksum: str
    verdict: str
    safety_reasons: list[str]
    provisional: bool  # the period is not over: a provisional bill of the usage so far
    counts: dict[str, int]
    totals: Totals
    companies: dict[str, CompanyResult]
    resumed: ResumedView = ResumedView()
    approval: str | None = None  # how a push's approval was recognised
    interrupted: list[int] = Field(default_factory=list)  # earlier pushes found dead and marked interrupted
    held: HeldView | None = None  # companies held for approval, each with its reasons (``companies``)
    push_off: PushOffView | None = None
    customers: list[str] | None = None  # a run of some customers (``--customer``): those
    changes: list[ChangeView] | None = None

    def summary(self) -> dict[str, Any]:
        """What the run record keeps of it."""
        data: dict[str, Any] = self.model_dump(mode="json", exclude={"run", "kind", "period", "calls", "changes"})
        return data


class JournalTally(View):
    """What a run's journal says it wrote: its landed writes by kind (create, update, cancel), the
    writes ConnectWise refused, and the intents left without a result (a process that died)."""

    landed: dict[str, int] = Field(default_factory=dict)
    failed: int = 0
    unsettled: int = 0

    @property
    def sent(self) -> int:
        """The writes that reached ConnectWise, at least (an unsettled one may have too)."""
        return sum(self.landed.values()) + self.failed


class RunView(View):
    id: int
    period: str
    kind: RunKind
    trigger: str  # manual or automatic
    started_by: str  # the actor: user:alice, token:billing-bot, schedule:monthly
    started_at: datetime
    finished_at: datetime | None
    status: RunStatus
    checksum: str | None
    verdict: str | None
    summary: dict[str, Any]
    calls: dict[str, Any]
    #: a push or Backup Stats run that has no totals (interrupted, failed, running): what its journal says it wrote
    journal: JournalTally | None = None


class RunDetail(RunView):
    items: list[PlanItemView]
    notifications: list[NotificationView] = Field(default_factory=list)  # what was sent about it


class ProgressView(View):
    done: int
    total: int | None  # None until the plan is made


class RunLive(RunView):
    """A run, and while its push runs, how far it got and what landed or failed so far."""

    progress: ProgressView | None = None
    notifications: list[NotificationView] = Field(default_factory=list)  # what was sent about it
    companies: dict[str, CompanyResult] = Field(default_factory=dict)


class ChangesPage(View):
    items: list[PlanItemView]
    total: int  # matching the filters, on every page
    offset: int
    limit: int
