"""Safety holds per company and line (docs/push.md "Holds"): against cwsim on loopback, on SQLite
and PostgreSQL, with the managers' email through a real SMTP server on loopback.

Fifty companies, each with one per-period storage line (a new addition every month): one
company's month falls by 67.9 %. Its company is held, named with its line and the threshold; the
other 49 are written; the email says so and how to approve it; approving it by its checksum
writes it alone. A jump over the month before is held with both months shown; a blocked line
says what it would bill; a plan with nothing to write says why."""

from __future__ import annotations

import asyncio
import email
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from email.message import Message as EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from cryptography.fernet import Fernet
from tests.support.actors import ACTOR
from tests.support.cli_world import Cli, company_scenario, make_cli, printed
from tests.support.clocks import FakeClock
from tests.support.contract import ContractLog, ContractMiddleware
from tests.support.loopback import LOOPBACK
from tests.support.server import free_port, serve

from cwsim.app import create_app
from cwsim.scenario import load_scenario
from cwsim.sim import Simulator
from cwsim.state import SimSettings
from meterbridge.mail import SmtpMailer, SmtpSettings
from meterbridge.services import (
    companies,
    configurations,
    connections,
    customers,
    messages,
    notify,
    prices,
    products,
    push,
    rules,
    tenants,
    usage,
)
from meterbridge.services.context import Context
from meterbridge.services.errors import InvalidInput
from meterbridge.store.database import Database
from meterbridge.store.secrets import SecretBox

T = "default"
COMPANIES = 50
HELD = "C7"
DROP = "Storage 1,200 GB in 2026-10 -> 385 GB in 2026-11, a 67.9 % drop over max_quantity_drop 30 %"


@dataclass
class Inbox:
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@dataclass
class World:
    ctx: Context
    sim: Simulator
    inbox: Inbox


@pytest.fixture
def world(database_url: str, contract_log: ContractLog) -> Iterator[World]:
    """50 companies (C1..C50, an agreement each) linked, each billing storage per period at $0.10 a
    GB; the clock on 3 December (October and November are over); the managers' email to a real
    SMTP server on loopback."""
    clock = FakeClock(datetime(2026, 12, 3, 9, tzinfo=UTC))
    sim = Simulator.create(SimSettings(rate_limit_per_minute=1_000_000), clock=clock, seed=5)
    load_scenario(sim, company_scenario(COMPANIES))
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    db = Database(database_url)
    try:
        with serve(ContractMiddleware(create_app(sim), contract_log)) as url:
            mailer = SmtpMailer(SmtpSettings(host="127.0.0.1", port=smtp.port, starttls=False, timeout=10,
                                             sender="meterbridge@msp.example"))  # fmt: skip
            ctx = Context(outbound=LOOPBACK, db=db, box=SecretBox(Fernet.generate_key()), clock=clock, mailer=mailer)
            tenants.init_tenant(ctx, T, actor=ACTOR)
            tenants.update_settings(ctx, T, {"managers": "billing@msp.example"}, actor=ACTOR)
            connections.set_connection(
                ctx, T, site=url, company_id="sim", public_key="simpub", private_key="simpriv", client_id="tests",
                actor=ACTOR,
            )  # fmt: skip
            asyncio.run(companies.import_companies(ctx, T, actor=ACTOR))
            products.save_product(
                ctx, T, "storage", name="Storage", kind="storage", unit="GB", basis="max",
                cw_product="BACKUP-STORAGE-GB", actor=ACTOR,
            )  # fmt: skip
            prices.set_price(ctx, T, "storage", unit_price="0.10", unit_cost="0.04", actor=ACTOR)
            rules.save_rule(ctx, T, "default-agreement", 'type/name = "Backup Services"', actor=ACTOR)
            for i in range(1, COMPANIES + 1):
                customers.add_customer(ctx, T, f"C{i}", f"Company {i}", actor=ACTOR)
                options = {"products": ["storage"], "strategy": "per_period"}
                configurations.save_configuration(ctx, T, f"C{i}", f"C{i}-storage", options, actor=ACTOR)
            companies.link_customers(ctx, T, actor=ACTOR)
            yield World(ctx, sim, inbox)
    finally:
        smtp.stop()
        db.dispose()


