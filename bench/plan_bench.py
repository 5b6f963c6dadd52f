"""Billing core: lines per second and peak memory for pricing and planning 100,000 customers x 3 products.

Per customer: storage (GB, tiered, block size 100 GB on every third customer), server licenses and
workstation licenses, in two configurations (storage average; licenses total), and an owned
addition for about half of the lines with a different quantity (updates) or the same (noops).
Steps measured separately: pricing (configurations -> desired lines) and planning (lines +
actual additions -> plan with checksum), each followed by the process's peak resident memory
(getrusage; it only grows, so each figure includes the steps before it).

Baseline: building one plain dict per line from the same inputs; the ratios say how many times
that cost pricing and planning take. Floor: what a plan is made of, built from values worked out
already: per line one DesiredLine (with its explanation's steps), one Change, and the canonical
JSON the checksum hashes. No pricing or planning can cost less than its floor; the ratio of the
two together to it says how much of their time is the work itself (docs/decisions/0010).
Run: ``.venv/bin/python bench/plan_bench.py [--customers N]``.
"""

from __future__ import annotations

import argparse
import gc
import resource
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from meterbridge.domain.billing import (
    BillingConfiguration,
    DataMode,
    DesiredLine,
    Product,
    ProductKind,
    build_lines,
)
from meterbridge.domain.copies import evolve
from meterbridge.domain.explanation import Explanation, Step
from meterbridge.domain.periods import Period
from meterbridge.domain.plan import ActualAddition, AgreementView, Change, Checksum, Target, plan
from meterbridge.domain.pricing import Price, Tier
from meterbridge.domain.safety import judge
from meterbridge.domain.units import Unit

T = TypeVar("T")
D = Decimal
PERIOD = Period(2026, 10)
PRODUCTS = {
    "storage": Product("storage", "Cloud storage", ProductKind.STORAGE, Unit.GB, cw_product="BACKUP-GB"),
    "server": Product("server", "Server", ProductKind.LICENSE, Unit.COUNT, cw_product="BACKUP-SERVER"),
    "workstation": Product("workstation", "Workstation", ProductKind.LICENSE, Unit.COUNT, cw_product="BACKUP-WS"),
}
PRICES = {
    "storage": Price(tiers=(Tier(D(1000), D("0.10"), D("0.04")), Tier(None, D("0.08"), D("0.03"))), places=4),
    "server": Price(D(45), D(18)),
    "workstation": Price(D(12), D("4.5")),
}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def measure(label: str, work: Callable[[], T], count: int) -> tuple[T, float]:
    gc.collect()
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    print(
        f"{label:<34} {count:>8} lines  {seconds:8.2f} s  {count / seconds:10.0f} lines/s  "
        f"process peak RSS {peak_rss_mib():8.1f} MiB"
    )
    return result, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    args = parser.parse_args()
    customers = [f"cust{i:06d}" for i in range(args.customers)]
    usage = {
        c: {
            "storage": (D(137 * (i % 97) + i % 13) + D("0.25"), Explanation()),
            "server": (D(i % 5), Explanation()),
            "workstation": (D(i % 40), Explanation()),
        }
        for i, c in enumerate(customers)
    }
    configs = {
        c: (
            BillingConfiguration(f"{c}-storage", c, ("storage",), block_size=D(100) if i % 3 == 0 else None),
            BillingConfiguration(
                f"{c}-licenses", c, ("server", "workstation"), cw_product="BACKUP-LIC", data_mode=DataMode.TOTAL
            ),
        )
        for i, c in enumerate(customers)
    }
    lines_expected = args.customers * 2
    print(f"{args.customers} customers x 3 products in 2 configurations each = {lines_expected} lines, period {PERIOD}")
    print()

    def baseline() -> list[dict[str, Any]]:
        return [
            {"customer": c, "product": p, "quantity": q, "price": PRICES[p].unit_price}
            for c in customers
            for p, (q, _) in usage[c].items()
        ]

    _, baseline_seconds = measure("baseline: a dict per input", baseline, args.customers * 3)

    def pricing() -> list[DesiredLine]:
        out: list[DesiredLine] = []
        for c in customers:
            for config in configs[c]:
                out.extend(build_lines(config, PRODUCTS, usage[c], PRICES, {}, PERIOD))
        return out

    desired, pricing_seconds = measure("pricing: configurations -> lines", pricing, lines_expected)
    agreement = AgreementView(1, "Backup", bill_start=date(2026, 1, 1))
    actual = [
        ActualAddition(
            i,
            1,
            line.cw_product,
            line.quantity + (i % 4 == 0),
            line.unit_price,
            line.unit_cost,
            line.bill_customer.value,
            date(2026, 1, 1),
            None,
            None,
            str(line.key),
        )
        for i, line in enumerate(desired)
        if i % 2 == 0
    ]

    def planning() -> Any:
        return plan(PERIOD, [Target(line, agreement) for line in desired], actual)

    result, planning_seconds = measure("planning: lines + actual -> plan", planning, len(desired))
    by_key = {str(line.key): line for line in desired}
    made = [(by_key[change.key], vars(change)) for change in result.changes]

    def floor() -> str:
        whole = Checksum()
        for line, values in made:
            steps = tuple(Step(s.name, s.detail, s.value, s.warning) for s in line.explanation.steps)
            copied = evolve(line, explanation=Explanation(steps))
            whole.add([Change(**{**values, "explanation": copied.explanation})])
        return whole.hexdigest()

    summed, floor_seconds = measure("floor: the records of a plan", floor, len(desired))
    assert summed == result.checksum, "the floor builds the plan's own records"
    verdict = judge(result)
    both = pricing_seconds + planning_seconds
    print()
    print(f"plan: {result.counts()}, checksum {result.checksum[:16]}..., verdict {verdict.verdict.value}")
    lines = len(desired)
    print(f"pricing + planning: {lines / both:.0f} lines/s; the floor: {lines / floor_seconds:.0f} lines/s")
    print(f"ratio pricing to baseline:  {pricing_seconds / baseline_seconds:8.1f}")
    print(f"ratio planning to baseline: {planning_seconds / baseline_seconds:8.1f}")
    print(f"ratio pricing + planning to the floor: {both / floor_seconds:8.1f}")


if __name__ == "__main__":
    main()
