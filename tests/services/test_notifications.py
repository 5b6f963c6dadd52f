"""Notifications for real: the managers' email through a real SMTP server on loopback (aiosmtpd,
STARTTLS and a login), retried while the server is down and never losing the run; a webhook on
loopback, signed (HMAC-SHA256 over the timestamp and the body) and retried after a 500."""

from __future__ import annotations

import asyncio
import email
import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message as EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tests.services.conftest import World
from tests.support.actors import ACTOR
from tests.support.reference_month import PERIOD
from tests.support.server import free_port, serve

from cwsim.tls import write_self_signed
from meterbridge.domain.money import format_money
from meterbridge.hooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from meterbridge.mail import SmtpMailer, SmtpSettings
from meterbridge.services import notify, push, runs, tenants

MANAGERS = ["billing@msp.example", "owner@msp.example"]


@dataclass
class Inbox:
    messages: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 OK"


@dataclass
class SmtpServer:
    port: int
    inbox: Inbox
    client_tls: ssl.SSLContext
    controller: Controller | None = None

    def start(self, tls: ssl.SSLContext) -> None:
        def login(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"meterbridge", b"s3cret")
            return AuthResult(success=ok, handled=False)

        self.controller = Controller(
            self.inbox, hostname="127.0.0.1", port=self.port, tls_context=tls, require_starttls=True,
            authenticator=login, auth_require_tls=True, auth_exclude_mechanism=["LOGIN"],
        )  # fmt: skip
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[tuple[SmtpServer, ssl.SSLContext]]:
    pair = write_self_signed(tmp_path / "smtp.pem", tmp_path / "smtp.key", datetime.now(UTC))
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(str(pair.cert_file), str(pair.key_file))
    client_tls = ssl.create_default_context(cafile=str(pair.cert_file))
    server = SmtpServer(free_port(), Inbox(), client_tls)
    yield server, server_tls
    server.stop()


def _mailer(server: SmtpServer, password: str = "s3cret") -> SmtpMailer:  # noqa: S107 - the test server's
    return SmtpMailer(
        SmtpSettings(
            host="127.0.0.1", port=server.port, starttls=True, user="meterbridge", password=password,
            sender="meterbridge@msp.example", timeout=10, verify=server.client_tls,
        )
    )  # fmt: skip


def test_the_managers_get_the_outcome_by_email_over_starttls(
    small_month: World, smtp: tuple[SmtpServer, ssl.SSLContext]
) -> None:
    server, tls = smtp
    server.start(tls)
    ctx = small_month.ctx
    ctx.mailer = _mailer(server)
    tenants.update_settings(ctx, "default", {"managers": ",".join(MANAGERS)}, actor=ACTOR)
    outcome = asyncio.run(push.push(ctx, "default", PERIOD, force=True, actor=ACTOR))
    report = asyncio.run(notify.deliver_due(ctx))
    assert (report.sent, report.retrying, report.failed) == (1, 0, 0)
    [(sender, recipients, message)] = server.inbox.messages
    assert sender == "meterbridge@msp.example" and recipients == MANAGERS
    assert message["To"] == ", ".join(MANAGERS) and message["From"] == "meterbridge@msp.example"
    billed = format_money(outcome.totals.billed_after)
    assert message["Subject"].endswith(f"{billed} billed") and f"push of {PERIOD}" in message["Subject"]
    text = message.get_payload(decode=True).decode()
    assert f"Billed before: {format_money(outcome.totals.billed_before)}" in text
    writes = outcome.totals.writes
    assert f"Writes: {writes.planned} planned, {writes.landed} landed, {writes.failed} failed" in text
    blocked = sorted(c for c, r in outcome.companies.items() if r.status == "blocked")
    assert f"Blocked companies ({len(blocked)}):" in text
    for customer in blocked:
        [line] = [ln for ln in text.splitlines() if ln.startswith(f"- {customer}: ")]
        assert line == f"- {customer}: {'; '.join(outcome.companies[customer].reasons)}"
    assert f"/console/t/default/runs/{outcome.run}" in text
    [sent] = runs.show_run(ctx, "default", outcome.run).notifications
    assert (sent.channel, sent.status, sent.attempts, sent.target) == ("email", "sent", 1, ", ".join(MANAGERS))


def test_a_mail_server_down_is_retried_and_loses_nothing(
    small_month: World, smtp: tuple[SmtpServer, ssl.SSLContext]
) -> None:
    server, tls = smtp
    ctx, clock = small_month.ctx, small_month.clock
    ctx.mailer = _mailer(server)
    tenants.update_settings(ctx, "default", {"managers": MANAGERS}, actor=ACTOR)
    outcome = asyncio.run(push.push(ctx, "default", PERIOD, force=True, actor=ACTOR))
    report = asyncio.run(notify.deliver_due(ctx))  # nothing listens yet
    assert (report.sent, report.retrying) == (0, 1)
    [waiting] = notify.list_notifications(ctx, "default")
    assert waiting.status == "pending" and waiting.attempts == 1
    assert waiting.last_error and f"127.0.0.1:{server.port}" in waiting.last_error
    assert waiting.next_attempt_at == clock.now + timedelta(minutes=1)
    assert asyncio.run(notify.deliver_due(ctx)).retrying == 0  # not before its next attempt
    assert runs.show_run(ctx, "default", outcome.run).status == outcome.status  # the run is as it was
    server.start(tls)
    clock.advance(minutes=1)
    assert asyncio.run(notify.deliver_due(ctx)).sent == 1
    assert len(server.inbox.messages) == 1
    [sent] = notify.list_notifications(ctx, "default")
    assert (sent.status, sent.attempts, sent.last_error) == ("sent", 2, None)


