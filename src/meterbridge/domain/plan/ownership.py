"""What meterbridge owns stays owned, whatever happens to the configuration that made it.

An addition meterbridge created or adopted keeps billing until a plan says otherwise; so when
its line is no longer desired (its configuration deleted, replaced, disabled, re-keyed, or its
product changed), or its line now goes to another agreement, or has no usage under the ``cancel``
zero policy, the plan either hands it to the line that now bills the same product on the same
agreement (``handovers``: that line updates it instead of creating a second addition beside it),
or retires it so that it bills no month it should not (``retire``), by the invoice model's
rules (domain/invoice.py): a month is billed by every addition active on any of its days.

And a line never creates an addition beside one of the same product, on the same agreement, in
the same period, that nobody owns (``unowned_beside``): the company is held until that addition
is adopted (an addition rule or pin) or acknowledged (the configuration's ``beside``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from decimal import Decimal

from meterbridge.domain.billing import LineKey, Strategy
from meterbridge.domain.copies import evolve
from meterbridge.domain.periods import Period
from meterbridge.domain.plan.changes import ActualAddition, AgreementView, Change, ChangeKind, FieldChange, Target
from meterbridge.domain.plan.strategy import covers


def invoiced(agreement: AgreementView | None, period: Period) -> bool:
    """ConnectWise has invoiced the whole period already (its next invoice date is after it)."""
    return agreement is not None and agreement.next_invoice is not None and agreement.next_invoice > period.last_day


def first_open(agreement: AgreementView | None, period: Period) -> Period:
    """The first month from ``period`` on that ConnectWise has not invoiced on the agreement."""
    first = period
    while invoiced(agreement, first):
        first = first.next()
    return first


def on_addition(key: str, existing: ActualAddition) -> Change:
    """A noop of line ``key`` on an owned addition: what ending or retiring it starts from."""
    return Change(
        ChangeKind.NOOP,
        key=key,
        customer=LineKey.customer_of(key),
        cw_product=existing.cw_product,
        agreement_id=existing.agreement_id,
        addition_id=existing.id,
        old_quantity=existing.quantity,
    )


def retire(key: str, existing: ActualAddition, period: Period, agreement: AgreementView | None, why: str) -> Change:
    """Stop an owned addition billing ``period`` and after: cancelled at the end of the month
    before (the last month it rightly billed), or, when ``period`` is its first month (ConnectWise
    refuses a cancelled date before the effective date), its quantity set to 0. A period
    ConnectWise has invoiced already keeps what it invoiced: the addition ends with the last month
    ConnectWise has invoiced (ended before, a later month's plan would read that month as never
    billed by it, and bill it again). A noop when it already bills nothing from ``period`` on."""
    base = on_addition(key, existing)
    before = period.first_day - timedelta(days=1)
    if existing.cancelled is not None and existing.cancelled <= before:
        return evolve(base, reason="already ended before this period")
    if invoiced(agreement, period):
        last = first_open(agreement, period).first_day - timedelta(days=1)
        if existing.cancelled is not None and existing.cancelled <= last:
            return evolve(base, reason=f"{why}; {period} is invoiced already, and the addition ends with it")
        return evolve(
            base,
            kind=ChangeKind.CANCEL,
            fields=(FieldChange("cancelledDate", existing.cancelled, last),),
            reason=f"{why}: ended with {last:%Y-%m}, the last month ConnectWise has invoiced",
            warnings=(
                f"ConnectWise has invoiced {period} already (agreement {existing.agreement_id}'s next invoice date "
                f"is {agreement.next_invoice if agreement else '?'}): what it invoiced stays; the addition bills no "
                "later month",
            ),
        )
    if existing.effective is None or existing.effective < period.first_day:
        return evolve(
            base,
            kind=ChangeKind.CANCEL,
            fields=(FieldChange("cancelledDate", existing.cancelled, before),),
            reason=f"{why}: cancelled on {before}, the last day of the last month it rightly billed, so {period} is "
            "not billed by it",
        )
    if existing.quantity == 0:
        return evolve(base, reason=f"{why}; it bills nothing in {period} already (quantity 0)")
    return evolve(
        base,
        kind=ChangeKind.UPDATE,
        fields=(FieldChange("quantity", existing.quantity, Decimal(0)),),
        reason=f"{why}: {period} is its first month and ConnectWise refuses a cancelled date before the effective "
        f"date, so its quantity goes to 0 and it bills nothing for {period}",
    )


def handovers(targets: Sequence[Target], actual: Sequence[ActualAddition]) -> dict[int, str]:
    """Additions of lines no longer desired that a desired line takes over: addition id -> its
    owned key under the line. A line takes the additions of the same customer, agreement and
    ConnectWise product, each under the period key it had ("running", "2026-10", or a
    correction's "2026-10+2026-11"), as if the line had always been theirs: its strategy rules
    then say what each month may do with them (a running addition and per-period ones beside it
    are the switch of strategy those rules already settle), and what they had ConnectWise invoice
    counts for their months. One it cannot take (the line holds an addition under that period key
    already, or took that key from another gone line) stays the gone line's, to be retired. A
    re-keyed configuration takes its whole history, whichever month is planned (every addition a
    gone line held under a key: a running line ended and started again had two)."""
    desired = {t.line.key.prefix for t in targets}
    own: set[tuple[str, str]] = set()  # (line, period key) of the desired lines' own additions
    orphans: dict[tuple[str, int, str], list[ActualAddition]] = {}
    for addition in sorted(actual, key=lambda a: a.id):
        if addition.owned_key is None:
            continue
        prefix, period_key = LineKey.split(addition.owned_key)
        if prefix in desired:
            own.add((prefix, period_key))
            continue
        where = (LineKey.customer_of(addition.owned_key), addition.agreement_id, addition.cw_product.casefold())
        orphans.setdefault(where, []).append(addition)
    taken: dict[int, str] = {}
    took_from: dict[tuple[str, str], str] = {}  # (line, period key) -> the gone line it took them from
    for target in sorted(targets, key=lambda t: str(t.line.key)):
        line = target.line
        if target.agreement is None or target.unresolved is not None:
            continue
        prefix = line.key.prefix
        for addition in orphans.get((line.customer, target.agreement.id, line.cw_product.casefold()), []):
            gone, period_key = LineKey.split(addition.owned_key or "")
            if addition.id in taken or (prefix, period_key) in own:
                continue
            # every addition of one gone line under a key: a running line ended and started again
            # has two "running" additions (its history, and the one billing now), both its own
            if took_from.setdefault((prefix, period_key), gone) != gone:
                continue
            taken[addition.id] = f"{prefix}/{period_key}"
    return taken


def unowned_beside(
    target: Target, period: Period, unowned: Mapping[tuple[int, str], Sequence[ActualAddition]]
) -> list[ActualAddition]:
    """The additions nobody owns that the target's line would bill beside: the same ConnectWise
    product on the same agreement, billing the period (a running line: or any month after it), not
    acknowledged."""
    if target.agreement is None:
        return []
    found = unowned.get((target.agreement.id, target.line.cw_product.casefold()), [])
    running = target.line.strategy is Strategy.RUNNING  # it bills every month from the period on
    return [
        a
        for a in found
        if (covers(a, period) or (running and (a.cancelled is None or a.cancelled >= period.first_day)))
        and a.bill_customer != "DoNotBill"
        and a.id not in target.beside
    ]
