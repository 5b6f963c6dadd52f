"""Plans and runs as plain JSON-ready data: what plan items store, what --json prints, what the API returns."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from meterbridge.domain.plan import Change


def plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def change_payload(change: Change) -> dict[str, Any]:
    return {
        "kind": change.kind.value,
        "key": change.key,
        "customer": change.customer,
        "cw_product": change.cw_product,
        "agreement_id": change.agreement_id,
        "addition_id": change.addition_id,
        "values": plain(dict(change.values)),
        "fields": [{"field": f.field, "old": plain(f.old), "new": plain(f.new)} for f in change.fields],
        "reason": change.reason,
        "warnings": list(change.warnings),
        "drift": change.drift,
        "old_amount": plain(change.old_amount),
        "new_amount": plain(change.new_amount),
        "explanation": [step.as_dict() for step in change.explanation.steps],
        "digest": change.digest(),  # an approval of this write is recognised by it (push.py)
    }
