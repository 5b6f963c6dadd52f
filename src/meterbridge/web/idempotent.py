"""``Idempotency-Key`` on the POSTs that write to ConnectWise: a retried request with the same key
gets the first answer (``Idempotent-Replayed: true``) and starts nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from meterbridge.services import idempotency, runs
from meterbridge.services.errors import Conflict, ServiceError
from meterbridge.services.scope import open_tenant
from meterbridge.services.views import RunStatus, View
from meterbridge.web.deps import TenantCall

KEY_HELP = "a key of yours (e.g. a UUID): a retry with the same key gets the first answer and starts nothing"


async def once(
    call: TenantCall,
    request: Request,
    body: Any,
    status: int,
    work: Callable[[], Awaitable[View]],
    headers: Callable[[View], dict[str, str]] | None = None,
) -> JSONResponse:
    key = request.headers.get("idempotency-key")
    if key is None:
        result = await work()
        return JSONResponse(result.json_data(), status_code=status, headers=headers(result) if headers else None)
    tenant_id = open_tenant(call.ctx, call.tenant).id
    print_ = idempotency.fingerprint(request.method, request.url.path, body)
    replay = idempotency.begin(call.ctx, tenant_id, key, print_)
    if replay is not None:
        _refuse_a_dead_run(call, replay.body)
        return JSONResponse(replay.body, status_code=replay.status, headers={"Idempotent-Replayed": "true"})
    try:
        result = await work()
    except ServiceError as error:
        if error.kind in idempotency.STARTED_NOTHING:  # nothing was written: the same request may be retried
            idempotency.release(call.ctx, tenant_id, key)
        raise
    data = result.json_data()
    idempotency.finish(call.ctx, tenant_id, key, status, data)
    return JSONResponse(data, status_code=status, headers=headers(result) if headers else None)


def _refuse_a_dead_run(call: TenantCall, body: Any) -> None:
    """A replay of a run that was running when it was answered and whose process is gone since:
    not "running" again (for 30 days), but what happened and how to finish it."""
    if not isinstance(body, dict) or body.get("status") != "running" or not isinstance(body.get("id"), int):
        return
    run = runs.show_run_head(call.ctx, call.tenant, body["id"])  # settles it if its process is gone
    if run.status is RunStatus.INTERRUPTED:
        raise Conflict(
            f"the run this Idempotency-Key started (run {run.id}, {run.kind} of {run.period}) was interrupted: its "
            "process is gone",
            hint="start it again with a new Idempotency-Key: the new push checks the interrupted one's unfinished "
            "writes against ConnectWise and completes it, never writing anything twice",
            action="push",
            params={"period": run.period},
        )
