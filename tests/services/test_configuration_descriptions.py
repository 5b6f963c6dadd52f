"""A configuration's description template is checked when it is saved (field description, the
position, nothing stored), and one stored before the rules holds its customer in the preview
with the reason instead of failing it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select
from tests.support.actors import ACTOR
from tests.support.clocks import FakeClock

from meterbridge.domain.periods import Period
from meterbridge.services import configurations, customers, products, tenants
from meterbridge.services.context import Context
from meterbridge.services.desired import load_inputs
from meterbridge.services.errors import InvalidInput
from meterbridge.services.scope import open_tenant
from meterbridge.store.database import Database
from meterbridge.store.models import AuditEntry, BillingConfigurationRow
from meterbridge.store.secrets import SecretBox

GOOD = "{product} {month}: {quantity} {unit} {{acme}}"
BAD = [
    ("{product:>1000000000}{customer:>1000000000}", 0, "format specs"),
    ("{quantity:d}", 0, "format specs"),
    ("{product:{period}}", 0, "nested fields"),
    ("{product!r}", 0, "conversions"),
    ("Backup {product.__class__}", 7, "attribute and index access"),
    ("{a[0]}", 0, "attribute and index access"),
    ("{month} {colour}", 8, "unknown placeholder(s) {colour}"),
    ("{month", 0, "is not closed"),
    ("{unit}" * 21, 120, "21 placeholders"),
]


@pytest.fixture
def ctx(database: Database) -> Context:
    context = Context(
        db=database, box=SecretBox(Fernet.generate_key()), clock=FakeClock(datetime(2026, 11, 3, 9, tzinfo=UTC))
    )
    tenants.init_tenant(context, "acme", actor=ACTOR)
    products.save_product(
        context, "acme", "storage", kind="storage", unit="GB", basis="max", cw_product="BACKUP-STORAGE-GB", actor=ACTOR
    )
    customers.add_customer(context, "acme", "C1", "One", actor=ACTOR)
    configurations.save_configuration(
        context, "acme", "C1", "c", {"products": ["storage"], "description": GOOD}, actor=ACTOR
    )
    return context


def stored(ctx: Context) -> tuple[list[tuple[str, bool, dict[str, Any]]], int]:
    """Every configuration as stored, and how many audit entries there are."""
    with ctx.db.session() as session:
        audits = session.scalar(select(func.count()).select_from(AuditEntry)) or 0
    return [(v.key, v.enabled, v.options) for v in configurations.list_configurations(ctx, "acme")], audits


@pytest.mark.parametrize(("template", "position", "message"), BAD)
def test_a_bad_template_is_refused_on_save_naming_description_and_nothing_changes(
    ctx: Context, template: str, position: int, message: str
) -> None:
    before = stored(ctx)
    for key, options, replace in (
        ("c", {"description": template}, False),  # a change of an existing configuration
        ("c", {"products": ["storage"], "description": template}, True),  # a replacement
        ("new", {"products": ["storage"], "description": template}, False),  # a new one
    ):
        with pytest.raises(InvalidInput) as refused:
            configurations.save_configuration(ctx, "acme", "C1", key, options, replace=replace, actor=ACTOR)
        assert refused.value.field == "description"
        assert refused.value.position == position
        assert refused.value.message.startswith(f"configuration {key}: description: ")
        assert message in refused.value.message
        assert refused.value.as_data()["field"] == "description"
    assert stored(ctx) == before
    assert before[0] == [("c", True, {"products": ["storage"], "description": GOOD})]


def test_an_allowed_template_and_clearing_it_are_saved(ctx: Context) -> None:
    saved = configurations.save_configuration(
        ctx, "acme", "C1", "c", {"description": "{customer}: {product} for {period}"}, actor=ACTOR
    )
    assert saved.options["description"] == "{customer}: {product} for {period}"
    cleared = configurations.save_configuration(ctx, "acme", "C1", "c", {}, clear=["description"], actor=ACTOR)
    assert "description" not in cleared.options


def test_a_bad_template_stored_before_the_rules_holds_its_customer_with_the_reason(ctx: Context) -> None:
    with ctx.db.session() as session:  # as a template saved before the rules is stored
        row = session.scalars(select(BillingConfigurationRow)).one()
        row.options = {"products": ["storage"], "description": "{product:>1000000000}"}
    scope = open_tenant(ctx, "acme")
    with ctx.db.session() as session:
        inputs = load_inputs(session, scope, Period(2026, 10))
    [error] = inputs.configuration_errors["C1"]
    assert error.startswith("configuration c: description: {product:>1000000000} at position 0: format specs")
    assert not inputs.lines
