"""The plan's guards: one bill per period across strategy switches and older periods, invoiced
periods, the catalog, whole companies, and a safety verdict on the same basis."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from tests.domain.test_plan_and_safety import AGREEMENT, OCTOBER, line, owned

from meterbridge.domain.billing import Strategy
from meterbridge.domain.periods import Period
from meterbridge.domain.plan import ActualAddition, ChangeKind, InvoicedPolicy, Target, plan
from meterbridge.domain.safety import Verdict, judge

D = Decimal
SEPTEMBER, NOVEMBER = Period(2026, 9), Period(2026, 11)


def kinds(result: object) -> list[tuple[str, str]]:
    return [(c.kind.value, c.key) for c in result.changes]  # type: ignore[attr-defined]


# -- already-invoiced periods ----------------------------------------------------------------


def test_an_invoiced_period_moves_a_running_line_to_the_next_invoice_date_and_bills_the_month_as_a_correction() -> None:
    invoiced = replace(AGREEMENT, next_invoice=date(2026, 11, 1))
    correction, create = plan(OCTOBER, [Target(line(), invoiced)], []).changes  # in line-key order
    assert create.kind is ChangeKind.CREATE and create.values["effectiveDate"] == date(2026, 11, 1)
    assert "moved from 2026-10-01 to the next invoice date 2026-11-01" in create.warnings[0]
    assert "Since this period has already been invoiced" in create.warnings[0]
    assert create.new_amount == 0, "October is invoiced: the new addition bills none of it"
    assert correction.key == "acme/cfg/BACKUP-GB/2026-10+2026-11" and correction.kind is ChangeKind.CREATE
    values = correction.values
    assert (values["quantity"], values["unitPrice"]) == (1, D("12.00"))  # 100 x 0.12, billed in November
    assert (values["effectiveDate"], values["cancelledDate"]) == (date(2026, 11, 1), date(2026, 11, 30))
    assert values["invoiceDescription"].startswith("Correction for 2026-10: +12.00")
    assert correction.new_amount == D("12.00")
    # a prorated agreement takes the date but never invoices October again: the same
    prorated = replace(invoiced, prorate=True)
    assert [c.key for c in plan(OCTOBER, [Target(line(), prorated)], []).changes] == [correction.key, create.key]
    # invoiced_policy move, as before corrections: the date moved only (on a prorated agreement, kept)
    [moved] = plan(OCTOBER, [Target(line(), invoiced)], [], invoiced_policy=InvoicedPolicy.MOVE).changes
    assert moved.values["effectiveDate"] == date(2026, 11, 1)
    [as_usual] = plan(OCTOBER, [Target(line(), prorated)], [], invoiced_policy=InvoicedPolicy.MOVE).changes
    assert as_usual.values["effectiveDate"] == date(2026, 10, 1) and not as_usual.warnings


def test_an_invoiced_period_blocks_by_policy_and_bills_its_own_per_period_line_as_a_correction() -> None:
    invoiced = replace(AGREEMENT, next_invoice=date(2026, 11, 1))
    [blocked] = plan(OCTOBER, [Target(line(), invoiced)], [], invoiced_policy=InvoicedPolicy.BLOCK).changes
    assert blocked.kind is ChangeKind.BLOCKED and "turn on Prorate Agreement" in blocked.reason
    per_line = replace(line(), invoiced_policy=InvoicedPolicy.BLOCK)  # the configuration's own policy wins
    assert plan(OCTOBER, [Target(per_line, invoiced)], []).changes[0].kind is ChangeKind.BLOCKED
    [correction] = plan(OCTOBER, [Target(line(strategy=Strategy.PER_PERIOD), invoiced)], []).changes
    assert correction.key.endswith("/2026-10+2026-11") and correction.values["unitPrice"] == D("12.00")
    moved_only = plan(
        OCTOBER, [Target(line(strategy=Strategy.PER_PERIOD), invoiced)], [], invoiced_policy=InvoicedPolicy.MOVE
    )
    [dated] = moved_only.changes
    assert dated.kind is ChangeKind.BLOCKED and "2026-10 is invoiced already" in dated.reason
    mid_month = replace(AGREEMENT, next_invoice=date(2026, 10, 15))
    [moved] = plan(OCTOBER, [Target(line(strategy=Strategy.PER_PERIOD), mid_month)], []).changes
    assert moved.values["effectiveDate"] == date(2026, 10, 15) and moved.values["cancelledDate"] == OCTOBER.last_day


def test_an_invoiced_month_is_never_edited_in_place_but_by_policy() -> None:
    desired = line(quantity="120")
    invoiced = replace(AGREEMENT, next_invoice=date(2026, 11, 1))
    billed = owned(line(), quantity=D(100))
    correction, kept = plan(OCTOBER, [Target(desired, invoiced)], [billed]).changes  # in line-key order
    assert kept.kind is ChangeKind.NOOP and "stays as ConnectWise invoiced it" in kept.reason
    assert (kept.old_amount, kept.new_amount) == (D("12.00"), D("12.00"))
    assert correction.kind is ChangeKind.CREATE and correction.values["unitPrice"] == D("2.40")  # 20 x 0.12
    assert correction.new_amount == D("2.40")
    # the correction, once made, counts: the month is not corrected twice
    made = ActualAddition(
        900, 10, "BACKUP-GB", D(1), D("2.40"), D(0), "Billable", date(2026, 11, 1), date(2026, 11, 30),
        owned_key=correction.key,
    )  # fmt: skip
    again = plan(OCTOBER, [Target(desired, invoiced)], [billed, made]).changes
    assert [c.kind for c in again] == [ChangeKind.NOOP, ChangeKind.NOOP] and "nothing to correct" in again[0].reason
    # more usage still: November's correction, not invoiced yet, takes the further difference
    more = plan(OCTOBER, [Target(line(quantity="130"), invoiced)], [billed, made]).changes
    assert (more[0].kind, more[0].addition_id) == (ChangeKind.UPDATE, 900)
    assert (more[0].fields[0].field, more[0].fields[0].new) == ("unitPrice", D("3.60"))
    [allowed] = plan(OCTOBER, [Target(desired, invoiced)], [billed], invoiced_policy=InvoicedPolicy.ALLOW).changes
    assert allowed.kind is ChangeKind.UPDATE and "not invoiced (invoiced_policy allow)" in allowed.warnings[-1]
    assert allowed.new_amount == allowed.old_amount, "ConnectWise will not invoice the edit"
    [held] = plan(OCTOBER, [Target(desired, invoiced)], [billed], invoiced_policy=InvoicedPolicy.BLOCK).changes
    assert held.kind is ChangeKind.BLOCKED and "invoiced_policy adjust" in held.reason


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


def test_a_switch_to_per_period_in_invoiced_months_ends_the_running_addition_after_the_last_of_them() -> None:
    """Found by the sequence test: a running addition billed August to November (invoiced up to 1
    December) ended on 31 August by a switch made for September; the next plan read September as
    never billed and took back its correction, and so on, push after push."""
    running = owned(line(), 500, effective=date(2026, 8, 1), last_period=Period(2026, 8))
    invoiced = replace(AGREEMENT, next_invoice=date(2026, 12, 1))
    september = Period(2026, 9)
    dated = replace(line(strategy=Strategy.PER_PERIOD, quantity="0"), key=replace(line().key, period="2026-09"))
    switched = plan(september, [Target(dated, invoiced)], [running])
    [cancel] = switched.of_kind(ChangeKind.CANCEL)
    assert cancel.fields[0].new == date(2026, 11, 30), "the day before December's own addition, not 31 August"
    assert cancel.reason == "replaced by one addition per period from 2026-12"
    [correction] = switched.of_kind(ChangeKind.CREATE)
    assert correction.key.endswith("/2026-09+2026-12") and correction.new_amount == D("-12.00")  # 100 x 0.12
    ended = replace(running, cancelled=date(2026, 11, 30))
    made = ActualAddition(
        900, 10, "BACKUP-GB", D(1), D("-12.00"), None, "Billable", date(2026, 12, 1), date(2026, 12, 31),
        owned_key=correction.key,
    )  # fmt: skip
    again = plan(september, [Target(dated, invoiced)], [ended, made])
    assert {c.kind for c in again.changes} == {ChangeKind.NOOP}, "September stays corrected once"


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


# -- a configuration replaced -----------------------------------------------------------------


def test_a_replaced_configuration_takes_its_history_as_a_switch_of_strategy_would() -> None:
    """Deleted and made again under another key, now running: the new line takes every addition
    of the old one, each under the period it had, so October stays on its dated addition (no
    second addition beside it) and a correction of September counts for September."""
    old = line(strategy=Strategy.PER_PERIOD)
    september = owned(
        replace(old, key=replace(old.key, period="2026-09")),
        600,
        effective=date(2026, 9, 1),
        cancelled=date(2026, 9, 30),
    )
    october = owned(old, 601, effective=date(2026, 10, 1))
    correction = replace(september, id=602, owned_key="acme/cfg/BACKUP-GB/2026-09+2026-10", quantity=D(1))
    new = line(quantity="140")
    new = replace(new, key=replace(new.key, configuration="cfg2"))
    result = plan(OCTOBER, [Target(new, AGREEMENT)], [september, october, correction])
    assert result.handovers == {
        600: "acme/cfg2/BACKUP-GB/2026-09",
        601: "acme/cfg2/BACKUP-GB/2026-10",
        602: "acme/cfg2/BACKUP-GB/2026-09+2026-10",
    }
    [update] = result.changes
    assert (update.kind, update.addition_id, update.key) == (ChangeKind.UPDATE, 601, "acme/cfg2/BACKUP-GB/2026-10")
    assert [f.field for f in update.fields] == ["quantity"] and "takes effect from 2026-11" in update.warnings[0]
    assert (update.old_amount, update.new_amount) == (D("12.00"), D("16.80")), "October billed once, at 140"
    # once pushed, the additions are the new line's: November starts its running addition
    taken = [replace(a, owned_key=result.handovers[a.id]) for a in (september, october, correction)]
    [create] = plan(NOVEMBER, [Target(new, AGREEMENT)], taken).changes
    assert create.kind is ChangeKind.CREATE and create.values["effectiveDate"] == date(2026, 11, 1)


def test_a_replaced_line_takes_every_running_addition_of_the_old_one() -> None:
    """Found by the sequence test: a running line ended in October and started again in December
    has two "running" additions; replaced by a per-period line, the new line took the first (the
    history) only, retired the one billing December (quantity 0, its first month) and created a
    dated one beside it: two additions on December."""
    old = line()
    ended = owned(old, 700, effective=date(2026, 8, 1), cancelled=date(2026, 10, 31), last_period=Period(2026, 10))
    again = owned(old, 701, effective=date(2026, 12, 1), last_period=Period(2026, 12))
    new = line(strategy=Strategy.PER_PERIOD, quantity="120")
    new = replace(new, key=replace(new.key, configuration="cfg3", period="2026-12"))
    result = plan(Period(2026, 12), [Target(new, AGREEMENT)], [ended, again])
    assert result.handovers == {700: "acme/cfg3/BACKUP-GB/running", 701: "acme/cfg3/BACKUP-GB/running"}
    [update] = result.changes  # December stays on the running addition billing it: no second one
    assert (update.kind, update.addition_id) == (ChangeKind.UPDATE, 701)
    assert "takes effect from 2027-01" in update.warnings[0]


def test_an_addition_retired_in_an_invoiced_month_ends_with_the_last_month_connectwise_invoiced() -> None:
    """Found by the sequence test: a running addition whose configuration was deleted, retired for
    August while ConnectWise had invoiced up to November, ended on 31 August; a line billing the
    product again read September as never billed and billed all of it as a correction."""
    running = owned(line(), 800, effective=date(2026, 8, 1), last_period=Period(2026, 8))
    invoiced = replace(AGREEMENT, next_invoice=date(2026, 12, 1))
    gone = plan(Period(2026, 8), [], [running], scope_customers=frozenset({"acme"}), agreements={10: invoiced})
    [cancel] = gone.changes
    assert (cancel.kind, cancel.fields[0].new) == (ChangeKind.CANCEL, date(2026, 11, 30))
    assert cancel.reason.endswith("ended with 2026-11, the last month ConnectWise has invoiced")


def test_an_ended_running_addition_is_not_reopened_over_months_connectwise_invoiced_without_it() -> None:
    """Found by the sequence test: a running addition ended on 31 August, its line configured
    again while September to November were invoiced; a push of August reopened it (cancelledDate
    none), and October's plan read October as billed by it and corrected it short."""
    ended = owned(line(), 810, effective=date(2026, 8, 1), cancelled=date(2026, 8, 31), last_period=Period(2026, 8))
    invoiced = replace(AGREEMENT, next_invoice=date(2026, 12, 1))
    august = plan(Period(2026, 8), [Target(line(), invoiced)], [ended])
    assert [c.kind for c in august.changes] == [ChangeKind.NOOP], "August stays as invoiced, and it stays ended"
    open_ = plan(Period(2026, 8), [Target(line(), AGREEMENT)], [ended])  # nothing invoiced after August
    [reopened] = open_.changes
    assert reopened.kind is ChangeKind.UPDATE and reopened.fields[0].field == "cancelledDate"


def test_an_addition_the_new_line_cannot_take_is_retired() -> None:
    """Two configurations billed the same product on the same agreement (one knowingly beside the
    other); one is deleted: the running line keeps its own addition and retires the other's from
    the month planned (cancelled at the end of the month before), so no month is billed twice."""
    mine = owned(line(), 500, effective=date(2026, 9, 1))
    gone = line()
    gone = replace(gone, key=replace(gone.key, configuration="old"))
    theirs = owned(gone, 501, effective=date(2026, 9, 1))
    result = plan(OCTOBER, [Target(line(), AGREEMENT)], [mine, theirs])
    assert result.handovers == {}
    retired = next(c for c in result.changes if c.addition_id == 501)
    assert retired.kind is ChangeKind.CANCEL and retired.fields[0].new == date(2026, 9, 30)
    assert (retired.old_amount, retired.new_amount) == (D("12.00"), D("0.00"))
