"""The admin API under ``/_sim/`` (not ConnectWise; documented in docs/cwsim.md).

GET  /_sim/health              liveness and record counts
POST /_sim/reset               back to the fresh default (company ``sim``, member simpub/simpriv)
POST /_sim/scenario            load a scenario (JSON, or YAML with a YAML content type)
GET  /_sim/snapshot            the whole state as a scenario that loads back identically
GET  /_sim/requests?limit=N    the request log, oldest first
GET  /_sim/counters            request counts per method and path template, with statuses
DELETE /_sim/requests          clear the log and the counters
GET|PUT /_sim/faults           {seed, rules: [...]} (faults.py)
GET|PATCH /_sim/settings       behaviour switches (state.py SimSettings)
GET|PUT /_sim/clock            {"now": "..."} freezes the clock; {"now": null} follows real time
POST /_sim/invoices            {"month": "YYYY-MM"}: invoice every agreement up to that month (invoicing.py)
GET  /_sim/invoices            every invoice with its period and lines (?agreement=ID, ?period=YYYY-MM)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from cwsim.errors import SimError
from cwsim.faults import FaultRule
from cwsim.fields import format_datetime, parse_datetime
from cwsim.invoicing import Month, invoice_month
from cwsim.scenario import ScenarioError, load_scenario, parse_scenario, snapshot
from cwsim.sim import Simulator
from cwsim.state import system_clock


def _sim(request: Request) -> Simulator:
    sim: Simulator = request.app.state.sim
    return sim


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"code": "BadRequest", "message": message}, status_code=400)


async def _body(request: Request) -> tuple[Any, JSONResponse | None]:
    raw = await request.body()
    try:
        return parse_scenario(raw.decode("utf-8")) if raw.strip() else {}, None
    except (ScenarioError, UnicodeDecodeError) as error:
        return None, _bad(f"The body is not valid JSON or YAML: {error}")


def admin_router() -> APIRouter:
    router = APIRouter(prefix="/_sim", tags=["cwsim admin"])

    @router.get("/health")
    async def health(request: Request) -> dict[str, Any]:
        sim = _sim(request)
        return {"status": "ok", "companyId": sim.state.settings.company_id, "records": sim.state.counts()}

    @router.post("/reset")
    async def reset(request: Request) -> dict[str, Any]:
        sim = _sim(request)
        sim.reset()
        return {"status": "reset", "records": sim.state.counts()}

    @router.post("/scenario", response_model=None)
    async def scenario(request: Request) -> dict[str, Any] | JSONResponse:
        sim = _sim(request)
        body, error = await _body(request)
        if error is not None:
            return error
        try:
            load_scenario(sim, body)
        except ScenarioError as failure:
            return _bad(str(failure))
        return {"status": "loaded", "records": sim.state.counts()}

    @router.get("/snapshot")
    async def get_snapshot(request: Request) -> dict[str, Any]:
        return snapshot(_sim(request))

    @router.get("/requests", response_model=None)
    async def requests(request: Request, limit: int | None = None) -> list[dict[str, Any]]:
        return _sim(request).traffic.requests(limit)

    @router.delete("/requests")
    async def clear_requests(request: Request) -> dict[str, str]:
        _sim(request).traffic.clear()
        return {"status": "cleared"}

    @router.get("/counters")
    async def counters(request: Request) -> dict[str, Any]:
        return _sim(request).traffic.counters()

    @router.get("/faults")
    async def get_faults(request: Request) -> dict[str, Any]:
        return _sim(request).faults.as_json()

    @router.put("/faults", response_model=None)
    async def put_faults(request: Request) -> dict[str, Any] | JSONResponse:
        sim = _sim(request)
        body, error = await _body(request)
        if error is not None:
            return error
        if not isinstance(body, dict) or not isinstance(body.get("rules", []), list):
            return _bad('Send {"seed": int, "rules": [ ... ]}.')
        try:
            rules = [FaultRule.from_json(rule) for rule in body.get("rules", [])]
            seed = int(body.get("seed", sim.faults.seed))
        except (TypeError, ValueError) as failure:
            return _bad(f"Invalid fault rule: {failure}")
        sim.faults.configure(seed, rules)
        return sim.faults.as_json()

    @router.get("/settings")
    async def get_settings(request: Request) -> dict[str, Any]:
        return _sim(request).state.settings.as_json()

    @router.patch("/settings", response_model=None)
    async def patch_settings(request: Request) -> dict[str, Any] | JSONResponse:
        sim = _sim(request)
        body, error = await _body(request)
        if error is not None:
            return error
        if not isinstance(body, dict):
            return _bad("Send a JSON object of settings to change.")
        settings = sim.state.settings
        before = settings.as_json()
        try:
            settings.update(body)
        except (KeyError, TypeError) as failure:
            settings.update(before)
            return _bad(f"Unknown setting {failure}; known: {', '.join(before)}")
        sim.limiter.configure(settings.rate_limit_per_minute)
        return settings.as_json()

    @router.get("/clock")
    async def get_clock(request: Request) -> dict[str, Any]:
        sim = _sim(request)
        return {"now": format_datetime(sim.state.clock()), "frozen": sim.state.clock is not system_clock}

    @router.put("/clock", response_model=None)
    async def put_clock(request: Request) -> dict[str, Any] | JSONResponse:
        sim = _sim(request)
        body, error = await _body(request)
        if error is not None:
            return error
        now = body.get("now") if isinstance(body, dict) else None
        if now is None:
            sim.state.clock = system_clock
        else:
            try:
                frozen: datetime = parse_datetime(str(now))
            except ValueError:
                return _bad(f"now must be an ISO date-time, not {now!r}")
            sim.state.clock = lambda: frozen
        return {"now": format_datetime(sim.state.clock()), "frozen": now is not None}

    @router.post("/invoices", response_model=None)
    async def invoice(request: Request) -> dict[str, Any] | JSONResponse:
        sim = _sim(request)
        body, error = await _body(request)
        if error is not None:
            return error
        month = body.get("month") if isinstance(body, dict) else None
        if not isinstance(month, str):
            return _bad('Send {"month": "YYYY-MM"}: the month to invoice every agreement up to')
        try:
            made = invoice_month(sim.state, Month.parse(month))
        except SimError as failure:
            return _bad(failure.message)
        return {"month": month, "invoices": made}

    @router.get("/invoices")
    async def invoices(
        request: Request, agreement: int | None = None, period: str | None = None
    ) -> list[dict[str, Any]]:
        sim = _sim(request)
        return [
            invoice
            for invoice in sim.state.collection("invoices").scope(None)
            if (agreement is None or invoice["applyToId"] == agreement)
            and (period is None or invoice["period"] == period)
        ]

    return router
