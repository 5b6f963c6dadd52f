"""What a preview or push comes to, per company and in money: never a total that hides a partial company.

Per company: ``ok`` (every write landed and ConnectWise's answers invoice what was planned, or
nothing to write), ``blocked`` (nothing written: the reasons say what to fix), ``partial`` (some
writes landed, some did not: both are listed, and the next push completes it), ``failed`` (none
of its writes landed) or ``mismatch`` (its writes landed, but the additions ConnectWise answered
with invoice another amount than planned: never shown as ok).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from meterbridge.domain.money import ZERO, round_amount
from meterbridge.domain.plan import Change, ChangeKind, Checksum, Plan
from meterbridge.domain.safety import Safety, SafetyTally, Thresholds
from meterbridge.services.views import CompanyResult, CompanyStatus, HeldView, PushOffView, Totals, WriteCounts

#: customers with push off named in a run's outcome; the rest are counted
PUSH_OFF_NAMED = 10


class Written(StrEnum):
    """What a push sent of its plan: nothing (held), the companies within their thresholds, or
    every company, the held ones approved by checksum."""

    NOTHING = "nothing"
    WITHIN = "within"
    ALL = "all"


@dataclass
class Applied:
    """The writes a push made, by customer: line keys that landed, and (line key, reason) that did not."""

    landed: dict[str, list[str]] = field(default_factory=dict)
    failed: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    #: landed writes whose addition, as ConnectWise answered it, invoices another amount than planned
    mismatched: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    #: what the plan's "after" counts that ConnectWise will not invoice: the failed writes' changes
    #: (they bill what they billed before) and the mismatched writes' differences
    unbilled: Decimal = ZERO

    def land(self, customer: str, key: str) -> None:
        self.landed.setdefault(customer, []).append(key)

    def fail(self, customer: str, key: str, reason: str, change: Change) -> None:
        self.failed.setdefault(customer, []).append((key, reason))
        self.unbilled += _after(change) - change.old_amount

    def differ(self, customer: str, key: str, reason: str, invoiced: Decimal, *, change: Change) -> None:
        """A landed write whose addition ConnectWise will invoice at ``invoiced``, not as planned."""
        self.mismatched.setdefault(customer, []).append((key, reason))
        self.unbilled += _after(change) - invoiced


def company_results(plan: Plan, problems: dict[str, list[str]]) -> dict[str, CompanyResult]:
    """Per customer: status, writes planned, reasons (``with_applied``: what a push did)."""
    companies: dict[str, CompanyResult] = {}

    def entry(customer: str) -> CompanyResult:
        return companies.setdefault(customer, CompanyResult(reasons=[], landed=[], failed=[]))

    for change in plan.changes:
        result = entry(change.customer)
        if change.kind is ChangeKind.BLOCKED:
            result.status = CompanyStatus.BLOCKED
            result.reasons.append(f"{change.cw_product}: {change.reason}")
        elif change.is_write:
            result.writes += 1
    for customer, reasons in problems.items():
        result = entry(customer)
        result.status = CompanyStatus.BLOCKED
        result.reasons.extend(r for r in reasons if r not in result.reasons)
    return dict(sorted(companies.items()))


def with_applied(companies: dict[str, CompanyResult], applied: Applied) -> None:
    """The companies' results after a push: the lines that landed, and those that did not."""
    for customer, keys in applied.landed.items():
        companies.setdefault(customer, CompanyResult(reasons=[], landed=[], failed=[])).landed = keys
    for customer, mismatches in applied.mismatched.items():
        result = companies.setdefault(customer, CompanyResult(reasons=[], landed=[], failed=[]))
        result.reasons.extend(reason for _, reason in mismatches)
        result.status = CompanyStatus.MISMATCH
    for customer, failures in applied.failed.items():
        result = companies.setdefault(customer, CompanyResult(reasons=[], landed=[], failed=[]))
        result.failed = [key for key, _ in failures]
        result.reasons.extend(reason for _, reason in failures)
        result.status = CompanyStatus.PARTIAL if result.landed else CompanyStatus.FAILED


def amount_after(kind: ChangeKind | str, old_amount: Decimal, new_amount: Decimal) -> Decimal:
    """What ConnectWise will invoice for a line's addition in the period once its change is
    applied: the invoice model's ``new_amount`` (a cancel on the period's last day still bills the
    period), and the old amount while it is blocked (nothing is written)."""
    if kind == ChangeKind.BLOCKED:
        return old_amount
    return new_amount


def _after(change: Change) -> Decimal:
    return amount_after(change.kind, change.old_amount, change.new_amount)


def totals(companies: dict[str, CompanyResult], planned: int, before: Decimal, after: Decimal) -> Totals:
    """Companies by status, writes, and what the invoices charge before and after (billed amounts;
    after a push, a line whose write failed still bills what it billed before)."""
    by_status: dict[str, int] = {}
    for result in companies.values():
        by_status[result.status.value] = by_status.get(result.status.value, 0) + 1
    before, after = round_amount(before), round_amount(after)  # money: always in cents
    return Totals(
        companies=dict(sorted(by_status.items())),
        writes=WriteCounts(
            planned=planned,
            landed=sum(len(r.landed) for r in companies.values()),
            failed=sum(len(r.failed) for r in companies.values()),
        ),
        billed_before=before,
        billed_after=after,
        billed_change=after - before,
    )


