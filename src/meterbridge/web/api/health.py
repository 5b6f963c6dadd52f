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


class Readiness(BaseModel):
    status: str  # ready or not ready
    database: str
    connectwise: dict[str, str]  # tenant -> reachable, or why not


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(request: Request) -> JSONResponse:
    ctx = context(request)
    database = await asyncio.to_thread(readiness.database, ctx)
    reachable = await readiness.connectwise(ctx) if database == "ok" else {}
    ready = database == "ok" and all(v == "reachable" for v in reachable.values())
    body = Readiness(status="ready" if ready else "not ready", database=database, connectwise=reachable)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(request: Request) -> Response:
    rendered: Response = request.app.state.metrics.render()
    return rendered
