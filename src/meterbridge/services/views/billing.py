"""Plans, changes with their explanations, runs and what a preview or push came to."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field

from meterbridge.domain.plan import Change, ChangeKind
from meterbridge.services.views.base import Exact, View, jsonable
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


class StepView(View):
    step: str
    detail: str
    value: str | None = None
    warning: bool = False


class FieldChangeView(View):
    field: str
    old: Any
    new: Any


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

    @classmethod
    def of(cls, change: Change, action: tuple[str, dict[str, str]] | None = None) -> ChangeView:
        return cls(
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
    error: str | None = None


class CompanyResult(View):
    status: CompanyStatus = CompanyStatus.OK
    writes: int = 0
    reasons: list[str] = Field(default_factory=list)
    landed: list[str] = Field(default_factory=list)  # line keys written
    failed: list[str] = Field(default_factory=list)  # line keys not written


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
    changes: list[ChangeView] | None = None

    def summary(self) -> dict[str, Any]:
        """What the run record keeps of it."""
        data: dict[str, Any] = self.model_dump(mode="json", exclude={"run", "kind", "period", "calls", "changes"})
        return data


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
