"""Linking, set-up errors, the doctor, the leak report and Backup Stats, against cwsim over loopback HTTP."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx2
import pytest
from sqlalchemy import select
from tests.services.conftest import World
from tests.support.actors import ACTOR
from tests.support.reference_month import PERIOD, actual, expected, identifier

from meterbridge.services import (
    basic_setup,
    companies,
    configurations,
    customers,
    doctor,
    leaks,
    prices,
    products,
    push,
    rules,
    usage,
)
from meterbridge.services.errors import InvalidInput, NotFound
from meterbridge.store.models import Customer, Product, UsageSampleRow


def hand_made_storage_addition(
    world: World, *, agreement_id: int = 1, product: str = "BACKUP-STORAGE-GB", **extra: Any
) -> int:
    """A line someone added by hand (not meterbridge's): storage, on company 0's agreement unless told."""
    body = {
        "product": {"identifier": product},
        "quantity": 5,
        "billCustomer": "Billable",
        "effectiveDate": "2026-10-01T00:00:00Z",
        **extra,
    }
    answer = httpx2.post(
        f"{world.url}/v4_6_release/apis/3.0/finance/agreements/{agreement_id}/additions",
        json=body,
        auth=("sim+simpub", "simpriv"),
        headers={"clientId": "tests"},
    )
    assert answer.status_code == 201, answer.text
    added: int = answer.json()["id"]
    return added


def test_linking_is_by_identifier_then_exact_name_and_near_names_are_only_suggested(small_month: World) -> None:
    ctx = small_month.ctx
    customers.add_customer(ctx, "default", "acct-1", "company 003", actor=ACTOR)  # exact name, other case: linked
    customers.add_customer(ctx, "default", "acct-2", "Compny-004 Inc", actor=ACTOR)  # near: suggested only
    report = companies.link_customers(ctx, "default", actor=ACTOR)
    assert [(e.external_id, e.cw_identifier, e.how) for e in report.linked] == [("acct-1", identifier(3), "name")]
    [near] = [e for e in report.suggested if e.external_id == "acct-2"]
    assert near.cw_id is None and near.suggestions[0].identifier == identifier(4)
    assert 0.6 <= near.suggestions[0].score < 1
    links = {link.external_id: link for link in companies.list_links(ctx, "default")}
    assert links["acct-2"].cw_id is None and links[identifier(0)].how == "identifier"

    companies.set_link(ctx, "default", identifier(0), None, actor=ACTOR)
    companies.link_customers(ctx, "default", actor=ACTOR)
    assert {link.external_id: link for link in companies.list_links(ctx, "default")}[identifier(0)].how == "unset"
    with pytest.raises(NotFound, match="not among the imported ConnectWise companies"):
        companies.set_link(ctx, "default", "acct-2", "NO-SUCH", actor=ACTOR)


def test_bad_input_names_the_field_or_row_and_stores_nothing(small_month: World) -> None:
    ctx = small_month.ctx
    with ctx.db.session() as session:
        samples_before = len(list(session.scalars(select(UsageSampleRow))))
    text = (
        "customer,product,measured_at,quantity,unit,customer_name\n"
        "C000,storage,2026-10-02T00:00:00Z,10,GB,\n"
        "new-1,storage,2026-10-02T00:00:00Z,5,GB,New One\n"
        "C001,storage,2026-10-02T00:00:00,7,GB,\n"
    )
    with pytest.raises(InvalidInput, match=r"row 4, column measured_at: .* has no time zone"):
        usage.import_csv(ctx, "default", text, source="bad.csv", actor=ACTOR)
    with pytest.raises(InvalidInput, match=r"row 2, column quantity: 'ten' is not a number"):
        usage.import_csv(ctx, "default", text.replace(",10,", ",ten,"), source="bad.csv", actor=ACTOR)
    with pytest.raises(InvalidInput, match=r"missing column\(s\) unit"):
        usage.import_csv(ctx, "default", "customer,product,measured_at,quantity\n", source="bad.csv", actor=ACTOR)
    good = text.replace("2026-10-02T00:00:00,", "2026-10-02T00:00:00Z,")
    with pytest.raises(InvalidInput, match="row 3: customer 'ghost' does not exist"):
        usage.import_csv(
            ctx, "default", good.replace("new-1", "ghost").replace("New One", ""), source="bad.csv", actor=ACTOR
        )
    with ctx.db.session() as session:
        assert len(list(session.scalars(select(UsageSampleRow)))) == samples_before
        assert session.scalar(select(Customer).where(Customer.external_id == "new-1")) is None
    stored = usage.import_csv(
        ctx, "default", text.replace("2026-10-02T00:00:00,", "2026-10-02T00:00:00Z,"), source="ok.csv", actor=ACTOR
    )
    assert (stored.source, stored.added, stored.replaced, stored.unchanged) == ("ok.csv", 3, 0, 0)
    assert stored.new_customers == ["new-1"] and stored.import_id is not None

    with pytest.raises(InvalidInput, match="data_mode: storage and licenses in one configuration"):
        configurations.save_configuration(
            ctx,
            "default",
            identifier(0),
            "mixed",
            {"products": ["storage", "server"], "cw_product": "BACKUP-SERVER"},
            actor=ACTOR,
        )
    with pytest.raises(InvalidInput, match="configuration x: bill_mode"):
        configurations.save_configuration(
            ctx, "default", identifier(0), "x", {"products": ["storage"], "bill_mode": "Free"}, actor=ACTOR
        )
    with pytest.raises(InvalidInput, match=r"rule: .*position"):
        rules.save_rule(ctx, "default", "broken", 'type/name = "Backup', actor=ACTOR)
    with pytest.raises(InvalidInput, match=r"tiers: tier 2"):
        prices.set_price(ctx, "default", "storage", unit_price="1", tiers="10:1,oops", actor=ACTOR)
    with ctx.db.session() as session:
        product = session.scalar(select(Product).where(Product.key == "storage"))
        assert product is not None
    assert [c.key for c in configurations.list_configurations(ctx, "default", identifier(0))] == [
        f"{identifier(0)}-storage"
    ]


def test_the_doctor_finds_what_is_missing_and_creates_it_when_asked(small_month: World) -> None:
    ctx, sim = small_month.ctx, small_month.sim
    products.save_product(
        ctx, "default", "archive", name="Cold archive", kind="storage", unit="GB", cw_product="ARCHIVE-GB", actor=ACTOR
    )
    found = asyncio.run(doctor.diagnose(ctx, "default", PERIOD, actor=ACTOR))
    errors = {(f.check, f.subject) for f in found.errors}
    assert ("catalog", "ARCHIVE-GB") in errors
    assert ("agreement", identifier(9)) in errors  # ambiguous: needs a person
    assert ("agreement", identifier(10)) in errors  # missing: can be created

    fixed = asyncio.run(doctor.diagnose(ctx, "default", PERIOD, create=True, actor=ACTOR))
    assert {(f.check, f.subject) for f in fixed.findings if f.fixed} >= {
        ("catalog", "ARCHIVE-GB"),
        ("agreement", identifier(10)),
    }
    assert any(i["identifier"] == "ARCHIVE-GB" for i in sim.state.collections["catalog"].by_id.values())
    preview = asyncio.run(push.preview(ctx, "default", PERIOD, actor=ACTOR))
    assert preview.companies[identifier(10)].status == "ok"
    assert preview.companies[identifier(9)].status == "blocked"


def test_the_leak_report_shows_usage_without_lines_and_lines_without_usage(small_month: World) -> None:
    ctx = small_month.ctx
    asyncio.run(push.push(ctx, "default", PERIOD, force=True, actor=ACTOR))
    report = asyncio.run(leaks.revenue_leaks(ctx, "default", PERIOD))
    kinds = {(leak.kind, leak.customer, leak.subject) for leak in report.leaks}
    assert ("usage-not-invoiced", identifier(5), "storage") in kinds  # DoNotBill: on the agreement, not invoiced
    assert ("usage-without-line", identifier(0), "m365") in kinds  # no configuration bills it
    assert ("usage-without-line", identifier(10), "storage") in kinds  # blocked: no agreement
    assert ("usage-without-line", identifier(19), "storage") not in kinds  # zero usage is no leak
    assert not any(k[0] == "line-without-usage" for k in kinds), [
        leak for leak in report.leaks if leak.kind == "line-without-usage"
    ]

    # someone adds a backup line by hand on company 0's agreement: it bills a product meterbridge manages
    hand_made_storage_addition(small_month)
    report = asyncio.run(leaks.revenue_leaks(ctx, "default", PERIOD))
    [extra] = [leak for leak in report.leaks if leak.kind == "line-without-usage"]
    assert extra.customer == identifier(0) and "does not manage" in extra.detail


def test_backup_stats_are_published_by_managed_id_and_updated_in_place(small_month: World) -> None:
    ctx, sim = small_month.ctx, small_month.sim
    customers.add_customer(ctx, "default", identifier(0), "Company 000", managed_id="1000", actor=ACTOR)
    customers.add_customer(ctx, "default", identifier(1), "Company 001", managed_id="1001", actor=ACTOR)
    first = asyncio.run(basic_setup.publish_backup_stats(ctx, "default", PERIOD, actor=ACTOR))
    assert sorted(first.created) == [identifier(0), identifier(1)]
    stats = {c["deviceIdentifier"]: c for c in sim.state.collections["configurations"].by_id.values()}
    assert Decimal(str(stats["1000"]["backupBillableSpaceGb"])) == Decimal("100.25")
    assert (stats["1000"]["backupYear"], stats["1000"]["backupMonth"]) == (2026, 10)
    again = asyncio.run(basic_setup.publish_backup_stats(ctx, "default", PERIOD, actor=ACTOR))
    assert sorted(again.unchanged) == [identifier(0), identifier(1)] and not again.created
    late = usage.Sample(identifier(0), "storage", usage.parse_time("at", "2026-10-30T00:00:00Z"), Decimal(500), "GB")
    usage.store_samples(ctx, "default", [late], source="late", actor=ACTOR)
    third = asyncio.run(basic_setup.publish_backup_stats(ctx, "default", PERIOD, actor=ACTOR))
    assert third.updated == [identifier(0)]
    assert len([c for c in sim.state.collections["configurations"].by_id.values() if c.get("deviceIdentifier")]) == 2
    with pytest.raises(InvalidInput, match="managed_id"):
        customers.add_customer(ctx, "default", identifier(2), "Company 002", managed_id="12-A", actor=ACTOR)


def test_an_existing_addition_picked_by_an_addition_rule_is_adopted_not_duplicated(small_month: World) -> None:
    ctx = small_month.ctx
    hand_made = hand_made_storage_addition(small_month, unitPrice=0.2)
    rules.save_rule(
        ctx, "default", "adopt-storage", 'product/identifier = "BACKUP-STORAGE-GB"', target="addition", actor=ACTOR
    )
    configurations.save_configuration(
        ctx,
        "default",
        identifier(0),
        f"{identifier(0)}-storage",
        {"products": ["storage"], "addition_rule": "adopt-storage"},
        actor=ACTOR,
    )
    held = asyncio.run(push.push(ctx, "default", PERIOD, force=True, actor=ACTOR))
    assert held.status == "held" and "1 of 1 existing lines change" in held.safety_reasons[0]
    outcome = asyncio.run(
        push.push(ctx, "default", PERIOD, checksum=held.checksum, actor=ACTOR)
    )  # a person approved it
    [change] = [c for c in (outcome.with_changes().changes or []) if c.customer == identifier(0)]
    assert (change.kind.value, change.addition_id) == ("update", hand_made)
    assert {f.field for f in change.fields} >= {"quantity", "unitPrice"}
    assert actual(small_month.sim) == expected(small_month.n)
    again = asyncio.run(push.push(ctx, "default", PERIOD, force=True, actor=ACTOR))
    assert again.counts["update"] == again.counts["create"] == 0
