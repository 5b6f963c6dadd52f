"""What a preview or push comes to, per company and in money: never a total that hides a partial company.

Per company: ``ok`` (every write landed, or nothing to write), ``blocked`` (nothing written:
the reasons say what to fix), ``partial`` (some writes landed, some did not: both are listed,
and the next push completes it) or ``failed`` (none of its writes landed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from meterbridge.domain.money import ZERO
from meterbridge.domain.plan import Change, ChangeKind, Plan


@dataclass
class Applied:
    """The writes a push made, by customer: line keys that landed, and (line key, reason) that did not."""

    landed: dict[str, list[str]] = field(default_factory=dict)
    failed: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def land(self, customer: str, key: str) -> None:
        self.landed.setdefault(customer, []).append(key)

    def fail(self, customer: str, key: str, reason: str) -> None:
        self.failed.setdefault(customer, []).append((key, reason))


def _entry(companies: dict[str, dict[str, Any]], customer: str) -> dict[str, Any]:
    return companies.setdefault(customer, {"status": "ok", "writes": 0, "reasons": [], "landed": [], "failed": []})


def company_results(
    plan: Plan, problems: dict[str, list[str]], applied: Applied | None = None
) -> dict[str, dict[str, Any]]:
    """Per customer: status, writes planned, reasons, and after a push the lines that landed and those that did not."""
    companies: dict[str, dict[str, Any]] = {}
    for change in plan.changes:
        entry = _entry(companies, change.customer)
        if change.kind is ChangeKind.BLOCKED:
            entry["status"] = "blocked"
            entry["reasons"].append(f"{change.cw_product}: {change.reason}")
        elif change.is_write:
            entry["writes"] += 1
    for customer, reasons in problems.items():
        entry = _entry(companies, customer)
        entry["status"] = "blocked"
        entry["reasons"].extend(r for r in reasons if r not in entry["reasons"])
    if applied is not None:
        for customer, keys in applied.landed.items():
            _entry(companies, customer)["landed"] = keys
        for customer, failures in applied.failed.items():
            entry = _entry(companies, customer)
            entry["failed"] = [key for key, _ in failures]
            entry["reasons"].extend(reason for _, reason in failures)
            entry["status"] = "partial" if entry["landed"] else "failed"
    return dict(sorted(companies.items()))


def _after(change: Change) -> Decimal:
    if change.kind is ChangeKind.CANCEL:
        return ZERO
    if change.kind is ChangeKind.BLOCKED:
        return change.old_amount
    return change.new_amount


def totals(plan: Plan, companies: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Companies by status, writes by kind, and what the invoices charge before and after (billed amounts)."""
    by_status: dict[str, int] = {}
    for entry in companies.values():
        by_status[entry["status"]] = by_status.get(entry["status"], 0) + 1
    before = sum((c.old_amount for c in plan.changes), ZERO)
    after = sum((_after(c) for c in plan.changes), ZERO)
    return {
        "companies": dict(sorted(by_status.items())),
        "writes": {
            "planned": len(plan.writes),
            "landed": sum(len(e["landed"]) for e in companies.values()),
            "failed": sum(len(e["failed"]) for e in companies.values()),
        },
        "billed_before": before,
        "billed_after": after,
        "billed_change": after - before,
    }
