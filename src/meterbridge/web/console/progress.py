"""A running push's progress on its run page: companies done of how many, writes done and the
money changed so far (services/live.py), polled by htmx until the push ends."""

from __future__ import annotations

from fastapi import Request

from meterbridge.services.live import push_progress
from meterbridge.services.views import RunStatus, RunView
from meterbridge.services.views.progress import PushProgress
from meterbridge.web.background import Background
from meterbridge.web.console.auth import TenantPage


def running_push(request: Request, call: TenantPage, run: RunView) -> PushProgress | None:
    """How far the push of ``run`` got, while this server runs it; None once it has ended (the
    run record has the final word) or when another process runs it."""
    background: Background = request.app.state.background
    live = background.live.get(run.id)
    if live is None or live.finished or run.status is not RunStatus.RUNNING:
        return None
    return push_progress(call.ctx, call.tenant, run.id, live)
