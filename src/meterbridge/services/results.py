"""What a preview or push comes to, per company and in money: never a total that hides a partial company.

Per company: ``ok`` (every write landed, or nothing to write), ``blocked`` (nothing written:
the reasons say what to fix), ``partial`` (some writes landed, some did not: both are listed,
and the next push completes it) or ``failed`` (none of its writes landed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from meterbridge.domain.money import ZERO, round_amount
from meterbridge.domain.plan import Change, ChangeKind, Plan
from meterbridge.services.views import CompanyResult, CompanyStatus, Totals, WriteCounts


@dataclass
class Applied:
    """The writes a push made, by customer: line keys that landed, and (line key, reason) that did not."""

    landed: dict[str, list[str]] = field(default_factory=dict)
    failed: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def land(self, customer: str, key: str) -> None:
        self.landed.setdefault(customer, []).append(key)

    def fail(self, customer: str, key: str, reason: str) -> None:
        self.failed.setdefault(customer, []).append((key, reason))


def company_results(
    plan: Plan, problems: dict[str, list[str]], applied: Applied | None = None
) -> dict[str, CompanyResult]:
    """Per customer: status, writes planned, reasons, and after a push the lines that landed and those that did not."""
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
    if applied is not None:
        for customer, keys in applied.landed.items():
            entry(customer).landed = keys
        for customer, failures in applied.failed.items():
            result = entry(customer)
            result.failed = [key for key, _ in failures]
            result.reasons.extend(reason for _, reason in failures)
            result.status = CompanyStatus.PARTIAL if result.landed else CompanyStatus.FAILED
    return dict(sorted(companies.items()))


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


def totals(plan: Plan, companies: dict[str, CompanyResult]) -> Totals:
    """Companies by status, writes, and what the invoices charge before and after (billed amounts;
    after a push, a line whose write failed still bills what it billed before)."""
    by_status: dict[str, int] = {}
    for result in companies.values():
        by_status[result.status.value] = by_status.get(result.status.value, 0) + 1
    failed = {key for result in companies.values() for key in result.failed}  # a write that did not land
    before = round_amount(sum((c.old_amount for c in plan.changes), ZERO))  # money: always in cents
    after = round_amount(sum((c.old_amount if c.key in failed else _after(c) for c in plan.changes), ZERO))
    return Totals(
        companies=dict(sorted(by_status.items())),
        writes=WriteCounts(
            planned=len(plan.writes),
            landed=sum(len(r.landed) for r in companies.values()),
            failed=sum(len(r.failed) for r in companies.values()),
        ),
        billed_before=before,
        billed_after=after,
        billed_change=after - before,
    )


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
