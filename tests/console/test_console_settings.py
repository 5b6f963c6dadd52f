"""Settings in a browser, as an admin keeps them: add a manager (a wrong address refused at its
field), add a webhook and test-deliver it to a receiver on loopback (signed with the secret the
admin typed, which no page shows again), change a safety threshold (a value out of range refused
with the field named, nothing saved), send a test email through a real SMTP server on loopback.
Every setting of the settings model has its field; only admins see the page."""

from __future__ import annotations

import email
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from email.message import Message as EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tests.console.conftest import Console
from tests.support.console_world import ConsoleWorld
from tests.support.server import free_port, serve

from meterbridge.hooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from meterbridge.mail import SmtpMailer, SmtpSettings
from meterbridge.services import notify, tenants
from meterbridge.services.tenant_settings import TenantSettings

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HOOK_SECRET = "books-signing-secret-0123456789"
SMTP_PASSWORD = "smtp-password-not-on-a-page-99"


@dataclass
class Inbox:
    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp_inbox(world: ConsoleWorld) -> Iterator[Inbox]:
    """A real SMTP server on loopback (plain SMTP with a login), the console's mail server."""

    def login(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"mb", SMTP_PASSWORD.encode())
        return AuthResult(success=ok, handled=False)

    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, authenticator=login, auth_require_tls=False,
        auth_exclude_mechanism=["LOGIN"],
    )  # fmt: skip
    controller.start()
    world.ctx.mailer = SmtpMailer(
        SmtpSettings(host="127.0.0.1", port=port, starttls=False, user="mb", password=SMTP_PASSWORD,
                     sender="meterbridge@msp.example", timeout=10)
    )  # fmt: skip
    try:
        yield inbox
    finally:
        controller.stop()


def refused_at(c: Console, input_id: str, error_id: str) -> str:
    """The error next to a field the form was refused for (and the field marked invalid)."""
    assert c.page.locator(f"#{input_id}").get_attribute("aria-invalid") == "true", input_id
    text: str = c.page.locator(f"#{error_id}").inner_text()
    return text


def add_managers(c: Console) -> None:
    p = c.page
    p.fill("#manager-address", "billing@msp.example")
    p.click("button:has-text('Add manager')")
    assert "billing@msp.example is a manager" in c.notice()
    p.fill("#manager-address", "owner at msp.example")
    p.click("button:has-text('Add manager')")
    assert "is not an email address" in refused_at(c, "manager-address", "managers-error")
    assert p.locator("#manager-address").input_value() == "owner at msp.example"  # kept for the retry
    p.fill("#manager-address", "owner@msp.example")
    p.click("button:has-text('Add manager')")
    c.notice()
    assert p.locator("#manager-list li").all_inner_texts()[0].startswith("billing@msp.example")
    p.click("#manager-list li:has-text('owner@msp.example') button:has-text('Remove')")
    assert "owner@msp.example is no longer a manager" in c.notice()
    assert p.locator("#manager-list li").count() == 1


def add_and_test_a_webhook(
    c: Console, world: ConsoleWorld, hook_url: str, received: list[tuple[dict[str, str], bytes]]
) -> None:
    p = c.page
    p.fill("#webhook-name", "books")
    p.fill("#webhook-url", f"{hook_url}/hook")
    p.click("button:has-text('Add webhook')")  # without a secret: one the console could never show is not made
    assert "signing secret" in refused_at(c, "webhook-secret", "secret-error")
    assert p.locator("#webhook-url").input_value() == f"{hook_url}/hook"
    p.fill("#webhook-secret", HOOK_SECRET)
    p.click("button:has-text('Add webhook')")
    assert "Webhook books added" in c.notice()
    card = p.locator(".webhook[data-webhook='books']")
    assert "signing secret set" in card.inner_text()
    p.click("button:has-text('Test delivery')")
    assert "Test delivery to books sent" in c.notice()
    [(headers, body)] = received
    stamp = int(headers[TIMESTAMP_HEADER.lower()])
    assert verify(HOOK_SECRET.encode(), stamp, body, headers[SIGNATURE_HEADER.lower()], now=world.clock.now.timestamp())
    assert headers["x-meterbridge-event"] == "test"
    attempts = card.locator("tbody tr").first.inner_text()
    assert "sent" in attempts and "test delivery to webhook books" in attempts
    [sent] = notify.list_notifications(world.ctx, "acme")
    assert (sent.channel, sent.status, sent.attempts) == ("webhook", "sent", 1)


