"""Schedules, notifications and webhooks as a user tries them at the command line, against cwsim
on an injected clock: every option checked against its kind, a due schedule run with
`schedules run-due`, the managers' email waiting (no mail server yet) and shown, and every next
step printed works as printed."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.support.cli_world import Cli, company_scenario, make_cli
from tests.support.contract import ContractLog


@pytest.fixture
def cli(database_url: str, contract_log: ContractLog, tmp_path: Path) -> Iterator[Cli]:
    yield from make_cli(database_url, contract_log, tmp_path, company_scenario(3))


def printed(output: str, lead: str) -> list[str]:
    """The command a line of output tells the user to run (between backquotes), as argv."""
    [line] = [line for line in output.splitlines() if lead in line]
    words = shlex.split(line.split(lead, 1)[1].split("`")[1])
    assert words[0] == "meterbridge"
    return words[1:]


def test_a_schedule_bills_the_month_and_the_email_waits_for_a_mail_server(cli: Cli) -> None:
    cli.set_up("C1", "C2")
    cli("configurations", "set", "C1", "C1-storage", "--products", "storage")
    cli("configurations", "set", "C2", "C2-storage", "--products", "storage")
    cli("usage", "add", "C1", "storage", "150", "GB", "--at", "2026-10-20T00:00:00Z")
    cli("usage", "add", "C2", "storage", "75.5", "GB", "--at", "2026-10-20T00:00:00Z")
    empty = cli("schedules", "list")
    cli(*printed(empty, "add one, e.g. "))  # the example it prints works as printed
    cli("schedules", "remove", "auto-billing")
    cli("settings", "set", "managers=billing@msp.example,owner@msp.example")
    assert cli.json("settings", "show")["managers"] == ["billing@msp.example", "owner@msp.example"]
    bad = cli("settings", "set", "managers=billing@", code=2)
    assert "manager 1: 'billing@' is not an email address" in bad

    refused = cli("schedules", "set", "auto", "--kind", "auto_billing", "--day", "5", code=2)
    assert "day: applies to monthly schedules, not auto_billing" in refused
    assert "kind: a new schedule needs its kind" in cli("schedules", "set", "auto", "--days", "2", code=2)
    made = cli("schedules", "set", "auto", "--kind", "auto_billing", "--days", "3", "--since", "2026-11-01")
    assert "pushes the previous month on days 1-3 of each month at 02:00 (UTC)" in made
    assert "next: due now (the 2026-11-03 02:00 UTC run, for 2026-10)" in made  # 09:00 on the 3rd
    listed = cli.json("schedules", "list")
    assert [(s["name"], s["kind"], s["days"], s["day"]) for s in listed] == [("auto", "auto_billing", 3, None)]

    ran = cli("schedules", "run-due")
    assert "auto (2026-10): done: 2 of 2 writes landed" in ran
    assert "notifications: 0 sent, 1 to retry, 0 given up" in ran
    assert len([a for a in cli.additions() if not a.get("cancelledDate")]) == 2
    assert cli("schedules", "run-due").startswith("nothing was due")
    [run] = [r for r in cli.json("runs", "list") if r["kind"] == "push"]
    assert (run["trigger"], run["started_by"]) == ("automatic", "schedule:auto")
    [waiting] = cli.json("notifications", "list")
    assert (waiting["status"], waiting["run"], waiting["target"]) == (
        "pending", run["id"], "billing@msp.example, owner@msp.example"
    )
    assert "no mail server is set (MBRIDGE_SMTP_HOST)" in waiting["last_error"]
    shown = cli.json("runs", "show", str(run["id"]))
    assert [n["channel"] for n in shown["notifications"]] == ["email"]

    # a manual push says what was not sent, and how to see why
    cli("usage", "add", "C2", "storage", "80", "GB", "--at", "2026-10-25T00:00:00Z")
    pushed = cli("push", "--period", "2026-10", "--force", code=3)  # 1 of 2 lines changes: held
    assert "notifications: " in pushed and " not sent" in pushed
    assert "billing@msp.example" in cli(*printed(pushed, "notifications: "))
    assert cli.json("schedules", "show", "auto")["last_status"] == "done"

    # a Backup Stats publish tells its messages at once too, and says what was not sent
    cli("customers", "add", "C1", "--managed-id", "1001")
    published = cli("backup-stats", "--period", "2026-10")
    # the three emails of the month (the schedule's, the push's, this one) wait for a mail server
    assert "1 created" in published and "notifications: 3 not sent" in published, published
    assert "no mail server is set" in cli(*printed(published, "notifications: "))
    newest = cli.json("notifications", "list")[0]
    assert "backup stats publish of 2026-10" in newest["subject"] and newest["attempts"] == 0, newest


def test_webhooks_at_the_command_line(cli: Cli) -> None:
    cli("init")
    added = cli("webhooks", "add", "books", "https://hooks.example.com/meterbridge")
    assert "signing secret (shown this once): " in added
    assert cli.json("webhooks", "list")[0]["url"] == "https://hooks.example.com/meterbridge"
    assert "secret" not in cli.json("webhooks", "list")[0]
    assert "url: put no user or password" in cli("webhooks", "add", "x", "https://u:p@example.com/", code=2)
    assert "name: a webhook named 'books' exists" in cli("webhooks", "add", "books", "https://x.example.com", code=2)
    assert cli.json("webhooks", "disable", "books")["enabled"] is False
    assert "removed" in cli("webhooks", "remove", "books")
    assert "no webhook named 'books'" in cli("webhooks", "remove", "books", code=2)


def test_a_monthly_schedule_on_day_31_in_the_cli(cli: Cli) -> None:
    cli("init", "--time-zone", "Europe/London")
    cli.clock.now = datetime(2027, 1, 31, 12, tzinfo=UTC)  # type: ignore[attr-defined]
    day_31 = ("--kind", "monthly", "--day", "31", "--missing-day", "skip", "--at", "09:00")
    skip = cli.json("schedules", "set", "m", *day_31)
    assert (skip["next_run_at"], skip["next_period"]) == ("2027-03-31T08:00:00Z", "2027-02")  # BST, February skipped
    clamp = cli.json("schedules", "set", "m", "--missing-day", "clamp")
    assert (clamp["next_run_at"], clamp["next_period"]) == ("2027-02-28T09:00:00Z", "2027-01")
    assert "runs on its last day" in clamp["description"]
    assert "minute: applies to refresh schedules" in cli("schedules", "set", "m", "--minute", "5", code=2)
    assert cli.json("schedules", "set", "m", "--disabled")["next_run_at"] is None


def test_since_outside_the_years_2000_to_2999_is_refused_in_one_line(cli: Cli) -> None:
    cli("init")
    for since in ("1999-12-31", "3000-01-01", "3001-06-01T00:00", "0001-01-01", "9999-12-31T23:59-05:00"):
        refused = cli("schedules", "set", "m", "--kind", "monthly", "--since", since, code=2)
        assert refused.strip() == f"error: since: {since} is not in the years 2000 to 2999", refused
    assert cli.json("schedules", "list") == []
    given = ("2000-01-01", "2999-12-31")
    edges = [cli.json("schedules", "set", "m", "--kind", "monthly", "--since", s)["since"] for s in given]
    assert edges == ["2000-01-01T00:00:00Z", "2999-12-31T00:00:00Z"]


def test_workers_need_postgresql_and_say_so(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from meterbridge.cli import app

    env = {"MBRIDGE_HOME": str(tmp_path / "home"), "MBRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'mb.db'}"}
    done = CliRunner().invoke(app, ["worker"], env=env)
    assert done.exit_code == 2
    assert "workers need PostgreSQL" in done.output and "`meterbridge serve` runs the schedules itself" in done.output
