"""The plan: desired lines against actual additions -> ordered, explained, checksummed changes.

Pure and deterministic, in the manner of octoDNS: changes are values (create, update with the
fields that change old -> new, cancel, noop, blocked with a reason in ConnectWise's terms and
what to do), sorted by line key, summed up by a checksum an approval carries, and judged by a
safety verdict (safety.py).

Rules applied here:
* only additions meterbridge owns or adopted (``owned_key``) are ever changed or cancelled;
* effective dates: per-period lines run from the period's first day to its last
  (``cancelledDate``); a running line starts on the first day of the period it was created in.
  An effective date before the agreement's billStartDate is clamped to it with a warning, or
  blocked; one in a period ConnectWise has already invoiced on a non-prorated agreement
  (before ``nextInvoiceDate``) is moved to the next invoice date with a warning, or blocked
  (policies, per tenant and per configuration); an agreement cancelled, or ended before the
  period, blocks its lines;
* one bill per period (DESIGN.md guarantee 7): a period already billed by a line's addition of
  the other strategy stays on it (a switch of strategy takes effect from the next period); a
  running addition that holds a later period is never given an older one; a running addition
  replaced by per-period lines ends the day before the first of them;
* zero usage: ``zero`` sends quantity 0, ``cancel`` ends the addition on the period's last day,
  ``leave`` changes nothing; nothing is created for zero usage;
* an owned addition whose line is gone (configuration removed) is cancelled;
* a line to a ConnectWise catalog item that is missing or inactive is blocked before any write;
* a company is written whole or not at all: one blocked line holds back the company's writes;
* drift: an owned addition edited in ConnectWise after our last write is reported, then
  overwritten, kept (no change) or held for a person, by policy.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from meterbridge.domain.billing import LineKey
from meterbridge.domain.periods import Period
from meterbridge.domain.plan.changes import (
    HELD_BACK,
    KIND_ORDER,
    ActualAddition,
    AgreementView,
    Change,
    ChangeKind,
    Checksum,
    FieldChange,
    Plan,
    Target,
    billed,
    checksum,
)
from meterbridge.domain.plan.dates import DatePolicies
from meterbridge.domain.plan.holding import hold_companies
from meterbridge.domain.plan.lines import end_addition, plan_line
from meterbridge.domain.plan.selection import current_owned, for_period
from meterbridge.domain.policies import BillStartPolicy, DriftPolicy, InvoicedPolicy

__all__ = [
    "HELD_BACK",
    "ActualAddition",
    "AgreementView",
    "BillStartPolicy",
    "Change",
    "ChangeKind",
    "Checksum",
    "DriftPolicy",
    "FieldChange",
    "InvoicedPolicy",
    "Plan",
    "Target",
    "billed",
    "checksum",
    "plan",
]


def plan(
    period: Period,
    targets: Sequence[Target],
    actual: Sequence[ActualAddition],
    *,
    bill_start_policy: BillStartPolicy = BillStartPolicy.CLAMP,
    invoiced_policy: InvoicedPolicy = InvoicedPolicy.MOVE,
    drift_policy: DriftPolicy = DriftPolicy.HOLD,
    scope_customers: frozenset[str] | None = None,
    catalog_problems: Mapping[str, str] | None = None,
    held_customers: Mapping[str, str] | None = None,
    provisional: bool = False,
) -> Plan:
    """Compare what ConnectWise should hold with what it holds (only what meterbridge owns).

    ``scope_customers`` limits which owned additions without a desired line are cancelled (a
    push of some companies must not cancel the others' lines); None: every customer in
    ``targets`` and ``actual``. ``catalog_problems``: ConnectWise product identifier (casefolded)
    -> why ConnectWise would refuse a line to it. ``held_customers``: customer -> why none of its
    writes may go ahead (for example a configuration that cannot be billed).
    """
    changes = _plan_targets(period, targets, actual, DatePolicies(bill_start_policy, invoiced_policy), drift_policy)
    customers = scope_customers if scope_customers is not None else _customers_of(targets, actual)
    changes += _end_lines_gone(period, actual, {t.line.key.prefix for t in targets}, customers)
    changes = hold_companies(changes, catalog_problems or {}, held_customers or {})
    ordered = tuple(sorted(changes, key=lambda c: (c.key, KIND_ORDER[c.kind])))
    return Plan(period, ordered, checksum(ordered), provisional)


def _plan_targets(
    period: Period,
    targets: Sequence[Target],
    actual: Sequence[ActualAddition],
    policies: DatePolicies,
    drift_policy: DriftPolicy,
) -> list[Change]:
    """Each desired line against the additions of its line: the one for this period, per period
    key ("running", "2026-10", ...), and every addition the line ever had."""
    owned = for_period(actual, period)
    by_line: dict[str, dict[str, ActualAddition]] = defaultdict(dict)
    for owned_key, addition in owned.items():
        prefix, period_key = LineKey.split(owned_key)
        by_line[prefix][period_key] = addition
    history: dict[str, list[ActualAddition]] = defaultdict(list)
    for addition in actual:
        if addition.owned_key is not None:
            history[LineKey.split(addition.owned_key)[0]].append(addition)
    changes: list[Change] = []
    chosen: dict[tuple[BillStartPolicy, InvoicedPolicy], DatePolicies] = {}  # one per combination in use
    for target in targets:
        line = target.line
        wanted = (line.bill_start_policy or policies.bill_start, line.invoiced_policy or policies.invoiced)
        own = chosen.get(wanted) or chosen.setdefault(wanted, DatePolicies(*wanted))
        prefix = line.key.prefix
        changes.extend(plan_line(target, period, owned, by_line[prefix], history[prefix], own, drift_policy))
    return changes


def _customers_of(targets: Sequence[Target], actual: Sequence[ActualAddition]) -> frozenset[str]:
    owners = {LineKey.customer_of(a.owned_key) for a in actual if a.owned_key}
    return frozenset({t.line.customer for t in targets} | owners)


def _end_lines_gone(
    period: Period, actual: Sequence[ActualAddition], planned: set[str], customers: frozenset[str]
) -> list[Change]:
    """Cancel the owned additions (of customers in scope) whose line is no longer desired."""
    changes = []
    for owned_key, existing in current_owned(actual, period).items():
        prefix, period_key = LineKey.split(owned_key)
        if prefix in planned or LineKey.customer_of(owned_key) not in customers:
            continue
        if period_key not in ("running", str(period)):
            continue  # another period's line: not this plan's business
        if existing.effective is not None and existing.effective > period.last_day:
            continue  # it starts after this period
        if existing.last_period is not None and existing.last_period > period:
            continue  # it holds a later period: an older period's plan does not end it
        reason = "its billing configuration no longer produces this line"
        changes.append(end_addition(owned_key, existing, period.last_day, reason))
    return changes