def change_thresholds(c: Console, world: ConsoleWorld) -> None:
    p = c.page
    for name in TenantSettings.model_fields:  # a setting added to the model is on the page without more work
        if name != "managers":
            assert p.locator(f"#setting-{name}").count() == 1, name
    p.fill("#setting-max_quantity_drop", "0.5")
    p.click("button:has-text('Save settings')")
    assert "Saved max_quantity_drop" in c.notice()
    assert p.locator("#setting-max_quantity_drop").input_value() == "0.5"
    assert tenants.show_settings(world.ctx, "acme").max_quantity_drop == Decimal("0.5")
    p.fill("#setting-max_changed_fraction", "1.5")  # a fraction: at most 1
    p.fill("#setting-max_total_change", "off")
    p.click("button:has-text('Save settings')")
    assert "max_changed_fraction" in refused_at(c, "setting-max_changed_fraction", "max_changed_fraction-error")
    assert p.locator("#setting-max_changed_fraction").input_value() == "1.5"  # what was typed is kept
    p.evaluate("document.getElementById('thresholds').scrollIntoView()")
    c.shot("settings-thresholds")
    stored = tenants.show_settings(world.ctx, "acme")
    assert stored.max_changed_fraction == Decimal("0.20") and stored.max_total_change == Decimal(
        "0.25"
    )  # nothing saved
    p.fill("#setting-max_changed_fraction", "0.3")
    p.select_option("#setting-drift_policy", "overwrite")
    p.click("button:has-text('Save settings')")
    assert "Saved drift_policy, max_changed_fraction, max_total_change" in c.notice()
    stored = tenants.show_settings(world.ctx, "acme")
    assert (stored.max_changed_fraction, stored.max_total_change, stored.drift_policy.value) == (
        Decimal("0.3"), None, "overwrite"
    )  # fmt: skip
    assert p.locator("#setting-max_total_change").input_value() == ""  # off


def send_a_test_email(c: Console, inbox: Inbox) -> None:
    p = c.page
    server = p.locator("#mail-server").inner_text()
    assert "127.0.0.1" in server and "password set" in server
    assert p.locator("#mail-to").input_value() == "billing@msp.example"  # the managers
    p.click("button:has-text('Send test email')")
    assert "Test email sent to billing@msp.example" in c.notice()
    [(to, message)] = inbox.messages
    assert to == ["billing@msp.example"] and message["Subject"] == "[meterbridge] acme: test email"
    assert "Settings page" in str(message.get_payload())
    p.fill("#mail-to", "nobody")
    p.click("button:has-text('Send test email')")
    assert "is not an email address" in refused_at(c, "mail-to", "to-error")
    assert len(inbox.messages) == 1


def test_an_admin_sets_managers_webhooks_thresholds_and_mail(
    open_console: Any, world: ConsoleWorld, smtp_inbox: Inbox
) -> None:
    received: list[tuple[dict[str, str], bytes]] = []

    async def hook(request: Request) -> JSONResponse:
        received.append((dict(request.headers), await request.body()))
        return JSONResponse({})

    world.user("acme", "ann", "admin")
    with serve(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as hook_url:
        c = open_console()
        c.sign_in("ann")
        p = c.page
        p.click("header a:has-text('Settings')")
        assert p.locator("h1").inner_text() == "Settings"
        add_managers(c)
        add_and_test_a_webhook(c, world, hook_url, received)
        change_thresholds(c, world)
        send_a_test_email(c, smtp_inbox)
    c.go("/console/t/acme/settings")
    unlabelled = p.locator("main input:not([type=hidden]), main select").evaluate_all(
        "controls => controls.filter(c => c.labels.length === 0).map(c => c.id || c.name)"
    )
    assert unlabelled == []
    for secret in (HOOK_SECRET, SMTP_PASSWORD):
        assert secret not in p.content()
    c.shot("settings")


def test_only_admins_see_settings(open_console: Any, world: ConsoleWorld) -> None:
    world.user("acme", "bill", "billing")
    c = open_console()
    c.sign_in("bill")
    assert c.page.locator("header a:has-text('Settings')").count() == 0
    assert c.go("/console/t/acme/settings").status == 403
    assert "admin role" in c.page.content()
