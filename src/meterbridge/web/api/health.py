"""Health: /healthz (the process answers), /readyz (the database answers, and ConnectWise is
reachable for every tenant with a connection), /metrics (Prometheus)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from meterbridge.services import readiness
from meterbridge.web.deps import context

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Reachable(BaseModel):
    reachable: int  # tenants whose ConnectWise site answers
    unreachable: int


class Readiness(BaseModel):
    """Counts only: which tenants exist, and why one is not reachable, is not anyone's to read."""

    status: str  # ready or not ready
    database: str  # ok or failing
    connectwise: Reachable


@router.get("/healthz", response_model=Health)
@router.head("/healthz", response_model=Health, operation_id="healthz_head")
def healthz() -> Health:
    return Health(status="ok")


CACHE_SECONDS = 30.0  # ConnectWise is asked at most this often, however often /readyz is


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(request: Request) -> JSONResponse:
    ctx = context(request)
    state = request.app.state
    cached = getattr(state, "readiness", None)
    if cached is None or ctx.monotonic() - cached[0] > CACHE_SECONDS:
        database = await asyncio.to_thread(readiness.database, ctx)
        reachable = await readiness.connectwise(ctx) if database == "ok" else {}
        ok = sum(1 for v in reachable.values() if v == "reachable")
        body = Readiness(
            status="ready" if database == "ok" and ok == len(reachable) else "not ready",
            database="ok" if database == "ok" else "failing",
            connectwise=Reachable(reachable=ok, unreachable=len(reachable) - ok),
        )
        cached = (ctx.monotonic(), body)
        state.readiness = cached
    ready: Readiness = cached[1]
    return JSONResponse(ready.model_dump(), status_code=200 if ready.status == "ready" else 503)


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(request: Request) -> Response:
    rendered: Response = request.app.state.metrics.render()
    return rendered