def _use(world: World, month: str, quantities: dict[str, int]) -> None:
    at = datetime.fromisoformat(f"{month}-20T12:00:00+00:00")
    samples = [usage.Sample(c, "storage", at, Decimal(q), "GB") for c, q in quantities.items()]
    usage.store_samples(world.ctx, T, samples, source="feed", actor=ACTOR)


def _additions(world: World) -> dict[int, dict[str, Any]]:
    """Every addition in ConnectWise by id, as it holds it (a copy)."""
    return {i: dict(a) for i, a in world.sim.state.collections["additions"].by_id.items()}


def _of(additions: dict[int, dict[str, Any]], company: str, month: str) -> list[Decimal]:
    agreement = int(company[1:])
    return [
        Decimal(str(a["quantity"]))
        for a in additions.values()
        if a["agreementId"] == agreement and a["effectiveDate"].startswith(month)
    ]


def _body(message: EmailMessage) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def test_one_company_of_fifty_over_a_threshold_is_held_named_emailed_and_approved_alone(world: World) -> None:
    ctx = world.ctx
    october = {f"C{i}": 1000 + i for i in range(1, COMPANIES + 1)} | {HELD: 1200}
    _use(world, "2026-10", october)
    first = asyncio.run(push.push(ctx, T, "2026-10", force=True, actor=ACTOR))
    assert (first.status.value, first.totals.writes.landed, first.held) == ("done", COMPANIES, None)
    asyncio.run(notify.deliver_due(ctx))  # October's email: this test reads November's
    world.inbox.messages.clear()
    _use(world, "2026-11", {c: q + 10 for c, q in october.items()} | {HELD: 385})

    preview = asyncio.run(push.preview(ctx, T, "2026-11", actor=ACTOR))
    assert preview.verdict == "hold_some"  # new lines change nothing run-wide: no ceiling
    held = preview.companies[HELD]
    assert (held.status.value, held.reasons, held.name) == ("held", [DROP], "Company 7")
    assert held.checksum is not None and held.checksum != preview.checksum
    assert preview.safety_reasons == [f"{HELD}: {DROP}"]
    assert {c.status.value for name, c in preview.companies.items() if name != HELD} == {"ok"}
    assert preview.held is not None and (preview.held.companies, preview.held.billed_change) == (1, Decimal("38.50"))
    [line] = [c for c in preview.with_changes().changes or [] if c.customer == HELD]
    assert line.last is not None and (line.last.period, line.last.quantity) == ("2026-10", Decimal(1200))

    before = _additions(world)
    pushed = asyncio.run(push.push(ctx, T, "2026-11", checksum=preview.checksum, actor=ACTOR))
    assert pushed.status.value == "partial" and pushed.approval == "the approved plan"
    assert pushed.totals.writes.landed == COMPANIES - 1 and pushed.totals.companies == {"held": 1, "ok": 49}
    assert pushed.companies[HELD].status.value == "held" and pushed.companies[HELD].landed == []
    after = _additions(world)
    assert _of(after, HELD, "2026-11") == [] and all(after[i] == a for i, a in before.items())
    assert all(_of(after, f"C{i}", "2026-11") == [october[f"C{i}"] + 10] for i in range(1, 51) if f"C{i}" != HELD)
    # what the push says ConnectWise will invoice leaves the held company's line as it was: none for November
    assert pushed.totals.billed_after - pushed.totals.billed_before == Decimal(sum(q + 10 for c, q in october.items()
                                                                                   if c != HELD)) / 10  # fmt: skip
    assert pushed.held is not None and not pushed.held.approved

    assert asyncio.run(notify.deliver_due(ctx)).sent == 1
    [mail] = world.inbox.messages
    subject = str(mail["Subject"]).replace("\r\n", "")  # unfolded
    assert subject.startswith("[meterbridge] default: push of 2026-11 partly done: 1 company held for approval")
    text = _body(mail)
    assert f"- {HELD} Company 7: {DROP}" in text
    assert "Held for approval (1 company; nothing was written for them, the other companies were):" in text
    alone = f"meterbridge push --period 2026-11 --customer {HELD} --checksum {held.checksum} --approve-held"
    assert f"  approve it alone: {alone}" in text
    assert f"Approve every held company at once: meterbridge push --period 2026-11 --checksum {pushed.checksum}" in text

    # the held company's checksum without approving the hold writes nothing; with it, that company alone
    still = asyncio.run(push.push(ctx, T, "2026-11", checksum=held.checksum, only=frozenset({HELD}), actor=ACTOR))
    assert (still.status.value, still.totals.writes.landed) == ("held", 0)
    before = _additions(world)
    approved = asyncio.run(
        push.push(ctx, T, "2026-11", checksum=held.checksum, only=frozenset({HELD}), approve_held=True, actor=ACTOR)
    )
    assert (approved.status.value, approved.approval, approved.totals.writes.landed) == ("done", "the approved plan", 1)
    assert approved.companies[HELD].status.value == "ok"
    assert approved.companies[HELD].reasons == [f"approved by checksum: {DROP}"]
    assert approved.held is not None and approved.held.approved
    after = _additions(world)
    [new] = set(after) - set(before)
    assert _of(after, HELD, "2026-11") == [Decimal(385)] and after[new]["agreementId"] == 7
    assert all(after[i] == a for i, a in before.items()), "approving one company writes nothing of the others"
    again = asyncio.run(push.preview(ctx, T, "2026-11", actor=ACTOR))
    assert (again.totals.writes.planned, again.verdict) == (0, "apply")


