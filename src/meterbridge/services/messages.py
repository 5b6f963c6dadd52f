"""What the managers read about a run (an email's subject and text) and what a webhook receives
(JSON), both made from the run as it was recorded: outcome, totals in money, failed and blocked
companies with their reasons, and a link to the run in the console."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from meterbridge.domain.money import format_money
from meterbridge.services.views import RunView

#: what each run status is called in a subject line
HEADLINES = {
    "done": "done",
    "partial": "partly done: some companies failed or are blocked",
    "held": "held for approval",
    "refused": "refused: the plan changed since it was reviewed",
    "failed": "failed",
    "interrupted": "interrupted",
    "previewed": "previewed",
}
WHAT = {"push": "Push", "preview": "Preview", "stats": "Backup Stats publish"}
MAX_LISTED = 50  # companies listed by name in an email; the rest are counted
NAMED = 3  # customers named in a one-line sentence; the rest are counted
DEFAULT_TENANT = "default"


def counted(n: int, word: str) -> str:
    """1 line, 3 lines; 1 company, 2 companies."""
    if n == 1:
        return f"1 {word}"
    return f"{n:,} {word[:-1]}ies" if word.endswith("y") else f"{n:,} {word}s"


def _some(names: Sequence[str], total: int | None = None) -> str:
    """ "C009, C010 and 4 more": the first few of a list, the rest counted."""
    total = len(names) if total is None else total
    shown = ", ".join(names[:NAMED])
    return f"{shown} and {total - min(len(names), NAMED):,} more" if total > NAMED else shown


def nothing_to_write(summary: Mapping[str, Any], *, written: bool = False) -> str:
    """Why a plan has no write, as it is: lines blocked (the companies named), customers whose push
    is off, or ConnectWise holding the plan already (``written``: said of a push, not a preview)."""
    head = "nothing written" if written else "nothing to write"
    counts = summary.get("counts") or {}
    companies = summary.get("companies") or {}
    blocked = sorted(customer for customer, result in companies.items() if result.get("status") == "blocked")
    off = summary.get("push_off") or {}
    parts = []
    lines = int(counts.get("blocked", 0))
    if lines:
        parts.append(f"{counted(lines, 'line')} blocked ({_some(blocked)})")
    elif blocked:
        parts.append(f"{counted(len(blocked), 'company')} blocked ({_some(blocked)})")
    if off.get("count"):
        named = _some(off.get("customers") or [], off["count"])
        parts.append(f"{counted(off['count'], 'customer')} with push off ({named})")
    if not parts:
        return f"{head}: ConnectWise already holds this plan"
    rest = "; every other line is as ConnectWise holds it" if counts.get("noop") else ""
    return f"{head}: {', '.join(parts)}{rest}"


def resumed_text(found: int, not_applied: int, updates_landed: int) -> str | None:
    """What settling an earlier push's unfinished writes found, in words (None: there were none)."""
    parts = []
    if found:
        parts.append(f"{counted(found, 'create')} had landed (adopted, not created again)")
    if updates_landed:
        parts.append(f"{updates_landed:,} update{'s or cancels' if updates_landed > 1 else ' or cancel'} had landed")
    if not_applied:
        parts.append(f"{counted(not_applied, 'write')} had not reached ConnectWise (planned again)")
    if not parts:
        return None
    return "Resumed an earlier push: of its unfinished writes, " + "; ".join(parts) + "."


def push_command(tenant: str, period: str, checksum: str, *, customers: Sequence[str] = (), held: bool = False) -> str:
    """The command that pushes a reviewed plan (``held``: with its held companies approved)."""
    words = ["meterbridge"]
    if tenant != DEFAULT_TENANT:
        words += ["--tenant", tenant]
    words += ["push", "--period", period]
    for customer in customers:
        words += ["--customer", customer]
    words += ["--checksum", checksum]
    if held:
        words.append("--approve-held")
    return " ".join(shlex.quote(word) for word in words)


