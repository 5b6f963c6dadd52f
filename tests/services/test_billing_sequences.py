"""Random sequences of what users do (configure, switch strategy, import, re-import, correct and
withdraw usage, try an overlapping configuration, push month after month as most users do, and
preview and push any period in any order), against cwsim, on SQLite and PostgreSQL. After every
push ConnectWise bills each (customer, product, month) at most once, and the month pushed
exactly as the rules say."""

from __future__ import annotations

import asyncio
import io
import itertools
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx2
import pytest
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from tests.support.actors import ACTOR
from tests.support.cli_world import company_scenario
from tests.support.clocks import FakeClock
from tests.support.contract import ContractLog, ContractMiddleware

from cwsim.app import create_app
from cwsim.scenario import load_scenario
from cwsim.sim import Simulator
from cwsim.state import SimSettings
from meterbridge.domain.periods import Period
from meterbridge.domain.plan import ChangeKind
from meterbridge.jobs.embedded import EmbeddedDispatcher
from meterbridge.services import (
    companies,
    configurations,
    connections,
    customers,
    imports,
    prices,
    products,
    push,
    rules,
    runs,
    schedules,
    tenants,
    usage,
)
from meterbridge.services.context import Context
from meterbridge.services.errors import InvalidInput
from meterbridge.services.ingest import Mode
from meterbridge.store.database import Database
from meterbridge.store.secrets import SecretBox

pytestmark = pytest.mark.slow

PERIODS = ["2026-08", "2026-09", "2026-10", "2026-11", "2026-12"]  # the clock says 3 December: December is open
CUSTOMERS = ["C1", "C2"]
PRODUCTS = {  # key: (kind, basis, ConnectWise product)
    "storage": ("storage", "max", "BACKUP-STORAGE-GB"),
    "traffic": ("traffic", "sum", "BACKUP-STORAGE-GB-T2"),
}
TENANTS = itertools.count(1)


def month_days(month: date) -> tuple[date, date]:
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return month, following


def covers(addition: dict[str, Any], period: Period) -> bool:
    start = date.fromisoformat(addition["effectiveDate"][:10])
    end = date.fromisoformat(addition["cancelledDate"][:10]) if addition.get("cancelledDate") else None
    return start <= period.last_day and (end is None or end >= period.first_day)


