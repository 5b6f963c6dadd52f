"""The plan's guards: one bill per period across strategy switches and older periods, invoiced
periods, the catalog, whole companies, and a safety verdict on the same basis."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from tests.domain.test_plan_and_safety import AGREEMENT, OCTOBER, line, owned

from meterbridge.domain.billing import Strategy
from meterbridge.domain.periods import Period
from meterbridge.domain.plan import ChangeKind, InvoicedPolicy, Target, plan
from meterbridge.domain.safety import Verdict, judge

D = Decimal
SEPTEMBER, NOVEMBER = Period(2026, 9), Period(2026, 11)


def kinds(result: object) -> list[tuple[str, str]]:
    return [(c.kind.value, c.key) for c in result.changes]  # type: ignore[attr-defined]


# -- already-invoiced periods ----------------------------------------------------------------


def test_an_invoiced_period_moves_a_running_line_to_the_next_invoice_date_with_a_warning() -> None:
    invoiced = replace(AGREEMENT, next_invoice=date(2026, 11, 1))
    [create] = plan(OCTOBER, [Target(line(), invoiced)], []).changes
    assert create.kind is ChangeKind.CREATE and create.values["effectiveDate"] == date(2026, 11, 1)
    assert "moved from 2026-10-01 to the next invoice date 2026-11-01" in create.warnings[0]
    assert "Since this period has already been invoiced" in create.warnings[0]
    prorated = replace(invoiced, prorate=True)
    [as_usual] = plan(OCTOBER, [Target(line(), prorated)], []).changes
    assert as_usual.values["effectiveDate"] == date(2026, 10, 1) and not as_usual.warnings


def test_an_invoiced_period_blocks_by_policy_and_always_for_its_own_per_period_line() -> None:
    invoiced = replace(AGREEMENT, next_invoice=date(2026, 11, 1))
    [blocked] = plan(OCTOBER, [Target(line(), invoiced)], [], invoiced_policy=InvoicedPolicy.BLOCK).changes
    assert blocked.kind is ChangeKind.BLOCKED and "turn on Prorate Agreement" in blocked.reason
    per_line = replace(line(), invoiced_policy=InvoicedPolicy.BLOCK)  # the configuration's own policy wins
    assert plan(OCTOBER, [Target(per_line, invoiced)], []).changes[0].kind is ChangeKind.BLOCKED
    [dated] = plan(OCTOBER, [Target(line(strategy=Strategy.PER_PERIOD), invoiced)], []).changes
    assert dated.kind is ChangeKind.BLOCKED and "2026-10 is invoiced already" in dated.reason
    mid_month = replace(AGREEMENT, next_invoice=date(2026, 10, 15))
    [moved] = plan(OCTOBER, [Target(line(strategy=Strategy.PER_PERIOD), mid_month)], []).changes
    assert moved.values["effectiveDate"] == date(2026, 10, 15) and moved.values["cancelledDate"] == OCTOBER.last_day


def test_an_existing_addition_is_updated_whatever_was_invoiced() -> None:
    desired = line(quantity="120")
    invoiced = replace(AGREEMENT, next_invoice=date(2026, 11, 1))
    [update] = plan(OCTOBER, [Target(desired, invoiced)], [owned(line(), quantity=D(100))]).changes
    assert update.kind is ChangeKind.UPDATE


# -- switching strategy ------------------------------------------------------------------------


def test_running_to_per_period_keeps_a_billed_period_on_the_running_addition() -> None:
    running = owned(line(), 500, last_period=OCTOBER)
    per_period = line(strategy=Strategy.PER_PERIOD, quantity="130")
    again = plan(OCTOBER, [Target(per_period, AGREEMENT)], [running])
    [update] = again.changes
    assert (update.kind, update.addition_id, update.key) == (ChangeKind.UPDATE, 500, "acme/cfg/BACKUP-GB/running")
    assert "takes effect from 2026-11" in update.warnings[0]
    assert [f.field for f in update.fields] == ["quantity"], "it stays a running addition: no cancelledDate"
    november = plan(
        NOVEMBER, [Target(replace(per_period, key=replace(per_period.key, period="2026-11")), AGREEMENT)], [running]
    )
    assert kinds(november) == [
        ("create", "acme/cfg/BACKUP-GB/2026-11"),
        ("cancel", "acme/cfg/BACKUP-GB/running"),
    ]
    cancel = november.of_kind(ChangeKind.CANCEL)[0]
    assert cancel.fields[0].new == date(2026, 10, 31), "the running addition ends the day before the first dated one"


def test_a_running_addition_ended_for_later_months_stays_ended_when_its_month_is_corrected() -> None:
    ended = owned(line(), 500, last_period=OCTOBER, cancelled=date(2026, 10, 31))  # November is billed per period
    per_period = line(strategy=Strategy.PER_PERIOD, quantity="130")
    [update] = plan(OCTOBER, [Target(per_period, AGREEMENT)], [ended]).changes
    assert update.kind is ChangeKind.UPDATE and [f.field for f in update.fields] == ["quantity"]


def test_per_period_to_running_keeps_a_billed_period_on_its_dated_addition() -> None:
    dated = owned(line(strategy=Strategy.PER_PERIOD), 600)
    running = line(quantity="140")
    october = plan(OCTOBER, [Target(running, AGREEMENT)], [dated])
    [update] = october.changes
    assert (update.kind, update.addition_id) == (ChangeKind.UPDATE, 600)
    assert "switch to a running addition takes effect from 2026-11" in update.warnings[0]
    assert [f.field for f in update.fields] == ["quantity"], "it keeps its cancelledDate: the end of October"
    november = plan(NOVEMBER, [Target(running, AGREEMENT)], [dated])
    [create] = november.changes
    assert create.kind is ChangeKind.CREATE and create.values["effectiveDate"] == date(2026, 11, 1)


def test_a_running_line_never_starts_before_a_month_billed_on_its_own() -> None:
    november = line(strategy=Strategy.PER_PERIOD)
    november = replace(november, key=replace(november.key, period="2026-11"))
    dated = owned(november, 700, effective=date(2026, 11, 1), cancelled=date(2026, 11, 30))
    [refused] = plan(SEPTEMBER, [Target(line(), AGREEMENT)], [dated]).changes
    assert refused.kind is ChangeKind.BLOCKED and not refused.holds_company
    assert (
        "2026-11, a later period, already has its own addition 700: a running addition from 2026-09" in refused.reason
    )
    [starts] = plan(Period(2026, 12), [Target(line(), AGREEMENT)], [dated]).changes
    assert starts.kind is ChangeKind.CREATE and starts.values["effectiveDate"] == date(2026, 12, 1)


def test_a_running_addition_never_takes_an_older_period() -> None:
    running = owned(line(), 500, last_period=OCTOBER)
    older = plan(SEPTEMBER, [Target(line(quantity="0"), AGREEMENT)], [running])
    [refused] = older.changes
    assert refused.kind is ChangeKind.BLOCKED and "already bills 2026-10, a later period" in refused.reason
    assert not refused.holds_company
    # a per-period line of the same company is still corrected for September
    correction = line(strategy=Strategy.PER_PERIOD, product="M365")
    correction = replace(correction, key=replace(correction.key, period="2026-09"))
    both = plan(SEPTEMBER, [Target(line(quantity="0"), AGREEMENT), Target(correction, AGREEMENT)], [running])
    assert sorted(c.kind.value for c in both.changes) == ["blocked", "create"]
    gone = plan(SEPTEMBER, [], [running], scope_customers=frozenset({"acme"}))
    assert gone.writes == [], "an older period's plan never ends an addition that holds a later one"


# -- the catalog, whole companies, safety -------------------------------------------------------


def test_a_missing_catalog_item_blocks_its_line_and_holds_back_the_company() -> None:
    targets = [
        Target(line(product="GB-1"), AGREEMENT),
        Target(line(product="GB-2"), AGREEMENT),
        Target(line("globex", product="GB-2"), AGREEMENT),
    ]
    result = plan(OCTOBER, targets, [], catalog_problems={"gb-2": "no catalog item GB-2: run doctor --create"})
    by_key = {c.key: c for c in result.changes}
    assert by_key["acme/cfg/GB-2/running"].reason == "no catalog item GB-2: run doctor --create"
    held = by_key["acme/cfg/GB-1/running"]
    assert held.kind is ChangeKind.BLOCKED and held.reason.startswith("held back with the rest of the company")
    assert by_key["globex/cfg/GB-2/running"].kind is ChangeKind.BLOCKED
    assert result.writes == []
    other = plan(OCTOBER, targets[:1], [], held_customers={"acme": "configuration x cannot be billed"})
    assert other.changes[0].kind is ChangeKind.BLOCKED and "configuration x" in other.changes[0].reason


def test_a_plan_without_writes_is_never_held_and_quantity_only_compares_like_with_like() -> None:
    quantity_only = line(price=None, quantity="40")
    existing = owned(quantity_only, unit_price=D("12"), unit_cost=D("4"))  # ConnectWise's catalog price
    noop = plan(OCTOBER, [Target(quantity_only, AGREEMENT)], [existing])
    assert noop.writes == [] and judge(noop).verdict is Verdict.APPLY
    [change] = noop.changes
    assert change.old_amount == change.new_amount == D("480.00")
    more = plan(OCTOBER, [Target(replace(quantity_only, quantity=D(44)), AGREEMENT)], [existing])
    assert judge(more).total_change == D("0.1")  # 480 -> 528 at the catalog's price


def test_a_switch_of_strategy_is_judged_as_the_line_moving_not_as_a_drop_to_zero() -> None:
    running = owned(line(quantity="100"), 500, last_period=OCTOBER)
    dated = replace(line(strategy=Strategy.PER_PERIOD, quantity="110"), key=replace(line().key, period="2026-11"))
    switched = plan(NOVEMBER, [Target(dated, AGREEMENT)], [running])
    assert sorted(c.kind.value for c in switched.changes) == ["cancel", "create"]
    safety = judge(switched)
    assert safety.largest_drop == 0, "the line bills on: 100 -> 110"
    assert safety.total_change == D("0.1"), "12.00 -> 13.20 on the line that moved"
    lower = replace(dated, quantity=D(40))
    assert judge(plan(NOVEMBER, [Target(lower, AGREEMENT)], [running])).largest_drop == D("0.6")
    gone = plan(NOVEMBER, [], [running], scope_customers=frozenset({"acme"}))
    assert judge(gone).largest_drop == 1, "a cancel with nothing after it is a drop to zero"


def test_an_older_period_goes_on_the_addition_that_billed_it_not_on_a_new_one() -> None:
    """A found sequence: running from August (ended 30 September by a switch), October and November
    per period, running again from December. A correction of August must land on the August
    addition, whatever strategy the line has now; never a second addition for August."""
    august = Period(2026, 8)
    history = owned(line(), 500, effective=august.first_day, cancelled=date(2026, 9, 30), last_period=august)
    dated = [
        owned(
            replace(line(strategy=Strategy.PER_PERIOD), key=replace(line().key, period=str(month))),
            600 + month.month,
            effective=month.first_day,
            cancelled=month.last_day,
            last_period=month,
        )
        for month in (OCTOBER, NOVEMBER)
    ]
    december = owned(line(), 700, effective=date(2026, 12, 1), last_period=Period(2026, 12))
    actual = [history, *dated, december]
    august_dated = replace(
        line(strategy=Strategy.PER_PERIOD, quantity="135"), key=replace(line().key, period="2026-08")
    )
    for desired in (august_dated, line(quantity="135")):
        [change] = plan(august, [Target(desired, AGREEMENT)], actual).changes
        assert (change.kind, change.addition_id) == (ChangeKind.UPDATE, 500), change
        assert [f.field for f in change.fields] == ["quantity"], "it stays ended: the later months have their own"
    # a month before anything was billed: a dated line is created, a running one would overlap them all
    july = Period(2026, 7)
    july_dated = replace(line(strategy=Strategy.PER_PERIOD), key=replace(line().key, period="2026-07"))
    [create] = plan(july, [Target(july_dated, AGREEMENT)], actual).changes
    assert create.kind is ChangeKind.CREATE and create.values["cancelledDate"] == july.last_day
    [refused] = plan(july, [Target(line(), AGREEMENT)], actual).changes
    assert refused.kind is ChangeKind.BLOCKED and "a later period" in refused.reason


def test_a_running_addition_that_starts_after_the_period_is_never_given_it() -> None:
    later = owned(line(), 700, effective=date(2026, 12, 1))  # no period recorded (adopted by hand)
    [refused] = plan(OCTOBER, [Target(line(quantity="90"), AGREEMENT)], [later]).changes
    assert refused.kind is ChangeKind.BLOCKED and "bills from 2026-12-01" in refused.reason
