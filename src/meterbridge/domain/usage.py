"""Usage samples and their aggregation over a period, by the basis chosen per product.

Bases:
* ``last``: the last sample taken in the period (end-of-month storage);
* ``max``: the highest sample (high-water mark);
* ``average``: time-weighted: each sample's value holds until the next sample; the value at the
  period start is the last sample before it, if any, else the time before the first sample is
  left out (and said so); the result is kept to 6 decimals (``round_usage``);
* ``sum``: all samples added (traffic, restores).

Samples outside ``[start, end)`` are ignored (counted in the explanation); samples received
after the period was pushed (``pushed_at``) are used and flagged as late: they change a bill
that was already sent. A month-end import before the first push is not late. A gap between
samples longer than ``max_gap`` is flagged, since the average carried a value across it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from enum import StrEnum

from meterbridge.domain.explanation import Explanation, Step
from meterbridge.domain.money import ZERO, round_usage
from meterbridge.domain.units import Unit, convert

#: The source of samples added or imported without naming one.
DEFAULT_SOURCE = "default"


class Basis(StrEnum):
    LAST = "last"
    MAX = "max"
    AVERAGE = "average"
    SUM = "sum"


@dataclass(frozen=True)
class UsageSample:
    customer: str
    product: str
    at: datetime  # when the usage was measured (aware)
    quantity: Decimal
    unit: Unit
    received_at: datetime | None = None  # when it reached meterbridge, for lateness


@dataclass(frozen=True)
class Aggregate:
    quantity: Decimal
    unit: Unit
    samples: int
    explanation: Explanation


def aggregate(
    samples: Iterable[UsageSample],
    start: datetime,
    end: datetime,
    basis: Basis,
    unit: Unit,
    *,
    max_gap: timedelta = timedelta(days=2),
    pushed_at: datetime | None = None,
) -> Aggregate:
    """One product's usage for one customer over ``[start, end)``, in ``unit``.

    Times are compared in UTC (aware datetimes sharing a zone subtract as wall-clock times,
    which is wrong across a DST change).
    """
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    every = sorted((replace(s, at=s.at.astimezone(UTC)) for s in samples), key=lambda s: s.at)
    inside = [s for s in every if start <= s.at < end]
    before = [s for s in every if s.at < start]
    ignored = len(every) - len(inside) - (1 if basis is Basis.AVERAGE and before else 0)
    steps: list[Step] = []
    units = sorted({s.unit.value for s in inside})
    steps.append(
        Step(
            "usage",
            f"{len(inside)} sample(s) from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} "
            f"({', '.join(units) or 'none'})",
            Decimal(len(inside)),
        )
    )
    if ignored > 0:
        steps.append(Step("usage", f"{ignored} sample(s) outside the period ignored"))
    late = [s for s in inside if pushed_at is not None and s.received_at is not None and s.received_at > pushed_at]
    if late:
        steps.append(
            Step(
                "usage",
                f"{len(late)} sample(s) arrived after this period was first pushed ({pushed_at:%Y-%m-%d %H:%M} UTC) "
                "and are counted: the bill already sent changes",
                warning=True,
            )
        )
    values = [(s.at, convert(s.quantity, s.unit, unit)) for s in inside]
    if units and units != [unit.value]:
        steps.append(Step("unit", f"converted to {unit.value}"))
    if not values and not (basis is Basis.AVERAGE and before):
        steps.append(Step("aggregation", f"{basis.value}: no usage in the period, quantity 0", ZERO, warning=True))
        return Aggregate(ZERO, unit, 0, Explanation(tuple(steps)))

    if basis is Basis.LAST:
        quantity = values[-1][1]
        detail = f"last sample, taken {values[-1][0]:%Y-%m-%d %H:%M}"
    elif basis is Basis.MAX:
        quantity = max(v for _, v in values)
        detail = "highest sample (high-water mark)"
    elif basis is Basis.SUM:
        quantity = sum((v for _, v in values), ZERO)
        detail = f"sum of {len(values)} sample(s)"
    else:
        exact, detail, gap_steps = _time_weighted(values, before, start, end, unit, max_gap)
        steps.extend(gap_steps)
        quantity = round_usage(exact)
    steps.append(Step("aggregation", f"{basis.value}: {detail} = {quantity} {unit.value}", quantity))
    return Aggregate(quantity, unit, len(values), Explanation(tuple(steps)))


def _time_weighted(
    values: list[tuple[datetime, Decimal]],
    before: list[UsageSample],
    start: datetime,
    end: datetime,
    unit: Unit,
    max_gap: timedelta,
) -> tuple[Decimal, str, list[Step]]:
    steps: list[Step] = []
    points = list(values)
    covered_from = start
    if before:
        carried = convert(before[-1].quantity, before[-1].unit, unit)
        points.insert(0, (start, carried))
        steps.append(
            Step(
                "aggregation",
                f"value at the period start carried from {before[-1].at:%Y-%m-%d %H:%M}: {carried} {unit.value}",
            )
        )
    elif points[0][0] > start:
        covered_from = points[0][0]
        steps.append(
            Step(
                "aggregation",
                f"no sample before {covered_from:%Y-%m-%d %H:%M}: the average covers the time after it only",
                warning=True,
            )
        )
    total = ZERO
    with localcontext() as context:
        context.prec = 50
        for index, (moment, value) in enumerate(points):
            until = points[index + 1][0] if index + 1 < len(points) else end
            if until - moment > max_gap:
                steps.append(
                    Step(
                        "aggregation",
                        f"gap from {moment:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M}: {value} carried across it",
                        warning=True,
                    )
                )
            total += value * Decimal((until - moment).total_seconds())
        seconds = Decimal((end - covered_from).total_seconds())
        quantity = total / seconds if seconds else ZERO
    return quantity, f"time-weighted over {seconds / 86400:.2f} day(s)", steps