def machine(db: Database, contract_log: ContractLog, seen: Counter[str]) -> type[RuleBasedStateMachine]:
    box = SecretBox(Fernet.generate_key())

    class Billing(RuleBasedStateMachine):
        @initialize(
            strategies=st.lists(st.sampled_from(["running", "per_period"]), min_size=4, max_size=4),
            monthly=st.lists(st.integers(min_value=0, max_value=2000), min_size=20, max_size=20),
            chunk=st.sampled_from([1, 2, 2000]),  # customers planned at a time: a chunk's edge changes nothing
        )
        def set_up(self, strategies: list[str], monthly: list[int], chunk: int) -> None:
            self.clock = FakeClock(datetime(2026, 12, 3, 9, tzinfo=UTC))
            self.sim = Simulator.create(SimSettings(rate_limit_per_minute=1_000_000), clock=self.clock, seed=3)
            load_scenario(self.sim, company_scenario(len(CUSTOMERS)))
            transport = httpx2.ASGITransport(app=ContractMiddleware(create_app(self.sim), contract_log))
            self.ctx = Context(db=db, box=box, clock=self.clock, transport=transport, plan_chunk=chunk)
            self.tenant = f"seq{next(TENANTS)}"
            ctx, t = self.ctx, self.tenant
            tenants.init_tenant(ctx, t, actor=ACTOR)
            off = {"max_changed_fraction": None, "max_quantity_drop": None, "max_total_change": None}
            tenants.update_settings(
                ctx, t, off, actor=ACTOR
            )  # every plan applies: the guards, not the thresholds, are tested
            connections.set_connection(
                ctx, t, site="http://cwsim.test", company_id="sim", public_key="simpub",
                private_key="simpriv", client_id="tests", actor=ACTOR
            )  # fmt: skip
            asyncio.run(companies.import_companies(ctx, t, actor=ACTOR))
            for key, (kind, basis, cw) in PRODUCTS.items():
                products.save_product(ctx, t, key, kind=kind, unit="GB", basis=basis, cw_product=cw, actor=ACTOR)
                prices.set_price(ctx, t, key, unit_price="0.10", unit_cost="0.04", actor=ACTOR)
            rules.save_rule(ctx, t, "default-agreement", 'type/name = "Backup Services"', actor=ACTOR)
            for customer in CUSTOMERS:
                customers.add_customer(ctx, t, customer, f"Company {customer[1:]}", actor=ACTOR)
            companies.link_customers(ctx, t, actor=ACTOR)
            self.samples: dict[tuple[str, str, datetime], int] = {}  # what the source says now
            self.configured: dict[tuple[str, str], str] = {}  # (customer, product) -> strategy
            self.pushed: list[str] = []
            pairs = [(c, p) for c in CUSTOMERS for p in PRODUCTS]
            for (customer, product), strategy in zip(pairs[1:], strategies, strict=False):  # C1 storage: later
                self.configure(customer, product, strategy)
            # a month of usage for every line, as a source delivers it; the rules then change it
            quantities = iter(monthly)
            for (customer, product), period in itertools.product(pairs, PERIODS):
                self.import_usage(customer, product, period, 10, next(quantities), how="batch")

        # -- what users do --------------------------------------------------------------------
        @rule(
            customer=st.sampled_from(CUSTOMERS),
            product=st.sampled_from(list(PRODUCTS)),
            strategy=st.sampled_from(["running", "per_period"]),
        )
        def configure(self, customer: str, product: str, strategy: str) -> None:
            options: dict[str, Any] = {"strategy": strategy}
            if (customer, product) not in self.configured:
                options["products"] = [product]
            configurations.save_configuration(
                self.ctx, self.tenant, customer, f"{customer}-{product}", options, actor=ACTOR
            )
            self.configured[(customer, product)] = strategy

        @rule(data=st.data(), step=st.sampled_from([0, 1]))
        def switch_and_push(self, data: st.DataObject, step: int) -> None:
            """The user switches a line's strategy, then pushes the month just pushed again (0) or the next (1)."""
            if not self.pushed:
                return
            customer, product = data.draw(st.sampled_from(sorted(self.configured)))
            other = "per_period" if self.configured[(customer, product)] == "running" else "running"
            self.configure(customer, product, other)
            month = PERIODS[min(PERIODS.index(self.pushed[-1]) + step, len(PERIODS) - 1)]
            self.push_period(month, reviewed=data.draw(st.booleans()))

        @rule(customer=st.sampled_from(CUSTOMERS), product=st.sampled_from(list(PRODUCTS)))
        def bill_a_product_twice(self, customer: str, product: str) -> None:
            if (customer, product) not in self.configured:
                return
            with pytest.raises(InvalidInput, match="already billed by configuration"):
                configurations.save_configuration(
                    self.ctx, self.tenant, customer, f"{customer}-{product}-again", {"products": [product]}, actor=ACTOR
                )

        @rule(
            customer=st.sampled_from(CUSTOMERS),
            product=st.sampled_from(list(PRODUCTS)),
            period=st.sampled_from(PERIODS),
            day=st.integers(min_value=1, max_value=28),
            quantity=st.integers(min_value=0, max_value=3000),
            how=st.sampled_from(["batch", "batch twice", "file", "file twice with a bad row"]),
        )
        def import_usage(self, customer: str, product: str, period: str, day: int, quantity: int, how: str) -> None:
            """A sample in by the API's batch or by a file (in mode valid, with a bad row beside it);
            the same sample again, either way, changes nothing."""
            month = Period.parse(period)
            if period == PERIODS[-1]:
                day = min(day, 2)  # the open month: measured up to now (3 December), never in the future
            at = datetime(month.year, month.month, day, 12, tzinfo=UTC)
            if how.startswith("batch"):
                sample = usage.Sample(customer, product, at, Decimal(quantity), "GB")
                usage.store_samples(self.ctx, self.tenant, [sample], source="feed", actor=ACTOR)
                if how.endswith("twice"):
                    again = usage.store_samples(self.ctx, self.tenant, [sample], source="feed", actor=ACTOR)
                    assert (again.added, again.replaced, again.unchanged) == (0, 0, 1)
            else:
                row = f"{customer},{product},{at.isoformat()},{{}},GB\n"
                text = "customer,product,measured_at,quantity,unit\n" + row.format(quantity)
                if "bad" in how:
                    text += row.format("lots")
                for attempt in range(2 if "twice" in how else 1):
                    view = imports.import_file(
                        self.ctx, self.tenant, io.BytesIO(text.encode()), actor=ACTOR, source="feed", mode=Mode.VALID
                    )
                    assert view.rejected == (1 if "bad" in how else 0)
                    if attempt:
                        assert (view.added, view.replaced, view.unchanged) == (0, 0, 1)
            self.samples[(customer, product, at)] = quantity
            self.clock.advance(minutes=1)

        @rule(data=st.data(), quantity=st.integers(min_value=0, max_value=3000))
        def correct_usage(self, data: st.DataObject, quantity: int) -> None:
            if not self.samples:
                return
            customer, product, at = data.draw(st.sampled_from(sorted(self.samples)))
            sample = usage.Sample(customer, product, at, Decimal(quantity), "GB")
            stored = usage.store_samples(self.ctx, self.tenant, [sample], source="feed", actor=ACTOR)
            assert stored.added == 0
            self.samples[(customer, product, at)] = quantity
            self.clock.advance(minutes=1)

        @rule(customer=st.sampled_from(CUSTOMERS), period=st.sampled_from(PERIODS))
        def withdraw_usage(self, customer: str, period: str) -> None:
            month = Period.parse(period)
            usage.withdraw_samples(self.ctx, self.tenant, customer, period=month, actor=ACTOR)
            for key in [k for k in self.samples if k[0] == customer and month.contains(k[2], UTC)]:
                del self.samples[key]

        @rule(reviewed=st.booleans())
        def push_next_month(self, reviewed: bool) -> None:
            """What most users do: push the month after the last one pushed (the first, to begin with)."""
            last = PERIODS.index(self.pushed[-1]) if self.pushed else -1
            self.push_period(PERIODS[min(last + 1, len(PERIODS) - 1)], reviewed)

        @rule(period=st.sampled_from(PERIODS), reviewed=st.booleans(), scheduled=st.booleans())
        def push_period(self, period: str, reviewed: bool, scheduled: bool = False) -> None:
            """By hand (reviewed by checksum, or forced), or, for the last two months, by a schedule."""
            if scheduled and period in PERIODS[-2:]:
                self._scheduled_push(period)
                return
            if reviewed:
                checksum = asyncio.run(push.preview(self.ctx, self.tenant, period, actor=ACTOR)).checksum
                outcome = asyncio.run(push.push(self.ctx, self.tenant, period, checksum=checksum, actor=ACTOR))
            else:
                outcome = asyncio.run(push.push(self.ctx, self.tenant, period, force=True, actor=ACTOR))
            assert outcome.totals.writes.failed == 0
            self.clock.advance(minutes=5)
            planned = outcome.with_changes().changes or []
            blocked = {c.key.rsplit("/", 1)[0] for c in planned if c.kind is ChangeKind.BLOCKED}
            self._count(planned)
            seen["pushes"] += 1
            self.pushed.append(period)
            self._billed_as_the_rules_say(Period.parse(period), blocked)

        def _count(self, changes: Any) -> None:
            """The guarded paths a push's plan went through (a plan's changes, or a run's items)."""
            for change in changes:
                if change.kind is ChangeKind.BLOCKED:
                    assert "a later period" in change.reason, change.reason  # the only refusal this world can meet
                    seen["an older period refused for a running line"] += 1
                if any("takes effect from" in warning for warning in change.warnings):
                    seen["a switch of strategy kept a billed period on its addition"] += 1
                if change.kind is ChangeKind.CANCEL and "replaced by one addition per period" in change.reason:
                    seen["a running addition ended before the first per-period one"] += 1

        def _scheduled_push(self, period: str) -> None:
            """Someone sets auto-billing (the first 3 days, counting from 1 December); it falls due
            and the dispatcher runs it: the previous month, or the current one provisionally."""
            month = "previous" if period == PERIODS[-2] else "current"
            schedules.save_schedule(
                self.ctx, self.tenant, "auto",
                {"kind": "auto_billing", "days": 3, "target": month, "since": "2026-12-01"}, actor=ACTOR,
            )  # fmt: skip
            try:
                [ran] = asyncio.run(EmbeddedDispatcher(self.ctx).once()).ran
            finally:  # the next one is due again; and no other example's dispatcher meets this one
                schedules.remove_schedule(self.ctx, self.tenant, "auto", actor=ACTOR)
            assert ran.status in ("done", "partial") and ran.run is not None, ran
            assert ran.period == period
            detail = runs.show_run(self.ctx, self.tenant, ran.run)
            assert (detail.trigger, detail.started_by) == ("automatic", "schedule:auto")
            assert all(item.status != "failed" for item in detail.items)
            blocked = {item.key.rsplit("/", 1)[0] for item in detail.items if item.kind is ChangeKind.BLOCKED}
            self._count(detail.items)
            self.clock.advance(minutes=5)
            seen["scheduled pushes"] += 1
            seen["pushes"] += 1
            self.pushed.append(period)
            self._billed_as_the_rules_say(Period.parse(period), blocked)

        # -- what must hold ----------------------------------------------------------------
        def _expected(self, customer: str, product: str, period: Period) -> int:
            values = [
                q
                for (c, p, at), q in self.samples.items()
                if (c, p) == (customer, product) and period.contains(at, UTC)
            ]
            if not values:
                return 0
            return max(values) if PRODUCTS[product][1] == "max" else sum(values)

        def _billed_as_the_rules_say(self, period: Period, blocked: set[str]) -> None:
            for (customer, product), _strategy in self.configured.items():
                prefix = f"{customer}/{customer}-{product}/{PRODUCTS[product][2]}"
                if prefix in blocked:
                    continue
                sampled = any((c, p) == (customer, product) and period.contains(at, UTC) for c, p, at in self.samples)
                if str(period) == PERIODS[-1] and not sampled:
                    continue  # the open month without samples yet: the line is left as it is
                wanted = self._expected(customer, product, period)
                agreement = CUSTOMERS.index(customer) + 1
                covering = [
                    a
                    for a in self.sim.state.collections["additions"].by_id.values()
                    if a["agreementId"] == agreement
                    and a["product"]["identifier"] == PRODUCTS[product][2]
                    and covers(a, period)
                ]
                quantities = [Decimal(str(a["quantity"])) for a in covering]
                if wanted:
                    assert quantities == [wanted], (customer, product, str(period), wanted, covering)
                else:
                    assert quantities in ([], [0]), (customer, product, str(period), covering)

        @invariant()
        def each_month_billed_at_most_once(self) -> None:
            if not hasattr(self, "sim"):
                return
            for agreement in range(1, len(CUSTOMERS) + 1):
                for _key, (_kind, _basis, cw) in PRODUCTS.items():
                    additions = [
                        a
                        for a in self.sim.state.collections["additions"].by_id.values()
                        if a["agreementId"] == agreement and a["product"]["identifier"] == cw
                    ]
                    for period in PERIODS:
                        billing = [a["id"] for a in additions if covers(a, Period.parse(period))]
                        assert len(billing) <= 1, f"agreement {agreement}, {cw}, {period} billed by {billing}"

        @invariant()
        def no_push_left_running(self) -> None:
            if hasattr(self, "ctx"):
                assert all(r.status != "running" for r in runs.list_runs(self.ctx, self.tenant, limit=1000))

    return Billing


def test_no_sequence_of_user_actions_bills_a_month_twice(database: Database, contract_log: ContractLog) -> None:
    # one database for every example; each example is a tenant of its own
    seen: Counter[str] = Counter()
    run_state_machine_as_test(
        machine(database, contract_log, seen),
        settings=settings(
            max_examples=60,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    # the sequences reached the paths the guards are for (not a vacuous pass)
    assert seen["pushes"] >= 100, seen
    for path in (
        "scheduled pushes",
        "an older period refused for a running line",
        "a switch of strategy kept a billed period on its addition",
        "a running addition ended before the first per-period one",
    ):
        assert seen[path] > 0, f"no sequence reached: {path} ({seen})"
