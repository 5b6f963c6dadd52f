"""The messages sent about runs (emails to the managers, webhook deliveries) and the webhooks."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated

import typer

from meterbridge.cli.app import app
from meterbridge.cli.lazy import lazy
from meterbridge.cli.render import State, guarded, make_table, run, state

if TYPE_CHECKING:
    from meterbridge.services import notify
    from meterbridge.services.views import DeliveryReport, NotificationView
else:  # loaded when the command runs, not for its --help
    notify = lazy("meterbridge.services.notify")

log = logging.getLogger("meterbridge.cli")

notifications_app = typer.Typer(
    help="Emails to the managers and webhook deliveries about runs: what was sent, and sending what waits.",
    no_args_is_help=True,
)
app.add_typer(notifications_app, name="notifications")
webhooks_app = typer.Typer(help="Webhooks: signed POSTs of every run's outcome to other tools.", no_args_is_help=True)
app.add_typer(webhooks_app, name="webhooks")


def tell(st: State) -> DeliveryReport | None:
    """Send what a push just queued (one attempt; `meterbridge serve`, a worker or
    `meterbridge notifications send` retries the rest). Never raises over the push's outcome."""
    try:
        context = st.context()
    except Exception:  # the push's own error (the database, the key) is what the command reports
        return None
    return run(notify.deliver_quietly(context, st.tenant))


def print_told(st: State, report: DeliveryReport) -> None:
    if report.sent:
        st.console.print(f"notifications: {report.sent} sent (emails to the managers, webhooks)")
    waiting = report.retrying + report.failed
    if waiting:
        st.console.print(
            f"[yellow]notifications: {waiting} not sent[/] (`{st.command('notifications', 'list')}` shows why; "
            f"`{st.command('notifications', 'send')}` tries again, as `meterbridge serve` and workers do)",
            soft_wrap=True,
        )


def _table(st: State, views: list[NotificationView]) -> None:
    table = make_table("id", "run", "event", "channel", "to", "status", "attempts", "sent / last error")
    for v in views:
        table.add_row(
            str(v.id),
            str(v.run or "-"),
            v.event,
            v.channel,
            v.target,
            v.status,
            str(v.attempts),
            f"{v.sent_at:%Y-%m-%d %H:%M}" if v.sent_at else (v.last_error or "-"),
        )
    st.console.print(table)


@notifications_app.command("list")
@guarded("list[NotificationView]")
def notifications_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    status: Annotated[str | None, typer.Option(help="pending, sent or failed")] = None,
) -> None:
    """The newest messages first, with how their delivery went."""
    st = state(ctx)
    views = notify.list_notifications(st.context(), st.tenant, limit=limit, status=status)
    st.out(views, lambda: _table(st, views))


@notifications_app.command("send")
@guarded("DeliveryReport")
def notifications_send(ctx: typer.Context) -> None:
    """Send the messages whose next attempt is due now."""
    st = state(ctx)
    report = run(notify.deliver_due(st.context(), tenant=st.tenant))
    st.out(
        report,
        lambda: st.console.print(
            f"{report.sent} sent, {report.retrying} failed and will be tried again, {report.failed} given up"
        ),
    )


@webhooks_app.command("add")
@guarded("WebhookCreated")
def webhooks_add(
    ctx: typer.Context,
    name: str,
    url: Annotated[str, typer.Argument(help="Where to POST, e.g. https://hooks.example.com/meterbridge")],
    secret: Annotated[str | None, typer.Option(help="The signing secret (default: one made for you).")] = None,
) -> None:
    """Add a webhook: every push's outcome is POSTed to it as JSON, signed (HMAC-SHA256)."""
    st = state(ctx)
    created = notify.add_webhook(st.context(), st.tenant, name, url, secret=secret, actor=st.actor)
    st.out(
        created,
        lambda: st.console.print(
            f"webhook {created.name} -> {created.url}\nsigning secret (shown this once): {created.secret}\n"
            "each POST carries X-Meterbridge-Timestamp and X-Meterbridge-Signature: "
            "sha256=HMAC-SHA256(secret, TIMESTAMP + '.' + body) (docs/schedules.md)"
        ),
    )


@webhooks_app.command("list")
@guarded("list[WebhookView]")
def webhooks_list(ctx: typer.Context) -> None:
    st = state(ctx)
    views = notify.list_webhooks(st.context(), st.tenant)

    def human() -> None:
        table = make_table("name", "url", "enabled", "created")
        for v in views:
            table.add_row(v.name, v.url, "yes" if v.enabled else "no", f"{v.created_at:%Y-%m-%d %H:%M}")
        st.console.print(table)

    st.out(views, human)


@webhooks_app.command("enable")
@guarded("WebhookView")
def webhooks_enable(ctx: typer.Context, name: str) -> None:
    st = state(ctx)
    view = notify.set_webhook_enabled(st.context(), st.tenant, name, True, actor=st.actor)
    st.out(view, lambda: st.console.print(f"webhook {name} enabled"))


@webhooks_app.command("disable")
@guarded("WebhookView")
def webhooks_disable(ctx: typer.Context, name: str) -> None:
    st = state(ctx)
    view = notify.set_webhook_enabled(st.context(), st.tenant, name, False, actor=st.actor)
    st.out(view, lambda: st.console.print(f"webhook {name} disabled: nothing more is sent to it"))


@webhooks_app.command("remove")
@guarded("Deleted")
def webhooks_remove(ctx: typer.Context, name: str) -> None:
    st = state(ctx)
    view = notify.remove_webhook(st.context(), st.tenant, name, actor=st.actor)
    st.out(view, lambda: st.console.print(f"webhook {name} removed: {view.detail}"))