def held_lines(run: RunView, tenant: str) -> list[str]:
    """The companies a run held for approval, each with its reasons and the command approving it
    alone, and the command approving them all at once."""
    companies = run.summary.get("companies") or {}
    held = sorted((customer, result) for customer, result in companies.items() if result.get("status") == "held")
    if not held or run.checksum is None:
        return []
    wrote = run.kind.value == "push" and run.status.value in ("done", "partial")
    lines = [
        f"Held for approval ({counted(len(held), 'company')}"
        + ("; nothing was written for them, the other companies were):" if wrote else "; nothing is written for them):")
    ]
    for customer, result in held[:MAX_LISTED]:
        name = f" {result['name']}" if result.get("name") else ""
        lines += [f"- {customer}{name}: {reason}" for reason in result.get("reasons") or []]
        if result.get("checksum"):
            command = push_command(tenant, run.period, result["checksum"], customers=[customer], held=True)
            lines.append(f"  approve it alone: {command}")
    if len(held) > MAX_LISTED:
        lines.append(f"- and {len(held) - MAX_LISTED} more (see the run)")
    scope = run.summary.get("customers") or []
    everything = push_command(tenant, run.period, run.checksum, customers=scope, held=True)
    lines += [
        f"Approve every held company at once: {everything}",
        "(or in the console: the run's page, each held company's Approve button)",
        "",
    ]
    return lines


@dataclass(frozen=True)
class Tenantish:
    key: str
    name: str
    currency: str


@dataclass(frozen=True)
class Composed:
    event: str
    subject: str
    text: str
    payload: dict[str, Any]


def run_link(public_url: str, tenant: str, run_id: int) -> str:
    return f"{public_url}/console/t/{tenant}/runs/{run_id}"


def _money(value: Any, currency: str) -> str:
    return format_money(Decimal(str(value)), currency)


def _change(value: Any, currency: str) -> str:
    amount = Decimal(str(value))
    return ("+" if amount > 0 else "") + format_money(amount, currency)


def _companies(run: RunView, status: str) -> list[tuple[str, list[str]]]:
    companies = run.summary.get("companies") or {}
    return sorted(
        (name, list(result.get("reasons") or []))
        for name, result in companies.items()
        if result.get("status") == status
    )


def _failed(run: RunView) -> list[tuple[str, list[str]]]:
    return _companies(run, "partial") + _companies(run, "failed")