def test_approving_every_held_company_at_once_and_what_a_forced_push_may_not_approve(world: World) -> None:
    ctx = world.ctx
    _use(world, "2026-10", {"C1": 100, "C2": 1000, "C3": 1000})
    asyncio.run(push.push(ctx, T, "2026-10", force=True, actor=ACTOR))
    _use(world, "2026-11", {"C1": 101, "C2": 10, "C3": 20})
    with pytest.raises(InvalidInput, match="approve_held"):
        asyncio.run(push.push(ctx, T, "2026-11", force=True, approve_held=True, actor=ACTOR))
    forced = asyncio.run(push.push(ctx, T, "2026-11", force=True, actor=ACTOR))  # as a schedule pushes
    assert forced.totals.companies == {"held": 2, "ok": 48} and forced.totals.writes.landed == 1  # 47 without usage
    assert _of(_additions(world), "C2", "2026-11") == []
    every = asyncio.run(push.push(ctx, T, "2026-11", checksum=forced.checksum, approve_held=True, actor=ACTOR))
    assert every.approval == f"the rest of the approved plan {forced.checksum[:12]} (the other writes had landed)"
    assert every.totals.writes.landed == 2 and {c.status.value for c in every.companies.values()} == {"ok"}
    assert [_of(_additions(world), c, "2026-11") for c in ("C1", "C2", "C3")] == [[101], [10], [20]]


def test_a_jump_over_the_month_before_is_held_with_both_months_shown(world: World) -> None:
    ctx = world.ctx
    _use(world, "2026-10", {"C1": 1200, "C2": 1200})
    asyncio.run(push.push(ctx, T, "2026-10", force=True, actor=ACTOR))
    _use(world, "2026-11", {"C1": 1250, "C2": 15600})  # 13x: +$1,440.00
    jumped = asyncio.run(push.preview(ctx, T, "2026-11", actor=ACTOR))
    both = "13x up over max_jump_factor 5 and +$1,440.00 over max_jump_amount $500.00"
    months = "Storage 1,200 GB ($120.00) in 2026-10 -> 15,600 GB ($1,560.00) in 2026-11"
    assert jumped.companies["C2"].reasons == [f"{months}: {both}"]
    assert jumped.companies["C1"].status.value == "ok"
    tenants.update_settings(ctx, T, {"max_jump_factor": None}, actor=ACTOR)  # each is turned off on its own
    amount_only = asyncio.run(push.preview(ctx, T, "2026-11", actor=ACTOR))
    assert amount_only.companies["C2"].reasons == [f"{months}: +$1,440.00 over max_jump_amount $500.00"]
    tenants.update_settings(ctx, T, {"max_jump_factor": "20", "max_jump_amount": "2000"}, actor=ACTOR)
    within = asyncio.run(push.push(ctx, T, "2026-11", force=True, actor=ACTOR))
    assert (within.verdict, within.status.value, within.totals.writes.landed) == ("apply", "done", 2)
    with pytest.raises(InvalidInput, match="max_jump_factor"):
        tenants.update_settings(ctx, T, {"max_jump_factor": "0.5"}, actor=ACTOR)


