"""Agreement and addition rules, in the ConnectWise conditions language, validated when saved."""

from __future__ import annotations

from meterbridge.domain.rules import ADDITION_FIELDS, AGREEMENT_FIELDS, Rule, RuleError
from meterbridge.services.actors import Actor
from meterbridge.services.audit import audit
from meterbridge.services.context import Context
from meterbridge.services.errors import InvalidInput
from meterbridge.services.scope import tenant_row
from meterbridge.services.views import RuleView
from meterbridge.store.models import RuleRow
from meterbridge.store.repos import configurations as configs


def compile_rule(text: str, target: str) -> Rule:
    if target not in ("agreement", "addition"):
        raise InvalidInput(f"target: {target!r} is not agreement or addition", field="target")
    try:
        return Rule.compile(text, AGREEMENT_FIELDS if target == "agreement" else ADDITION_FIELDS)
    except RuleError as error:
        raise InvalidInput(f"rule: {error}", field="text", position=error.position) from None


def save_rule(ctx: Context, tenant: str, name: str, text: str, *, actor: Actor, target: str = "agreement") -> RuleView:
    if not name.strip() or len(name) > 100:
        raise InvalidInput("name: a rule needs a name of 1 to 100 characters", field="name")
    compile_rule(text, target)
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        rule = configs.rule(session, row.id, name)
        before = {"name": name, "target": rule.target, "text": rule.text} if rule is not None else None
        if rule is None:
            rule = RuleRow(tenant_id=row.id, name=name)
            session.add(rule)
        rule.target, rule.text = target, text
        audit(session, ctx, row.id, actor, "rule.save", {"name": name, "target": target, "text": text}, before=before)
        return RuleView(name=name, target=target, text=text)


def list_rules(ctx: Context, tenant: str) -> list[RuleView]:
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        return [RuleView(name=r.name, target=r.target, text=r.text) for r in configs.rules(session, row.id)]