def compose_run(
    run: RunView, tenant: Tenantish, public_url: str, *, event: str | None = None, notes: list[str] | None = None
) -> Composed:
    """The message about a push (or a refresh preview) that ended (``notes``: the lines a refresh
    found edited in ConnectWise)."""
    status = run.status.value
    event = event or f"{run.kind.value}.{status}"
    what = WHAT[run.kind.value]
    headline = HEADLINES.get(status, status)
    held = _companies(run, "held")
    if status == "partial" and held:
        headline = f"partly done: {counted(len(held), 'company')} held for approval"
    if event == "refresh.drift":
        headline = "found additions edited in ConnectWise (drift)"
    link = run_link(public_url, tenant.key, run.id)
    totals = run.summary.get("totals") or {}
    writes = totals.get("writes") or {}
    failed, blocked = _failed(run), _companies(run, "blocked")
    error = run.summary.get("error") or {}
    subject_tail = ""
    if status in ("done", "partial") and totals:
        subject_tail = f", {_money(totals.get('billed_after', 0), tenant.currency)} billed"
    subject = f"[meterbridge] {tenant.name}: {what.lower()} of {run.period} {headline}{subject_tail}"
    lines = [
        f"{what} of {run.period} for {tenant.name} (tenant {tenant.key}): {headline}.",
        f"Started by {run.started_by} ({run.trigger}) at {run.started_at:%Y-%m-%d %H:%M} UTC"
        + (f", finished {run.finished_at:%Y-%m-%d %H:%M} UTC." if run.finished_at else "."),
        "",
    ]
    if error:
        lines += [f"Why: {error.get('message', '')}", *([f"What to do: {error['hint']}"] if error.get("hint") else [])]
        lines.append("")
    if totals:
        lines += [
            f"Billed before: {_money(totals.get('billed_before', 0), tenant.currency)}",
            f"Billed after:  {_money(totals.get('billed_after', 0), tenant.currency)} "
            f"(change {_change(totals.get('billed_change', 0), tenant.currency)})",
            f"Writes: {writes.get('planned', 0)} planned, {writes.get('landed', 0)} landed, "
            f"{writes.get('failed', 0)} failed",
            "Companies: "
            + ", ".join(f"{count} {name}" for name, count in sorted((totals.get("companies") or {}).items())),
            "",
        ]
    if status == "held" and run.verdict == "hold" and not run.summary.get("approval"):  # held whole
        lines += ["Held because:", *(f"- {reason}" for reason in run.summary.get("safety_reasons") or []), ""]
        command = push_command(tenant.key, run.period, run.checksum or "", customers=run.summary.get("customers") or [])
        lines += [
            f"Nothing was written. Review the plan and approve it by its checksum {run.checksum} (console: Billing, "
            f"or `{command}`).",
            "",
        ]
    elif status == "held":
        lines += ["Nothing was written: every write of the plan is a held company's.", ""]
    lines += held_lines(run, tenant.key)
    resumed = run.summary.get("resumed") or {}
    said = resumed_text(resumed.get("found", 0), resumed.get("not_applied", 0), resumed.get("updates_landed", 0))
    if said:
        lines += [said, ""]
    if notes:
        lines += [
            f"Edited in ConnectWise since meterbridge wrote them ({len(notes)}):",
            *(f"- {note}" for note in notes[:MAX_LISTED]),
            *([f"- and {len(notes) - MAX_LISTED} more (see the run)"] if len(notes) > MAX_LISTED else []),
            "The next push sets them back to what the rules say, or holds the plan (drift policy).",
            "",
        ]
    if run.kind.value == "stats":
        summary = run.summary
        lines.append(
            "Backup Stats configurations: "
            + ", ".join(f"{len(summary.get(name) or [])} {name}" for name in ("created", "updated", "unchanged"))
        )
        lines.append("")
        failed = sorted((c, [why]) for c, why in (summary.get("failed") or {}).items())
        blocked = sorted((c, [why]) for c, why in (summary.get("skipped") or {}).items())
    for title, listed in (("Failed companies", failed), ("Blocked companies", blocked)):
        if listed:
            lines.append(f"{title} ({len(listed)}):")
            lines += [
                f"- {name}: {'; '.join(reasons) or 'no reason recorded'}" for name, reasons in listed[:MAX_LISTED]
            ]
            if len(listed) > MAX_LISTED:
                lines.append(f"- and {len(listed) - MAX_LISTED} more (see the run)")
            lines.append("")
    lines.append(f"The run: {link}")
    payload = {
        "event": event,
        "tenant": tenant.key,
        "run": {
            "id": run.id,
            "kind": run.kind.value,
            "period": run.period,
            "status": status,
            "trigger": run.trigger,
            "started_by": run.started_by,
            "started_at": run.started_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "checksum": run.checksum,
            "verdict": run.verdict,
        },
        "totals": totals or None,
        "safety_reasons": list(run.summary.get("safety_reasons") or []),
        "failed": [{"customer": name, "reasons": reasons} for name, reasons in failed],
        "blocked": [{"customer": name, "reasons": reasons} for name, reasons in blocked],
        "held": [{"customer": name, "reasons": reasons} for name, reasons in held],
        "error": error or None,
        "drifted": list(notes or []),
        "url": link,
    }
    return Composed(event, subject, "\n".join(lines) + "\n", payload)


def compose_schedule_failure(
    tenant: Tenantish, schedule: str, period: str, message: str, hint: str | None, public_url: str
) -> Composed:
    """A scheduled run that gave up without a run to show (the lease stayed held, set-up missing...)."""
    subject = f"[meterbridge] {tenant.name}: schedule {schedule} could not bill {period}"
    lines = [
        f"The schedule {schedule} of {tenant.name} (tenant {tenant.key}) could not run for {period}; it has stopped "
        "retrying this occurrence.",
        "",
        f"Why: {message}",
        *([f"What to do: {hint}"] if hint else []),
        "",
        f"The billing page: {public_url}/console/t/{tenant.key}/billing",
    ]
    payload = {
        "event": "schedule.failed",
        "tenant": tenant.key,
        "schedule": schedule,
        "period": period,
        "error": {"message": message, "hint": hint},
        "url": f"{public_url}/console/t/{tenant.key}/billing",
    }
    return Composed("schedule.failed", subject, "\n".join(lines) + "\n", payload)


def webhook_body(composed: Composed, delivery: int) -> str:
    return json.dumps({**composed.payload, "delivery": delivery}, sort_keys=True, separators=(",", ":"))
