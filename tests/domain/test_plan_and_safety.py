"""The plan: creates, updates, cancels, noops and blocks; checksum; safety; drift; properties."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support.depth import examples

from meterbridge.domain.billing import BillMode, DesiredLine, LineKey, Strategy, ZeroPolicy
from meterbridge.domain.periods import Period
from meterbridge.domain.plan import (
    ActualAddition,
    AgreementView,
    BillStartPolicy,
    ChangeKind,
    DriftPolicy,
    LastMonth,
    Plan,
    Target,
    plan,
)
from meterbridge.domain.safety import Thresholds, Verdict, judge

D = Decimal
OCTOBER = Period(2026, 10)
AGREEMENT = AgreementView(10, "Backup", bill_start=date(2026, 1, 1))


def line(
    customer: str = "acme",
    quantity: str = "100",
    price: str | None = "0.12",
    *,
    strategy: Strategy = Strategy.RUNNING,
    zero: ZeroPolicy = ZeroPolicy.ZERO,
    product: str = "BACKUP-GB",
    bill: BillMode = BillMode.BILLABLE,
    description: str | None = None,
) -> DesiredLine:
    period = "running" if strategy is Strategy.RUNNING else str(OCTOBER)
    return DesiredLine(
        key=LineKey(customer, "cfg", product, period),
        customer=customer,
        configuration="cfg",
        cw_product=product,
        quantity=D(quantity),
        unit_price=None if price is None else D(price),
        unit_cost=None if price is None else D("0.05"),
        bill_customer=bill,
        description=description,
        strategy=strategy,
        zero_policy=zero,
        amount=D(0),
    )


def owned(desired: DesiredLine, addition_id: int = 500, **overrides: Any) -> ActualAddition:
    values: dict[str, Any] = {
        "id": addition_id,
        "agreement_id": 10,
        "cw_product": desired.cw_product,
        "quantity": desired.quantity,
        "unit_price": desired.unit_price,
        "unit_cost": desired.unit_cost,
        "bill_customer": desired.bill_customer.value,
        "effective": date(2026, 9, 1),
        "cancelled": OCTOBER.last_day if desired.strategy is Strategy.PER_PERIOD else None,
        "description": desired.description,
        "owned_key": str(desired.key),
    }
    values.update(overrides)
    return ActualAddition(**values)


def only(result: Plan) -> Any:
    [change] = result.changes
    return change


def test_create_with_effective_date_and_values() -> None:
    change = only(plan(OCTOBER, [Target(line(), AGREEMENT)], []))
    assert change.kind is ChangeKind.CREATE
    assert change.values == {
        "agreementId": 10,
        "product": "BACKUP-GB",
        "quantity": D(100),
        "billCustomer": "Billable",
        "effectiveDate": date(2026, 10, 1),
        "unitPrice": D("0.12"),
        "unitCost": D("0.05"),
    }


def test_per_period_lines_run_from_first_to_last_day() -> None:
    change = only(plan(OCTOBER, [Target(line(strategy=Strategy.PER_PERIOD), AGREEMENT)], []))
    assert change.values["effectiveDate"] == date(2026, 10, 1)
    assert change.values["cancelledDate"] == date(2026, 10, 31)
    assert change.key == "acme/cfg/BACKUP-GB/2026-10"


def test_quantity_only_lines_send_no_prices() -> None:
    change = only(plan(OCTOBER, [Target(line(price=None), AGREEMENT)], []))
    assert "unitPrice" not in change.values
    assert "unitCost" not in change.values


def test_update_names_fields_old_to_new() -> None:
    desired = line(quantity="120")
    existing = owned(line(quantity="100"), description="old")
    change = only(plan(OCTOBER, [Target(desired, AGREEMENT)], [existing]))
    assert change.kind is ChangeKind.UPDATE
    assert [(f.field, f.old, f.new) for f in change.fields] == [("quantity", D(100), D(120))]
    assert change.addition_id == 500


def test_noop_when_nothing_differs_and_running_keeps_its_effective_date() -> None:
    desired = line()
    change = only(plan(OCTOBER, [Target(desired, AGREEMENT)], [owned(desired, effective=date(2026, 3, 1))]))
    assert change.kind is ChangeKind.NOOP


def test_additions_not_owned_are_never_touched_nor_billed_beside_unless_acknowledged() -> None:
    desired = line()
    theirs = replace(owned(desired, 777), owned_key=None, quantity=D(5))
    held = only(plan(OCTOBER, [Target(desired, AGREEMENT)], [theirs]))
    assert held.kind is ChangeKind.BLOCKED and held.holds_company
    assert "addition 777" in held.reason and "meterbridge does not own" in held.reason
    assert "configurations set acme cfg --beside 777" in held.reason
    assert "configurations set acme cfg --adopt 777" in held.reason
    beside = plan(OCTOBER, [Target(desired, AGREEMENT, beside=frozenset({777}))], [theirs])
    assert [c.kind for c in beside.changes] == [ChangeKind.CREATE]
    assert all(c.addition_id != 777 for c in beside.changes)
    # one that bills no month of the period, or is not billed at all, holds nothing
    ended = replace(theirs, cancelled=date(2026, 9, 30))
    not_billed = replace(theirs, bill_customer="DoNotBill")
    for other in (ended, not_billed, replace(theirs, cw_product="OTHER")):
        assert only(plan(OCTOBER, [Target(desired, AGREEMENT)], [other])).kind is ChangeKind.CREATE


def test_blocked_lines_say_why_in_connectwise_terms() -> None:
    cancelled = AgreementView(11, "Old", cancelled=True)
    ended = AgreementView(12, "Ended", end=date(2026, 9, 30))
    later = AgreementView(13, "Later", bill_start=date(2026, 11, 15))
    result = plan(
        OCTOBER,
        [
            Target(line("a"), None, "2 agreements match the rule (1, 2): pin one or make the rule narrower"),
            Target(line("b"), cancelled),
            Target(line("c"), ended),
            Target(line("d"), later),
            Target(line("e"), None),
        ],
        [],
    )
    reasons = [c.reason for c in result.changes]
    assert all(c.kind is ChangeKind.BLOCKED for c in result.changes)
    assert "pin one" in reasons[0]
    assert "ConnectWise refuses additions on a cancelled agreement" in reasons[1]
    assert "ended on 2026-09-30" in reasons[2]
    assert "effectiveDate cannot be less than the agreement billing start date" in reasons[3]
    assert reasons[4] == "no agreement"


def test_bill_start_after_period_start_clamps_with_warning_or_blocks() -> None:
    agreement = AgreementView(14, "Mid", bill_start=date(2026, 10, 15))
    clamped = only(plan(OCTOBER, [Target(line(), agreement)], []))
    assert clamped.values["effectiveDate"] == date(2026, 10, 15)
    assert clamped.warnings == ("effectiveDate moved from 2026-10-01 to the agreement's billStartDate 2026-10-15",)
    blocked = only(plan(OCTOBER, [Target(line(), agreement)], [], bill_start_policy=BillStartPolicy.BLOCK))
    assert blocked.kind is ChangeKind.BLOCKED
    assert "set the agreement's billing start date earlier" in blocked.reason


def test_zero_policies() -> None:
    for policy, kind in (
        (ZeroPolicy.ZERO, ChangeKind.UPDATE),
        (ZeroPolicy.CANCEL, ChangeKind.CANCEL),
        (ZeroPolicy.LEAVE, ChangeKind.NOOP),
    ):
        desired = line(quantity="0", zero=policy)
        change = only(plan(OCTOBER, [Target(desired, AGREEMENT)], [owned(line(quantity="40"))]))
        assert change.kind is kind, policy
        assert change.old_amount == D("4.80")
        if policy is ZeroPolicy.CANCEL:  # October not billed: cancelled on the last day of September
            assert change.fields[0].new == date(2026, 9, 30)
            assert change.new_amount == 0
        if policy is ZeroPolicy.LEAVE:  # it bills what it billed
            assert change.new_amount == D("4.80")
    # an addition whose first month is the zero month cannot be cancelled before it starts: quantity 0
    first_month = owned(line(quantity="40"), effective=date(2026, 10, 1))
    zeroed = only(plan(OCTOBER, [Target(line(quantity="0", zero=ZeroPolicy.CANCEL), AGREEMENT)], [first_month]))
    assert zeroed.kind is ChangeKind.UPDATE and [(f.field, f.new) for f in zeroed.fields] == [("quantity", 0)]
    assert (zeroed.old_amount, zeroed.new_amount) == (D("4.80"), 0)
    nothing = only(plan(OCTOBER, [Target(line(quantity="0"), AGREEMENT)], []))
    assert nothing.kind is ChangeKind.NOOP
    assert nothing.reason == "no usage: nothing to create"


def test_a_running_line_ended_earlier_starts_a_new_addition_when_usage_returns() -> None:
    ended = owned(line(quantity="40"), 600, cancelled=date(2026, 9, 30))
    result = plan(OCTOBER, [Target(line(quantity="55"), AGREEMENT)], [ended])
    change = only(result)
    assert change.kind is ChangeKind.CREATE
    assert change.values["effectiveDate"] == date(2026, 10, 1)
    same_period = owned(line(quantity="40"), 601, cancelled=date(2026, 10, 31))
    reopened = only(plan(OCTOBER, [Target(line(quantity="55"), AGREEMENT)], [ended, same_period]))
    assert reopened.kind is ChangeKind.UPDATE
    assert reopened.addition_id == 601
    assert ("cancelledDate", date(2026, 10, 31), None) in [(f.field, f.old, f.new) for f in reopened.fields]


def test_lines_that_disappear_are_cancelled_within_scope_only() -> None:
    gone = owned(line("acme", product="OLD"), 501)
    other_customer = owned(line("globex", product="OLD"), 502)
    other_period = owned(line("acme", strategy=Strategy.PER_PERIOD, product="OLD2"), 503)
    other_period = replace(other_period, owned_key="acme/cfg/OLD2/2026-09")
    result = plan(
        OCTOBER,
        [Target(line("acme"), AGREEMENT)],
        [gone, other_customer, other_period],
        scope_customers=frozenset({"acme"}),
    )
    cancels = result.of_kind(ChangeKind.CANCEL)
    assert [c.addition_id for c in cancels] == [501]
    assert cancels[0].fields[0].new == date(2026, 9, 30), "retired: it bills no month without its line"
    assert (cancels[0].old_amount, cancels[0].new_amount) == (D("12.00"), 0)
    # where ConnectWise has invoiced October already, what it invoiced stays: the addition ends with it
    invoiced = AgreementView(10, "Backup", bill_start=date(2026, 1, 1), next_invoice=date(2026, 11, 1))
    after_invoice = plan(OCTOBER, [Target(line("acme"), invoiced)], [gone], scope_customers=frozenset({"acme"}))
    [ended] = after_invoice.of_kind(ChangeKind.CANCEL)
    assert ended.fields[0].new == date(2026, 10, 31) and "invoiced" in ended.warnings[0]


def test_order_and_checksum_are_deterministic() -> None:
    targets = [Target(line(f"c{i}", quantity=str(i)), AGREEMENT) for i in range(1, 40)]
    actual = [owned(line(f"c{i}", quantity=str(i + 1)), 1000 + i) for i in range(1, 40, 3)]
    first = plan(OCTOBER, targets, actual)
    shuffled_targets, shuffled_actual = targets[:], actual[:]
    random.Random(4).shuffle(shuffled_targets)
    random.Random(5).shuffle(shuffled_actual)
    second = plan(OCTOBER, shuffled_targets, shuffled_actual)
    assert first.changes == second.changes
    assert first.checksum == second.checksum
    assert [c.key for c in first.changes] == sorted(c.key for c in first.changes)
    changed = plan(OCTOBER, [*targets[:-1], Target(line("c39", quantity="99"), AGREEMENT)], actual)
    assert changed.checksum != first.checksum


def test_drift_policies() -> None:
    written = datetime(2026, 11, 2, 9, tzinfo=UTC)
    edited = owned(
        line(quantity="100"), last_written=written, last_updated=datetime(2026, 11, 3, tzinfo=UTC), unit_price=D("0.10")
    )
    desired = line(quantity="100")
    overwrite = only(plan(OCTOBER, [Target(desired, AGREEMENT)], [edited], drift_policy=DriftPolicy.OVERWRITE))
    assert overwrite.kind is ChangeKind.UPDATE
    assert overwrite.drift
    assert "edited in ConnectWise on 2026-11-03" in overwrite.warnings[0]
    keep = only(plan(OCTOBER, [Target(desired, AGREEMENT)], [edited], drift_policy=DriftPolicy.KEEP_THEIRS))
    assert keep.kind is ChangeKind.NOOP
    assert "kept theirs" in keep.reason
    hold = plan(OCTOBER, [Target(desired, AGREEMENT)], [edited], drift_policy=DriftPolicy.HOLD)
    verdict = judge(hold, Thresholds(max_changed_fraction=None, max_total_change=None))
    assert verdict.verdict is Verdict.HOLD_SOME  # the company of the line edited by hand, not the plan
    drifted = "cfg BACKUP-GB: addition 500 was edited in ConnectWise since meterbridge wrote it (drift policy hold)"
    assert verdict.held == {"acme": (drifted,)}
    untouched = owned(line(), last_written=written, last_updated=written)
    assert not only(plan(OCTOBER, [Target(line(), AGREEMENT)], [untouched])).drift


def test_safety_thresholds() -> None:
    desired = [line(f"c{i}", quantity="100") for i in range(10)]
    actual = [owned(d, 100 + i) for i, d in enumerate(desired)]
    calm = plan(
        OCTOBER,
        [Target(replace(d, quantity=D(110)) if i == 0 else d, AGREEMENT) for i, d in enumerate(desired)],
        actual,
    )
    assert judge(calm).verdict is Verdict.APPLY  # 1 of 10 lines, +10 %
    busy = plan(
        OCTOBER,
        [Target(replace(d, quantity=D(110)), AGREEMENT) for d in desired[:3]]
        + [Target(d, AGREEMENT) for d in desired[3:]],
        actual,
    )
    assert judge(busy).reasons == ("3 of 10 existing lines change (30.0 %, more than 20.0 %)",)
    assert judge(busy).verdict is Verdict.HOLD and judge(busy).held == {}  # a run-wide threshold: the whole plan
    drop = plan(
        OCTOBER,
        [Target(replace(desired[0], quantity=D(50)), AGREEMENT, label="storage", unit="GB")]
        + [Target(d, AGREEMENT) for d in desired[1:]],
        actual,
    )
    dropped = judge(drop)
    assert dropped.verdict is Verdict.HOLD_SOME and dropped.ceiling == ()  # its company, not the plan
    assert dropped.held == {"c0": ("storage 100 GB -> 50 GB, a 50.0 % drop over max_quantity_drop 30 %",)}
    assert dropped.reasons == ("c0: storage 100 GB -> 50 GB, a 50.0 % drop over max_quantity_drop 30 %",)
    first_push = plan(OCTOBER, [Target(d, AGREEMENT) for d in desired], [])
    assert judge(first_push).verdict is Verdict.APPLY  # new lines are expected, not alarming


# -- properties ------------------------------------------------------------------------------


def apply(result: Plan, actual: list[ActualAddition]) -> list[ActualAddition]:
    """What ConnectWise holds after the plan's writes (what the push engine does, in memory)."""
    by_id = {a.id: a for a in actual}
    next_id = max(by_id, default=0) + 1
    for change in result.writes:
        if change.kind is ChangeKind.CREATE:
            v = change.values
            by_id[next_id] = ActualAddition(
                next_id,
                v["agreementId"],
                v["product"],
                v["quantity"],
                v.get("unitPrice"),
                v.get("unitCost"),
                v["billCustomer"],
                v["effectiveDate"],
                v.get("cancelledDate"),
                v.get("invoiceDescription"),
                change.key,
            )
            next_id += 1
        else:
            assert change.addition_id is not None
            updates = {
                {
                    "quantity": "quantity",
                    "unitPrice": "unit_price",
                    "unitCost": "unit_cost",
                    "billCustomer": "bill_customer",
                    "invoiceDescription": "description",
                    "cancelledDate": "cancelled",
                }[f.field]: f.new
                for f in change.fields
            }
            by_id[change.addition_id] = replace(by_id[change.addition_id], **updates)
    return list(by_id.values())