def test_a_refused_login_is_given_up_after_the_last_attempt_and_shown(
    small_month: World, smtp: tuple[SmtpServer, ssl.SSLContext]
) -> None:
    server, tls = smtp
    server.start(tls)
    ctx, clock = small_month.ctx, small_month.clock
    ctx.mailer = _mailer(server, password="wrong")
    tenants.update_settings(ctx, "default", {"managers": MANAGERS[:1]}, actor=ACTOR)
    asyncio.run(push.push(ctx, "default", PERIOD, force=True, actor=ACTOR))
    for _ in range(notify.MAX_ATTEMPTS):
        asyncio.run(notify.deliver_due(ctx))
        clock.advance(hours=1)
    [given_up] = notify.list_notifications(ctx, "default")
    assert (given_up.status, given_up.attempts) == ("failed", notify.MAX_ATTEMPTS)
    assert "refused the login 'meterbridge'" in (given_up.last_error or "")
    assert server.inbox.messages == []


def test_webhooks_are_signed_and_retried_after_a_500(small_month: World) -> None:
    received: list[tuple[dict[str, str], bytes]] = []

    async def hook(request: Request) -> JSONResponse:
        received.append((dict(request.headers), await request.body()))
        return JSONResponse({}, status_code=500 if len(received) == 1 else 200)

    ctx, clock = small_month.ctx, small_month.clock
    with serve(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as url:
        created = notify.add_webhook(ctx, "default", "books", f"{url}/hook", actor=ACTOR)
        assert len(created.secret) >= 32
        outcome = asyncio.run(push.push(ctx, "default", PERIOD, force=True, actor=ACTOR))
        first = asyncio.run(notify.deliver_due(ctx))
        assert (first.sent, first.retrying) == (0, 1)
        [waiting] = notify.list_notifications(ctx, "default")
        assert waiting.last_error == f"{url}/hook answered 500 Internal Server Error"
        clock.advance(minutes=1)
        assert asyncio.run(notify.deliver_due(ctx)).sent == 1
    assert len(received) == 2
    headers, body = received[1]
    stamp = int(headers[TIMESTAMP_HEADER.lower()])
    assert stamp == int(clock.now.timestamp())
    secret = created.secret.encode()
    assert verify(secret, stamp, body, headers[SIGNATURE_HEADER.lower()], now=clock.now.timestamp())
    assert not verify(b"another secret", stamp, body, headers[SIGNATURE_HEADER.lower()], now=clock.now.timestamp())
    assert not verify(secret, stamp, body + b" ", headers[SIGNATURE_HEADER.lower()], now=clock.now.timestamp())
    assert not verify(secret, stamp, body, headers[SIGNATURE_HEADER.lower()], now=clock.now.timestamp() + 600)
    payload = json.loads(body)
    assert headers["x-meterbridge-event"] == payload["event"] == f"push.{outcome.status.value}"
    assert payload["run"]["id"] == outcome.run and payload["run"]["period"] == PERIOD
    assert payload["totals"]["billed_after"] == str(outcome.totals.billed_after)
    blocked = {c for c, r in outcome.companies.items() if r.status == "blocked"}
    assert {b["customer"] for b in payload["blocked"]} == blocked
    assert payload["delivery"] == int(headers["x-meterbridge-delivery"])
    assert received[0][1] == body  # the same delivery, signed again when retried
    [delivered] = runs.show_run(ctx, "default", outcome.run).notifications
    assert (delivered.channel, delivered.status, delivered.attempts) == ("webhook", "sent", 2)


def test_a_backup_stats_publish_is_told_too(small_month: World) -> None:
    from tests.support.reference_month import identifier

    from meterbridge.mail import Outbox
    from meterbridge.services import basic_setup, customers

    ctx = small_month.ctx
    ctx.mailer = outbox = Outbox()
    tenants.update_settings(ctx, "default", {"managers": MANAGERS[:1]}, actor=ACTOR)
    customers.add_customer(ctx, "default", identifier(0), "Company 000", managed_id="1000", actor=ACTOR)
    customers.add_customer(ctx, "default", identifier(18), "Company 018", managed_id="1018", actor=ACTOR)  # no push
    published = asyncio.run(basic_setup.publish_backup_stats(ctx, "default", PERIOD, actor=ACTOR))
    assert asyncio.run(notify.deliver_due(ctx)).sent == 1
    [message] = outbox.sent
    assert message.subject == f"[meterbridge] default: backup stats publish of {PERIOD} done"
    assert "Backup Stats configurations: 1 created, 0 updated, 0 unchanged" in message.text
    [(skipped, why)] = published.skipped.items()
    assert f"- {skipped}: {why}" in message.text


def test_an_email_queued_before_a_mail_server_was_set_goes_as_soon_as_one_is(small_month: World) -> None:
    """No mail server: the email waits, not counted as an attempt; the moment a process has one
    (the operator set MBRIDGE_SMTP_HOST and ran `notifications send`), it is sent, not 10 minutes on."""
    from meterbridge.mail import Outbox

    ctx = small_month.ctx
    ctx.mailer = None
    tenants.update_settings(ctx, "default", {"managers": MANAGERS[:1]}, actor=ACTOR)
    asyncio.run(push.push(ctx, "default", PERIOD, force=True, actor=ACTOR))
    waiting = asyncio.run(notify.deliver_due(ctx))
    assert (waiting.sent, waiting.retrying) == (0, 1)
    [pending] = notify.list_notifications(ctx, "default")
    assert (pending.status, pending.attempts) == ("pending", 0) and "no mail server" in (pending.last_error or "")
    ctx.mailer = outbox = Outbox()  # the clock has not moved
    assert asyncio.run(notify.deliver_due(ctx)).sent == 1
    [message] = outbox.sent
    assert message.to == tuple(MANAGERS[:1])