def test_blocked_lines_say_what_they_would_bill_and_an_empty_plan_says_why(world: World) -> None:
    ctx = world.ctx
    customers.add_customer(ctx, T, "C2", push_enabled=False, actor=ACTOR)
    companies.set_link(ctx, T, "C3", None, actor=ACTOR)
    _use(world, "2026-10", {"C1": 100, "C3": 385})
    asyncio.run(push.push(ctx, T, "2026-10", force=True, actor=ACTOR))
    preview = asyncio.run(push.preview(ctx, T, "2026-10", actor=ACTOR)).with_changes()
    [blocked] = [c for c in preview.changes or [] if c.customer == "C3"]
    assert (blocked.kind.value, blocked.old_amount, blocked.would_bill) == ("blocked", Decimal(0), Decimal("38.50"))
    assert preview.push_off is not None and (preview.push_off.count, preview.push_off.customers) == (1, ["C2"])
    said = messages.nothing_to_write(preview.summary())
    assert said == (
        "nothing to write: 1 line blocked (C3), 1 customer with push off (C2); every other line is as ConnectWise "
        "holds it"
    )
    assert messages.resumed_text(0, 8, 0) == (
        "Resumed an earlier push: of its unfinished writes, 8 writes had not reached ConnectWise (planned again)."
    )
    assert messages.resumed_text(2, 0, 1) == (
        "Resumed an earlier push: of its unfinished writes, 2 creates had landed (adopted, not created again); "
        "1 update or cancel had landed."
    )
    assert messages.resumed_text(0, 0, 0) is None


@pytest.fixture
def cli(database_url: str, contract_log: ContractLog, tmp_path: Path) -> Iterator[Cli]:
    yield from make_cli(database_url, contract_log, tmp_path, company_scenario(3))


def test_the_command_line_names_held_and_blocked_lines_and_why_nothing_is_written(cli: Cli) -> None:
    cli.set_up("C1", "C2", "C3")
    for customer in ("C1", "C2", "C3"):
        cli("configurations", "set", customer, f"{customer}-storage", "--products", "storage", "--strategy",
            "per_period")  # fmt: skip
    cli("customers", "add", "C2", "--no-push")
    cli("companies", "unlink", "C3")
    rows = "customer,product,measured_at,quantity,unit\nC1,storage,2026-10-20T00:00:00Z,1200,GB\n"
    cli("usage", "import", cli.file("october.csv", rows + "C3,storage,2026-10-20T00:00:00Z,385,GB\n"))
    cli("push", "--period", "2026-10", "--force", code=4)  # C3 is blocked: partial
    again = cli("preview", "--period", "2026-10")
    assert "│ would bill $38.50 │" in again  # not "$0.00 -> $0.00"
    assert (
        "nothing to write: 1 line blocked (C3), 1 customer with push off (C2); every other line is as ConnectWise "
        "holds it"
    ) in again
    cli.advance(days=30)  # 3 December: November is over
    cli("usage", "import", cli.file("november.csv", rows.replace("2026-10", "2026-11").replace("1200", "385")))
    held = cli("preview", "--period", "2026-11")
    assert "safety: hold 1 company for approval (listed below), apply the others" in held
    assert "  - C1 (Company 1): storage 1,200 GB in 2026-10 -> 385 GB in 2026-11, a 67.9 % drop over " in held
    forced = cli("push", "--period", "2026-11", "--force", code=3)
    assert "held for approval: nothing written: every write is a held company's (below)" in forced
    assert not [a for a in cli.additions() if a["effectiveDate"].startswith("2026-11")]
    approved = cli(*printed(held, "approve it alone: "))
    assert "push done: 1 of 1 write(s) landed" in approved
    [november] = [a for a in cli.additions() if a["effectiveDate"].startswith("2026-11")]
    assert (november["agreementId"], november["quantity"]) == (1, 385)
