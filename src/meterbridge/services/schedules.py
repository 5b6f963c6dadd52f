"""A tenant's schedules: saved and shown (every option checked against its kind), found due
(``due``), and run (``run_due``), whoever dispatches them (``meterbridge serve`` in-process, or
``meterbridge worker`` processes on PostgreSQL).

A run of a schedule that writes is a push of what is planned now (``force``): applied when
the safety verdict is apply, held (nothing written, the managers told) otherwise. It holds the
tenant's lease like any push, so two dispatchers can never bill one tenant at once, and a
month already pushed with nothing changed writes nothing. An occurrence is settled only when
its run ended (done, partial, held, or given up after ``MAX_FAILURES`` tries with backoff), by
a compare-and-set on the schedule, so a process killed half-way leaves it due, and the
journal of the push it was making lets the next run finish without writing anything twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from meterbridge.domain.periods import MissingDay
from meterbridge.domain.schedules import ScheduleKind, Target, Timing, latest_due, next_after, period_of
from meterbridge.services import notify, push
from meterbridge.services.actors import Actor
from meterbridge.services.audit import audit
from meterbridge.services.context import Context
from meterbridge.services.errors import Conflict, InvalidInput, NotFound, ServiceError
from meterbridge.services.scope import tenant_row
from meterbridge.services.validation import check_name
from meterbridge.services.views import Deleted, RunStatus, ScheduleRunView, ScheduleView
from meterbridge.store.models import ScheduleRow, Tenant
from meterbridge.store.repos import runs as runs_repo
from meterbridge.store.repos import schedules

log = logging.getLogger("meterbridge.schedules")

MAX_FAILURES = 6  # tries of one occurrence (1, 2, 4, 8, 16 minutes apart) before it is given up
LEASE_WAIT_SECONDS = 120.0  # a scheduled push waits this long for a push already running
KIND_OPTIONS = {
    ScheduleKind.AUTO_BILLING: {"at", "days"},
    ScheduleKind.MONTHLY: {"at", "day", "missing_day"},
    ScheduleKind.REFRESH: {"minute"},
}
OPTIONS = {"kind", "at", "days", "day", "missing_day", "minute", "target", "enabled", "since"}
DEFAULTS: dict[str, Any] = {"at": "02:00", "days": 3, "day": 1, "missing_day": "clamp", "minute": 0}


def options_of(kind: str) -> set[str]:
    """The options a schedule of ``kind`` takes (a form that shows them all sends only these)."""
    try:
        return KIND_OPTIONS[ScheduleKind(kind)] | {"kind", "target", "enabled", "since"}
    except ValueError:
        return {"kind"}  # an unknown kind: refused by name when saved


def _timing(row: ScheduleRow) -> Timing:
    t = row.timing
    return Timing(
        ScheduleKind(row.kind),
        at=time.fromisoformat(t.get("at", DEFAULTS["at"])),
        days=int(t.get("days", DEFAULTS["days"])),
        day=int(t.get("day", DEFAULTS["day"])),
        missing_day=MissingDay(t.get("missing_day", DEFAULTS["missing_day"])),
        minute=int(t.get("minute", DEFAULTS["minute"])),
    )


def _describe(timing: Timing, target: Target, zone: str) -> str:
    month = "the previous month" if target is Target.PREVIOUS else "the current month (provisionally)"
    at = timing.at.strftime("%H:%M")
    if timing.kind is ScheduleKind.AUTO_BILLING:
        days = "day 1" if timing.days == 1 else f"days 1-{timing.days}"
        return f"pushes {month} on {days} of each month at {at} ({zone}), applied within the safety thresholds"
    if timing.kind is ScheduleKind.MONTHLY:
        missing = "runs on its last day" if timing.missing_day is MissingDay.CLAMP else "does not run"
        lacking = f"; a month without day {timing.day} {missing}" if timing.day > 28 else ""
        return (
            f"pushes {month} on day {timing.day} of each month at {at} ({zone}){lacking}, applied within the safety "
            "thresholds"
        )
    return f"previews {month} every hour at minute {timing.minute:02d} and reports drift; never writes"


def _view(row: ScheduleRow, tenant: Tenant, now: datetime) -> ScheduleView:
    zone = ZoneInfo(tenant.time_zone)
    timing = _timing(row)
    target = Target(row.target)
    options = KIND_OPTIONS[timing.kind]
    after = max(row.since, row.last_slot) if row.last_slot else row.since
    waiting = latest_due(timing, zone, after, now) if row.enabled else None  # due, not run yet
    upcoming = (waiting or next_after(timing, zone, max(now, row.since))) if row.enabled else None
    return ScheduleView(
        name=row.name,
        kind=row.kind,
        at=timing.at.strftime("%H:%M") if "at" in options else None,
        days=timing.days if "days" in options else None,
        day=timing.day if "day" in options else None,
        missing_day=timing.missing_day.value if "missing_day" in options else None,
        minute=timing.minute if "minute" in options else None,
        target=target.value,
        time_zone=zone.key,
        enabled=row.enabled,
        writes=timing.writes,
        description=_describe(timing, target, zone.key),
        since=row.since,
        next_run_at=upcoming,
        due_now=waiting is not None,
        next_period=str(period_of(upcoming, zone, target)) if upcoming else None,
        last_slot=row.last_slot,
        last_run=row.last_run_id,
        last_status=row.last_status,
        last_error=row.last_error,
        failures=row.failures,
        retry_at=row.retry_at,
    )


def _checked(options: dict[str, Any], kind: ScheduleKind, zone: ZoneInfo) -> dict[str, Any]:
    """The timing options of ``kind``, each checked; an option another kind uses is refused."""
    timing: dict[str, Any] = {}
    for name, value in options.items():
        if name in ("kind", "target", "enabled", "since") or value is None:
            continue
        if name not in KIND_OPTIONS[kind]:
            users = sorted(k.value for k, names in KIND_OPTIONS.items() if name in names)
            raise InvalidInput(
                f"{name}: applies to {' and '.join(users)} schedules, not {kind.value} (which takes "
                f"{', '.join(sorted(KIND_OPTIONS[kind]))})",
                field=name,
            )
        timing[name] = _option(name, value)
    return timing


def _option(name: str, value: Any) -> Any:
    def number(low: int, high: int, what: str) -> int:
        try:
            n = int(str(value).strip()) if not isinstance(value, bool) else None
        except ValueError:
            n = None
        if n is None or not low <= n <= high:
            raise InvalidInput(f"{name}: {value!r} is not {what} ({low} to {high})", field=name)
        return n

    if name == "at":
        try:
            parsed = time.fromisoformat(str(value).strip())
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is not None or parsed.second or parsed.microsecond:
            raise InvalidInput(
                f"at: {value!r} is not a time of day as HH:MM (24-hour, the tenant's time zone), e.g. 02:00", field="at"
            )
        return parsed.strftime("%H:%M")
    if name == "days":
        return number(1, 28, "a number of days at the start of the month")
    if name == "day":
        return number(1, 31, "a day of the month")
    if name == "minute":
        return number(0, 59, "a minute past the hour")
    if name == "missing_day":
        if value not in {m.value for m in MissingDay}:
            raise InvalidInput(
                f"missing_day: {value!r} is not clamp (run on the month's last day) or skip (do not run that month)",
                field="missing_day",
            )
        return str(value)
    raise AssertionError(name)  # pragma: no cover


SINCE_YEARS = (2000, 2999)  # the years meterbridge bills (as a period's, a sample's)


def _since(value: Any, zone: ZoneInfo) -> datetime:
    """From when occurrences count: a date (its midnight on the tenant's clock) or a time, in the
    years 2000 to 2999."""
    if isinstance(value, datetime):
        parsed = value
    else:
        text = str(value).strip()
        try:
            parsed = (
                datetime.combine(date.fromisoformat(text), time(0)) if len(text) == 10 else datetime.fromisoformat(text)
            )
        except ValueError:
            raise InvalidInput(
                f"since: {value!r} is not a date (YYYY-MM-DD) or a time (YYYY-MM-DDTHH:MM, with an offset or in the "
                "tenant's time zone)",
                field="since",
            ) from None
    earliest, latest = SINCE_YEARS
    if not earliest <= parsed.year <= latest:  # checked before converting: year 1 or 9999 would overflow
        raise InvalidInput(f"since: {value!s} is not in the years {earliest} to {latest}", field="since")
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)).astimezone(UTC)


def save_schedule(ctx: Context, tenant: str, name: str, options: dict[str, Any], *, actor: Actor) -> ScheduleView:
    """Create the schedule or change the options given (the others are kept). A change of when
    it runs counts from now (an occurrence earlier today does not run, as in rCloud), unless
    ``since`` says from when; ``since`` in the past makes the latest missed occurrence run."""
    check_name(name, "name")
    unknown = sorted(set(options) - OPTIONS)
    if unknown:
        listed = ", ".join(sorted(OPTIONS))
        raise InvalidInput(f"{unknown[0]}: not a schedule option; they are {listed}", field=unknown[0])
    now = ctx.clock()
    with ctx.db.session() as session:
        t = tenant_row(session, tenant)
        zone = ZoneInfo(t.time_zone)
        row = schedules.by_name(session, t.id, name)
        kind_text = options.get("kind") or (row.kind if row else None)
        if kind_text is None:
            raise InvalidInput(
                "kind: a new schedule needs its kind: auto_billing (the first days of each month), monthly (a day of "
                "the month) or refresh (hourly preview, no writes)",
                field="kind",
            )
        try:
            kind = ScheduleKind(kind_text)
        except ValueError:
            raise InvalidInput(
                f"kind: {kind_text!r} is not auto_billing, monthly or refresh", field="kind"
            ) from None
        if row is not None and kind.value != row.kind:
            raise Conflict(
                f"kind: {name} is a {row.kind} schedule; remove it and add a {kind.value} one to change its kind",
                field="kind",
            )
        timing = _checked(options, kind, zone)
        target = options.get("target")
        if target is not None and target not in {t_.value for t_ in Target}:
            raise InvalidInput(
                f"target: {target!r} is not previous (the month before, billing in arrears) or current (the month "
                "so far, provisionally)",
                field="target",
            )
        enabled = options.get("enabled")
        if enabled is not None and not isinstance(enabled, bool):
            raise InvalidInput(f"enabled: {enabled!r} is not true or false", field="enabled")
        since = _since(options["since"], zone) if options.get("since") is not None else None
        before = _view(row, t, now).model_dump(mode="json") if row else None
        if row is None:
            row = ScheduleRow(
                tenant_id=t.id, name=name, kind=kind.value, timing={**_defaults(kind), **timing},
                target=target or Target.PREVIOUS.value, enabled=True if enabled is None else enabled,
                since=since or now, failures=0, created_at=now, updated_at=now,
            )  # fmt: skip
            session.add(row)
        else:
            merged = {**row.timing, **timing}
            if merged != row.timing or (target and target != row.target) or (enabled and not row.enabled):
                row.since = now  # when it runs changed: count from now
                row.failures, row.retry_at = 0, None
            row.timing = merged
            row.target = target or row.target
            row.enabled = row.enabled if enabled is None else enabled
            row.since = since or row.since
            row.updated_at = now
        session.flush()
        after = _view(row, t, now)
        audit(session, ctx, t.id, actor, "schedule.save", after.model_dump(mode="json"), before=before)
        return after


def _defaults(kind: ScheduleKind) -> dict[str, Any]:
    return {name: DEFAULTS[name] for name in sorted(KIND_OPTIONS[kind])}


def list_schedules(ctx: Context, tenant: str) -> list[ScheduleView]:
    now = ctx.clock()
    with ctx.db.session() as session:
        t = tenant_row(session, tenant)
        return [_view(row, t, now) for row in schedules.of_tenant(session, t.id)]


def show_schedule(ctx: Context, tenant: str, name: str) -> ScheduleView:
    with ctx.db.session() as session:
        t = tenant_row(session, tenant)
        return _view(_row(session, t.id, name), t, ctx.clock())


def _row(session: Any, tenant_id: int, name: str) -> ScheduleRow:
    row = schedules.by_name(session, tenant_id, name)
    if row is None:
        raise NotFound(f"no schedule named {name!r}", hint="list the schedules to see them", field="name")
    return row


def remove_schedule(ctx: Context, tenant: str, name: str, *, actor: Actor) -> Deleted:
    with ctx.db.session() as session:
        t = tenant_row(session, tenant)
        row = _row(session, t.id, name)
        before = _view(row, t, ctx.clock()).model_dump(mode="json")
        session.delete(row)
        audit(session, ctx, t.id, actor, "schedule.remove", {}, before=before)
        return Deleted(what="schedule", key=name, detail="it runs no more; its runs stay in the history")


# due and run -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Due:
    """One occurrence due now: which schedule of which tenant, and the occurrence (UTC)."""

    tenant_id: int
    tenant: str
    schedule_id: int
    name: str
    slot: datetime


def due(ctx: Context, now: datetime | None = None) -> list[Due]:
    """Every enabled schedule of every tenant with an occurrence due (once: the latest missed)."""
    now = now or ctx.clock()
    found: list[Due] = []
    with ctx.db.session() as session:
        for row, tenant in schedules.enabled_with_tenants(session):
            if row.retry_at is not None and row.retry_at > now:
                continue
            after = max(row.since, row.last_slot) if row.last_slot else row.since
            slot = latest_due(_timing(row), ZoneInfo(tenant.time_zone), after, now)
            if slot is not None:
                found.append(Due(tenant.id, tenant.key, row.id, row.name, slot))
    return found


async def run_due(ctx: Context, schedule_id: int, slot: datetime) -> ScheduleRunView:
    """Run one occurrence (a second run of a settled occurrence does nothing)."""
    with ctx.db.session() as session:
        row = schedules.by_id(session, schedule_id)
        if row is None:
            raise NotFound(f"schedule {schedule_id} was removed", field="schedule")
        t = session.get(Tenant, row.tenant_id)
        assert t is not None
        tenant, tenant_id, name = t.key, t.id, row.name
        zone, timing, target = ZoneInfo(t.time_zone), _timing(row), Target(row.target)
        settled = row.last_slot is not None and row.last_slot >= slot
        enabled, last_run = row.enabled, row.last_run_id
    period = str(period_of(slot, zone, target))
    if settled or not enabled:
        why = "already run" if settled else "the schedule is disabled"
        return ScheduleRunView(schedule=name, slot=slot, period=period, status="skipped", run=None, detail=why)
    actor = Actor.schedule(name)
    try:
        if timing.writes:
            outcome = await push.push(
                ctx, tenant, period, actor=actor, force=True, wait_seconds=LEASE_WAIT_SECONDS
            )
        else:
            outcome = await push.preview(ctx, tenant, period, actor=actor)
    except ServiceError as error:
        return _failed(ctx, tenant_id, schedule_id, name, slot, period, error)
    status = outcome.status.value
    detail = f"{outcome.totals.writes.landed} of {outcome.totals.writes.planned} writes landed"
    if outcome.status is RunStatus.HELD:
        detail = "held for approval: " + "; ".join(outcome.safety_reasons)
    if not timing.writes:
        drifted = outcome.drifted()
        detail = f"{len(drifted)} lines drifted (edited in ConnectWise)" if drifted else "no drift"
        status = "drift" if drifted else "previewed"
        if drifted and _first_time_told(ctx, schedule_id, outcome.checksum):
            notes = [
                f"{c.customer}: {c.cw_product} (addition {c.addition_id} on agreement {c.agreement_id}): "
                + ("; ".join(w for w in c.warnings if "edited in ConnectWise" in w) or c.reason)
                for c in drifted
            ]
            notify.queue_run(ctx, tenant_id, outcome.run, event="refresh.drift", notes=notes)
        _forget_same_refresh(ctx, tenant_id, last_run, outcome.checksum)
    with ctx.db.session() as session:
        schedules.settle(
            session, schedule_id, slot, {"last_run_id": outcome.run, "last_status": status, "last_error": None}
        )
    return ScheduleRunView(schedule=name, slot=slot, period=period, status=status, run=outcome.run, detail=detail)


def _forget_same_refresh(ctx: Context, tenant_id: int, previous: int | None, checksum: str) -> None:
    """An hourly refresh that found the same plan as its previous one keeps only the newer run
    (unless a message was sent about the older): the history holds what changed, not 24 copies
    of one plan a day."""
    if previous is None:
        return
    with ctx.db.session() as session:
        run = runs_repo.get(session, tenant_id, previous)
        if run is not None and run.kind == "preview" and run.checksum == checksum:
            runs_repo.delete_if_unreferenced(session, tenant_id, previous)


def _first_time_told(ctx: Context, schedule_id: int, checksum: str) -> bool:
    """Whether the managers have not been told of this plan's drift yet (a refresh finding the
    same drift every hour tells them once)."""
    with ctx.db.session() as session:
        row = schedules.by_id(session, schedule_id)
        if row is None or row.notified_checksum == checksum:
            return False
        row.notified_checksum = checksum
        return True


def _failed(
    ctx: Context, tenant_id: int, schedule_id: int, name: str, slot: datetime, period: str, error: ServiceError
) -> ScheduleRunView:
    """A run that could not happen or stopped: tried again later with backoff, given up (and the
    managers told) after MAX_FAILURES."""
    now = ctx.clock()
    with ctx.db.session() as session:
        row = schedules.by_id(session, schedule_id)
        if row is None:
            raise NotFound(f"schedule {schedule_id} was removed", field="schedule")
        row.failures += 1
        row.last_error = str(error)
        failures = row.failures
        if failures < MAX_FAILURES:
            row.retry_at = now + timedelta(minutes=2 ** (failures - 1))
            retry_at = row.retry_at
    if failures < MAX_FAILURES:
        log.warning("schedule %s (%s): try %s failed: %s", name, period, failures, error)
        return ScheduleRunView(
            schedule=name, slot=slot, period=period, status="retrying", run=None,
            detail=f"{error}; tried {failures} of {MAX_FAILURES} times, next at {retry_at:%Y-%m-%d %H:%M} UTC",
        )  # fmt: skip
    with ctx.db.session() as session:
        schedules.settle(session, schedule_id, slot, {"last_status": "failed", "last_error": str(error)})
    notify.queue_schedule_failure(ctx, tenant_id, name, period, str(error), error.hint)
    return ScheduleRunView(
        schedule=name, slot=slot, period=period, status="failed", run=None,
        detail=f"{error}; given up after {failures} tries",
    )  # fmt: skip
