"""What a preview or push comes to, per company and in money: never a total that hides a partial company.

Per company: ``ok`` (every write landed, or nothing to write), ``blocked`` (nothing written:
the reasons say what to fix), ``partial`` (some writes landed, some did not: both are listed,
and the next push completes it) or ``failed`` (none of its writes landed).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from meterbridge.domain.money import ZERO, round_amount
from meterbridge.domain.plan import Change, ChangeKind, Checksum, Plan
from meterbridge.domain.safety import Safety, SafetyTally, Thresholds
from meterbridge.services.views import CompanyResult, CompanyStatus, Totals, WriteCounts


@dataclass
class Applied:
    """The writes a push made, by customer: line keys that landed, and (line key, reason) that did not."""

    landed: dict[str, list[str]] = field(default_factory=dict)
    failed: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    #: what the failed writes would have changed on the invoices (they bill what they billed before)
    unbilled: Decimal = ZERO

    def land(self, customer: str, key: str) -> None:
        self.landed.setdefault(customer, []).append(key)

    def fail(self, customer: str, key: str, reason: str, change: Change) -> None:
        self.failed.setdefault(customer, []).append((key, reason))
        self.unbilled += _after(change) - change.old_amount


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
    for customer, failures in applied.failed.items():
        result = companies.setdefault(customer, CompanyResult(reasons=[], landed=[], failed=[]))
        result.failed = [key for key, _ in failures]
        result.reasons.extend(reason for _, reason in failures)
        result.status = CompanyStatus.PARTIAL if result.landed else CompanyStatus.FAILED


def amount_after(kind: ChangeKind | str, old_amount: Decimal, new_amount: Decimal) -> Decimal:
    """What the invoice charges for a line once its change is applied: nothing after a cancel,
    the old amount while it is blocked, else the new amount."""
    if kind == ChangeKind.CANCEL:
        return ZERO
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

    provisional: bool = False
    changes: int = 0  # stored so far: the next chunk's first position
    writes: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    companies: dict[str, CompanyResult] = field(default_factory=dict)
    before: Decimal = ZERO
    after: Decimal = ZERO
    checksum: Checksum = field(default_factory=Checksum)
    safety: SafetyTally = field(default_factory=SafetyTally)

    def add(self, plan: Plan, problems: dict[str, list[str]]) -> None:
        self.provisional = plan.provisional
        self.changes += len(plan.changes)
        self.writes += len(plan.writes)
        self.counts.update(change.kind.value for change in plan.changes)
        self.companies.update(company_results(plan, problems))
        self.before += sum((c.old_amount for c in plan.changes), ZERO)
        self.after += sum((_after(c) for c in plan.changes), ZERO)
        self.checksum.add(plan.changes)
        self.safety.add(plan)

    def verdict(self, thresholds: Thresholds) -> Safety:
        return self.safety.judge(thresholds)

    def outcome(self, applied: Applied | None = None) -> tuple[dict[str, CompanyResult], dict[str, int], Totals]:
        """(companies by customer, changes by kind, totals): after a push, with what it applied."""
        companies = dict(sorted(self.companies.items()))
        after = self.after
        if applied is not None:  # on copies: the tally's own results stay the plan's
            companies = {customer: result.model_copy(deep=True) for customer, result in companies.items()}
            with_applied(companies, applied)
            after -= applied.unbilled
        counts = {kind.value: self.counts.get(kind.value, 0) for kind in ChangeKind}
        return companies, counts, totals(companies, self.writes, self.before, after)


def company_results_live(applied: Applied) -> dict[str, CompanyResult]:
    """Per company, the lines a running push has written so far, and those that failed."""
    companies: dict[str, CompanyResult] = {}
    for customer in sorted({*applied.landed, *applied.failed}):
        landed = list(applied.landed.get(customer, []))
        failures = applied.failed.get(customer, [])
        status = CompanyStatus.OK if not failures else CompanyStatus.PARTIAL if landed else CompanyStatus.FAILED
        companies[customer] = CompanyResult(
            status=status,
            writes=len(landed) + len(failures),
            reasons=[reason for _, reason in failures],
            landed=landed,
            failed=[key for key, _ in failures],
        )
    return companies
