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
* zero usage: ``zero`` sends quantity 0, ``cancel`` retires the addition so that the month is
  not billed (ownership.py), ``leave`` changes nothing; nothing is created for zero usage;
* what meterbridge owns stays owned (ownership.py): an owned addition whose line is gone
  (configuration deleted, replaced, disabled, re-keyed, product changed) is taken over by the line
  that now bills its product on its agreement, or retired so it bills no month it should not; a
  line that moves to another agreement retires its addition on the old one; a line never creates
  an addition beside one nobody owns of the same product, agreement and period (its company is
  held until that addition is adopted or acknowledged);
* every change's amounts are what ConnectWise will invoice for the period (amounts.py);
* a line to a ConnectWise catalog item that is missing or inactive is blocked before any write;
* a company is written whole or not at all: one blocked line holds back the company's writes;
* drift: an owned addition edited in ConnectWise after our last write is reported, then
  overwritten, kept (no change) or held for a person, by policy.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import Decimal

from meterbridge.domain.billing import LineKey
from meterbridge.domain.copies import evolve
from meterbridge.domain.periods import Period
from meterbridge.domain.plan.amounts import with_amounts
from meterbridge.domain.plan.changes import (
    HELD_BACK,
    KIND_ORDER,
    ActualAddition,
    AgreementView,
    Change,
    ChangeKind,
    Checksum,
    FieldChange,
    LastMonth,
    Plan,
    Target,
    billed,
    checksum,
)
from meterbridge.domain.plan.corrections import corrected_period
from meterbridge.domain.plan.dates import DatePolicies
from meterbridge.domain.plan.holding import hold_companies
from meterbridge.domain.plan.lines import Around, plan_line
from meterbridge.domain.plan.ownership import handovers, retire
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
    "LastMonth",
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
    invoiced_policy: InvoicedPolicy = InvoicedPolicy.ADJUST,
    drift_policy: DriftPolicy = DriftPolicy.HOLD,
    scope_customers: frozenset[str] | None = None,
    catalog_problems: Mapping[str, str] | None = None,
    held_customers: Mapping[str, str] | None = None,
    provisional: bool = False,
    agreements: Mapping[int, AgreementView] | None = None,
    catalog_prices: Mapping[str, Decimal] | None = None,
) -> Plan:
    """Compare what ConnectWise should hold with what it holds (only what meterbridge owns).

    ``scope_customers`` limits which owned additions without a desired line are cancelled (a
    push of some companies must not cancel the others' lines); None: every customer in
    ``targets`` and ``actual``. ``catalog_problems``: ConnectWise product identifier (casefolded)
    -> why ConnectWise would refuse a line to it. ``held_customers``: customer -> why none of its
    writes may go ahead (for example a configuration that cannot be billed). ``agreements``: the
    agreements the additions were read under (whether they prorate), beside the targets' own;
    ``catalog_prices``: identifier (casefolded) -> the price ConnectWise gives a create without one.
    Every change's amounts are the invoice model's (amounts.py), before and after it.
    """
    views = {**(agreements or {}), **{t.agreement.id: t.agreement for t in targets if t.agreement is not None}}
    handed = handovers(targets, actual)
    if handed:  # the line that now bills the product takes the addition over: no second one beside it
        actual = [evolve(a, owned_key=handed[a.id]) if a.id in handed else a for a in actual]
    unowned: dict[tuple[int, str], list[ActualAddition]] = defaultdict(list)
    for addition in actual:
        if addition.owned_key is None:
            unowned[(addition.agreement_id, addition.cw_product.casefold())].append(addition)
    desired = {t.line.key.prefix for t in targets}
    gone: dict[tuple[str, int, str], list[ActualAddition]] = defaultdict(list)
    for addition in actual:  # what the lines no longer desired billed: it counts for the lines billing now
        if addition.owned_key is not None and LineKey.split(addition.owned_key)[0] not in desired:
            gone[
                (LineKey.customer_of(addition.owned_key), addition.agreement_id, addition.cw_product.casefold())
            ].append(addition)
    around = Around(views, unowned, catalog_prices or {}, gone)
    policies = DatePolicies(bill_start_policy, invoiced_policy)
    changes = _plan_targets(period, targets, actual, policies, drift_policy, around)
    customers = scope_customers if scope_customers is not None else _customers_of(targets, actual)
    changes += _end_lines_gone(period, actual, {t.line.key.prefix for t in targets}, customers, views)
    changes = hold_companies(changes, catalog_problems or {}, held_customers or {})
    changes = with_amounts(changes, actual, views, period, catalog_prices or {})
    ordered = tuple(sorted(changes, key=lambda c: (c.key, KIND_ORDER[c.kind])))
    return Plan(period, ordered, checksum(ordered), provisional, handed)


def _plan_targets(
    period: Period,
    targets: Sequence[Target],
    actual: Sequence[ActualAddition],
    policies: DatePolicies,
    drift_policy: DriftPolicy,
    around: Around,
) -> list[Change]:
    """Each desired line against the additions of its line: the one for this period, per period
    key ("running", "2026-10", ...), and every addition the line ever had."""
    owned = for_period(actual, period)
    by_line: dict[str, dict[str, ActualAddition]] = defaultdict(dict)
    for owned_key, addition in owned.items():
        prefix, period_key = LineKey.split(owned_key)
        if corrected_period(period_key) is None:  # a correction is no period's addition (corrections.py)
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
        changes.extend(plan_line(target, period, owned, by_line[prefix], history[prefix], own, drift_policy, around))
    return changes


def _customers_of(targets: Sequence[Target], actual: Sequence[ActualAddition]) -> frozenset[str]:
    owners = {LineKey.customer_of(a.owned_key) for a in actual if a.owned_key}
    return frozenset({t.line.customer for t in targets} | owners)


def _end_lines_gone(
    period: Period,
    actual: Sequence[ActualAddition],
    planned: set[str],
    customers: frozenset[str],
    agreements: Mapping[int, AgreementView],
) -> list[Change]:
    """Retire the owned additions (of customers in scope) whose line is no longer desired and that
    no desired line took over (ownership.py): they bill no month from this period on."""
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
        changes.append(retire(owned_key, existing, period, agreements.get(existing.agreement_id), reason))
    return changes