quantities = st.decimals(min_value=0, max_value=5000, places=2)
lines_strategy = st.builds(
    lambda customer, quantity, strategy, zero, product, priced: line(
        customer, str(quantity), "0.12" if priced else None, strategy=strategy, zero=zero, product=product
    ),
    st.sampled_from(["acme", "globex", "initech"]),
    quantities,
    st.sampled_from(list(Strategy)),
    st.sampled_from(list(ZeroPolicy)),
    st.sampled_from(["A", "B"]),
    st.booleans(),
)
agreements = st.sampled_from(
    [
        AGREEMENT,
        AgreementView(20, "Mid", bill_start=date(2026, 10, 20)),
        AgreementView(30, "Gone", cancelled=True),
        None,
    ]
)


@given(
    st.lists(st.tuples(lines_strategy, agreements), max_size=12, unique_by=lambda t: t[0].key.prefix),
    st.lists(st.tuples(lines_strategy, quantities), max_size=6, unique_by=lambda t: t[0].key.prefix),
)
@settings(max_examples=examples(300))
def test_planning_after_applying_gives_only_noops(
    wanted: list[tuple[DesiredLine, AgreementView | None]], before: list[tuple[DesiredLine, Decimal]]
) -> None:
    targets = [Target(desired, agreement, None if agreement else "no agreement") for desired, agreement in wanted]
    actual = [owned(desired, 100 + i, quantity=quantity) for i, (desired, quantity) in enumerate(before)]
    actual += [owned(desired, 300 + i, cancelled=date(2026, 8, 31)) for i, (desired, _) in enumerate(before[:2])]
    first = plan(OCTOBER, targets, actual)
    after = apply(first, actual)
    second = plan(OCTOBER, targets, after)
    assert {c.kind for c in second.changes} <= {ChangeKind.NOOP, ChangeKind.BLOCKED}, second.changes
    assert second.of_kind(ChangeKind.BLOCKED) == [replace(c) for c in first.of_kind(ChangeKind.BLOCKED)]