@dataclass
class Tally:
    """A plan made a chunk of companies at a time (``planning.plan_in_chunks``), summed as it
    goes: its changes counted, its companies' results, what the invoices charge before and
    after, its checksum and what its safety verdict weighs. Chunks come in the plan's order, so
    these are the whole plan's (the checksum an approval of the whole carries)."""

    thresholds: Thresholds = field(default_factory=Thresholds)
    provisional: bool = False
    changes: int = 0  # stored so far: the next chunk's first position
    writes: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    companies: dict[str, CompanyResult] = field(default_factory=dict)
    before: Decimal = ZERO
    after: Decimal = ZERO
    checksum: Checksum = field(default_factory=Checksum)
    safety: SafetyTally = field(init=False)
    held_change: Decimal = ZERO  # what the held companies' changes come to
    push_off: list[str] = field(default_factory=list)  # the first customers with push off
    push_off_count: int = 0

    def __post_init__(self) -> None:
        self.safety = SafetyTally(self.thresholds)

    def add(
        self,
        plan: Plan,
        problems: dict[str, list[str]],
        *,
        names: Mapping[str, str] | None = None,
        push_off: list[str] | None = None,
    ) -> set[str]:
        """Sum a chunk's plan and judge its companies; returns the customers it holds for approval
        (``names``: customer -> name, for the held ones; ``push_off``: the chunk's customers whose
        push is off)."""
        self.provisional = plan.provisional
        self.changes += len(plan.changes)
        self.writes += len(plan.writes)
        self.counts.update(change.kind.value for change in plan.changes)
        self.companies.update(company_results(plan, problems))
        self.before += sum((c.old_amount for c in plan.changes), ZERO)
        self.after += sum((_after(c) for c in plan.changes), ZERO)
        self.checksum.add(plan.changes)
        held = self.safety.add(plan)
        of_held: dict[str, list[Change]] = {customer: [] for customer in held}
        for change in plan.changes if held else ():
            if change.customer in of_held:
                of_held[change.customer].append(change)
        for customer, reasons in held.items():
            changes = of_held[customer]
            own = Checksum()
            own.add(changes)
            result = self.companies[customer]
            result.status, result.reasons = CompanyStatus.HELD, list(reasons)
            result.checksum, result.name = own.hexdigest(), (names or {}).get(customer)
            self.held_change += sum((_after(c) - c.old_amount for c in changes), ZERO)
        self.push_off_count += len(push_off or ())
        self.push_off.extend((push_off or [])[: PUSH_OFF_NAMED - len(self.push_off)])
        return set(held)

    def verdict(self) -> Safety:
        return self.safety.judge()

    def held(self, *, approved: bool = False) -> HeldView | None:
        if not self.safety.held:
            return None
        return HeldView(
            companies=len(self.safety.held), billed_change=round_amount(self.held_change), approved=approved
        )

    def off(self) -> PushOffView | None:
        return PushOffView(count=self.push_off_count, customers=self.push_off) if self.push_off_count else None

    def outcome(
        self, applied: Applied | None = None, written: Written | None = None
    ) -> tuple[dict[str, CompanyResult], dict[str, int], Totals]:
        """(companies by customer, changes by kind, totals): after a push, with what it applied
        (``written``: what it sent of the plan; a preview's totals, and a held push's, are the plan's)."""
        companies = dict(sorted(self.companies.items()))
        after = self.after  # a preview's, or a held push's: its plan's (what approving it bills)
        if written is Written.WITHIN:
            after -= self.held_change  # the held companies' lines bill what they billed
        if applied is not None:  # on copies: the tally's own results stay the plan's
            companies = {customer: result.model_copy(deep=True) for customer, result in companies.items()}
            if written is Written.ALL:
                for customer in self.safety.held:
                    _approved(companies[customer])
            with_applied(companies, applied)
            after -= applied.unbilled
        counts = {kind.value: self.counts.get(kind.value, 0) for kind in ChangeKind}
        return companies, counts, totals(companies, self.writes, self.before, after)


def _approved(result: CompanyResult) -> None:
    """A held company a push wrote, approved by checksum: ok (until its writes say otherwise), its
    reasons kept as what was approved."""
    result.status = CompanyStatus.OK
    result.reasons = [f"approved by checksum: {reason}" for reason in result.reasons]


def company_results_live(applied: Applied) -> dict[str, CompanyResult]:
    """Per company, the lines a running push has written so far, and those that failed."""
    companies: dict[str, CompanyResult] = {}
    for customer in sorted({*applied.landed, *applied.failed}):
        landed = list(applied.landed.get(customer, []))
        failures = applied.failed.get(customer, [])
        mismatches = applied.mismatched.get(customer, [])
        status = CompanyStatus.MISMATCH if mismatches else CompanyStatus.OK
        if failures:
            status = CompanyStatus.PARTIAL if landed else CompanyStatus.FAILED
        companies[customer] = CompanyResult(
            status=status,
            writes=len(landed) + len(failures),
            reasons=[reason for _, reason in (*mismatches, *failures)],
            landed=landed,
            failed=[key for key, _ in failures],
        )
    return companies
