"""What the console shows beyond the API's views: the set-up checklist and the trends it charts."""

from __future__ import annotations

from pydantic import Field

from meterbridge.services.views.base import Exact, View
from meterbridge.services.views.billing import CompanyStatus, PlanItemView, RunView
from meterbridge.services.views.setup import CustomerView, SuggestionView


class ChecklistStep(View):
    key: str  # connection, companies, products, usage, links, configurations, preview
    title: str
    done: bool
    detail: str  # what is missing, or what is there


class Checklist(View):
    steps: list[ChecklistStep]

    @property
    def done(self) -> bool:
        return all(step.done for step in self.steps)


class MonthAmount(View):
    period: str
    amount: Exact


class Trend(View):
    """One series of a chart: an amount (or a quantity) per month, the oldest first."""

    name: str
    unit: str  # "$" (billed) or a product's unit
    points: list[MonthAmount] = Field(default_factory=list)


class CompanyBill(View):
    """One company in a preview or push: its status, what its invoice charges before and after,
    and (for the companies on the page) its lines with their explanations."""

    customer: str
    name: str
    status: CompanyStatus
    reasons: list[str] = Field(default_factory=list)
    checksum: str | None = None  # held for approval: the checksum approving it alone
    writes: int = 0
    drift: int = 0  # lines ConnectWise holds edited by hand
    billed_before: Exact
    billed_after: Exact
    billed_change: Exact
    lines: list[PlanItemView] = Field(default_factory=list)


class PlanReview(View):
    """A run's plan by company, a page of companies at a time (``matching``: after the filters)."""

    run: RunView
    companies: list[CompanyBill]
    matching: int
    offset: int
    limit: int
    by_status: dict[str, int]  # every company of the run, by status


class PeriodChoices(View):
    """The months a period picker offers, newest first: the current month (billed provisionally
    until it ends) and the twelve before it; ``default`` is the last month that has ended."""

    current: str
    default: str
    choices: list[str]


class CompanyRow(CustomerView):
    """A customer on the companies page: its link, the suggestions for linking it, how its last push went."""

    suggestions: list[SuggestionView] = Field(default_factory=list)
    last_push: str | None = None  # the company's status in the newest push (ok, blocked, partial, failed)
    last_push_run: int | None = None


class CompanyList(View):
    rows: list[CompanyRow]
    matching: int
    offset: int
    limit: int
    counts: dict[str, int]  # customers per filter: all, linked, unlinked, push-disabled, failed (suggested: when shown)