def test_the_jump_guard_weighs_a_line_against_the_latest_month_pushed_for_it() -> None:
    """A per-period line's new addition is compared with the month before (new lines count as no
    change for the run-wide thresholds, so only the jump guard sees a 13x month)."""
    september = line(quantity="120", strategy=Strategy.PER_PERIOD)
    pushed = owned(
        replace(september, key=replace(september.key, period="2026-09")),
        effective=date(2026, 9, 1),
        cancelled=date(2026, 9, 30),
        last_period=Period(2026, 9),
    )
    jumped = plan(
        OCTOBER, [Target(line(quantity="1560", strategy=Strategy.PER_PERIOD), AGREEMENT, label="storage", unit="GB")],
        [pushed],
    )  # fmt: skip
    [create] = jumped.writes
    assert (create.kind, create.last) == (ChangeKind.CREATE, LastMonth("2026-09", D(120), D("14.40"), D("0.12")))
    verdict = judge(jumped, Thresholds(max_jump_amount=D(150)))
    assert verdict.verdict is Verdict.HOLD_SOME
    assert verdict.held == {
        "acme": (
            "storage 120 GB ($14.40) in 2026-09 -> 1,560 GB ($187.20) in 2026-10: 13x up over max_jump_factor 5 and "
            "+$172.80 over max_jump_amount $150.00",
        )
    }
    assert judge(jumped, Thresholds(max_jump_factor=None, max_jump_amount=None)).verdict is Verdict.APPLY  # off
    assert judge(jumped, Thresholds(max_jump_factor=D(20))).verdict is Verdict.APPLY  # 13x, +$172.80: within both
    fell = plan(OCTOBER, [Target(line(quantity="20", strategy=Strategy.PER_PERIOD), AGREEMENT)], [pushed])
    # a per-period line's new month falls against the month before: the drop threshold weighs it (the
    # fall is said once: the jump guard's 6x down is the same fall)
    assert judge(fell).held == {
        "acme": ("cfg BACKUP-GB 120 in 2026-09 -> 20 in 2026-10, a 83.3 % drop over max_quantity_drop 30 %",)
    }
    unguarded = Thresholds(max_quantity_drop=None)
    assert judge(fell, unguarded).held == {
        "acme": ("cfg BACKUP-GB 120 ($14.40) in 2026-09 -> 20 ($2.40) in 2026-10: 6x down over max_jump_factor 5",)
    }
    first = plan(OCTOBER, [Target(line(quantity="1560", strategy=Strategy.PER_PERIOD), AGREEMENT)], [])
    assert only(first).last is None and judge(first).verdict is Verdict.APPLY  # nothing pushed before: no jump


def test_a_blocked_line_says_what_it_would_bill() -> None:
    unlinked = only(plan(OCTOBER, [Target(line(quantity="385"), None, "customer acme is not linked")], []))
    assert (unlinked.kind, unlinked.old_amount, unlinked.new_amount) == (ChangeKind.BLOCKED, D(0), D(0))
    assert unlinked.would_bill == D("46.20")  # 385 x 0.12
    quantity_only = only(plan(OCTOBER, [Target(line(quantity="3", price=None), None, "ambiguous")], [],
                              catalog_prices={"backup-gb": D(45)}))  # fmt: skip
    assert quantity_only.would_bill == D("135.00")  # ConnectWise's catalog price applies
