"""The FastAPI app: the vendor's usage API (``GET /v1/usage``) and the admin API under ``/_sim/``.

Every request under ``/v1/`` first meets the queued faults, then is logged with its status.
Storage values are Decimals rendered by hand, so the JSON number always has exactly two
decimals (``123.40``, never ``123.4`` or a float's ``123.40000000000001``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vendorsim.sim import CENT, UNITS, Fault, LoggedRequest, Sample, VendorSim, format_time, generate

MAX_PAGE_SIZE = 1000
Model = TypeVar("Model", bound=BaseModel)


class BadRequest(Exception):
    pass


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


# The wire format of one item, and the cursor.


def render_item(sample: Sample, name: str) -> str:
    value = f"{sample.value:.2f}" if isinstance(sample.value, Decimal) else str(sample.value)
    return (
        f'{{"account":{json.dumps({"id": sample.account_id, "name": name})},"metric":{json.dumps(sample.metric)},'
        f'"value":{value},"unit":"{sample.unit}","measured_at":"{format_time(sample.measured_at)}"}}'
    )


def parse_time(raw: str, name: str) -> datetime:
    """An ISO date (midnight UTC) or datetime; one without a time zone is taken as UTC."""
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"{name}: expected an ISO date or datetime, not {raw[:40]!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_value(metric: str, raw: Any) -> Decimal | int:
    if isinstance(raw, bool) or not isinstance(raw, int | float | Decimal | str):
        raise BadRequest(f"value: expected a number or a numeric string, not {raw!r}")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise BadRequest(f"value: {raw!r} is not a number") from None
    if not value.is_finite():
        raise BadRequest(f"value: {raw!r} is not a finite number")
    if metric == "storage":
        try:
            cents = value.quantize(CENT)
        except InvalidOperation:
            raise BadRequest(f"value: {raw} is too large") from None
        if value != cents:
            raise BadRequest(f"value: storage has at most 2 decimals, not {raw}")
        return cents
    if value != value.to_integral_value():
        raise BadRequest(f"value: {metric} is a whole number, not {raw}")
    return int(value)


def parse_item(item: Any) -> tuple[Sample, str]:
    """One item of ``POST /_sim/samples`` (the shape ``/v1/usage`` answers): the sample and its
    account's name."""
    if not isinstance(item, dict):
        raise BadRequest("each sample must be an object")
    account, metric = item.get("account"), item.get("metric")
    if not isinstance(account, dict) or not isinstance(account.get("id"), str) or not account["id"]:
        raise BadRequest('account: expected {"id": "...", "name": "..."}')
    name = account.get("name")
    if not isinstance(name, str):
        raise BadRequest(f"account.name: expected a string for {account['id']}")
    if metric not in UNITS:
        raise BadRequest(f"metric: one of {', '.join(UNITS)}, not {metric!r}")
    if item.get("unit", UNITS[metric]) != UNITS[metric]:
        raise BadRequest(f"unit: {metric} is measured in {UNITS[metric]}, not {item['unit']!r}")
    if not isinstance(item.get("measured_at"), str):
        raise BadRequest("measured_at: expected an ISO datetime string")
    moment = parse_time(item["measured_at"], "measured_at").replace(microsecond=0)
    return Sample(account["id"], metric, parse_value(metric, item.get("value")), moment), name


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode()
        prefix, _, number = text.partition(":")
        if prefix != "offset" or not number.isdigit():
            raise ValueError(text)
        return int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequest(f"cursor: {cursor[:40]!r} is not a cursor this API gave out") from None


def int_param(request: Request, name: str, default: int, low: int, high: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    top = f" to {high}" if high is not None else " or more"
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name}: expected a whole number from {low}{top}, not {raw[:40]!r}") from None
    if value < low or (high is not None and value > high):
        raise BadRequest(f"{name}: expected a whole number from {low}{top}, not {value}")
    return value


# Admin bodies.


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetBody(Strict):
    accounts: int = Field(ge=0)
    month: str = "2026-10"
    days: int = 1
    metrics: list[str] = Field(default_factory=lambda: ["storage", "licenses"])
    seed: int = 1


class FaultBody(Strict):
    status: int | None = Field(default=None, ge=400, le=599)
    hang: float | None = Field(default=None, gt=0, le=600)
    times: int = Field(default=1, ge=1)
    after: int = Field(default=0, ge=0)
    path: str = Field(default="/v1/usage", pattern=r"^/v1/")

    @model_validator(mode="after")
    def one_kind(self) -> FaultBody:
        if (self.status is None) == (self.hang is None):
            raise ValueError("give either status or hang")
        return self


class NameBody(Strict):
    name: str = Field(min_length=1)


class TokenBody(Strict):
    token: str = Field(min_length=1)


async def body_of(request: Request, model: type[Model]) -> Model:
    try:
        return model.model_validate_json(await request.body() or b"{}")
    except ValidationError as problem:
        details = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in problem.errors())
        raise BadRequest(details) from None


def create_app(sim: VendorSim | None = None) -> FastAPI:
    sim = sim if sim is not None else VendorSim()
    app = FastAPI(title="vendorsim", description="A backup vendor's usage API, simulated.", version="0.1.0")
    app.state.sim = sim

    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, problem: BadRequest) -> Response:
        return error(400, "bad_request", str(problem))

    @app.middleware("http")
    async def faults_and_log(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        path = request.url.path
        if not path.startswith("/v1/"):
            return await call_next(request)
        fault = sim.take_fault(path)
        if fault is not None and fault.hang is not None:
            await asyncio.sleep(fault.hang)
        if fault is not None and fault.status is not None:
            response: Response = error(fault.status, "injected", "injected fault")
        else:
            response = await call_next(request)
        sim.requests.append(LoggedRequest(request.method, path, dict(request.query_params), response.status_code))
        return response

    @app.get("/v1/usage")
    async def usage(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {sim.token}":
            return error(401, "unauthorized", "send Authorization: Bearer <token> with the API token")
        since_raw = request.query_params.get("since")
        since = parse_time(since_raw, "since") if since_raw is not None else None
        page_size = int_param(request, "page_size", 100, 1, MAX_PAGE_SIZE)
        cursor = request.query_params.get("cursor")
        # A cursor gives the offset itself, and then page is ignored.
        offset = decode_cursor(cursor) if cursor is not None else (int_param(request, "page", 1, 1) - 1) * page_size
        page = offset // page_size + 1
        selected = sim.select(since)
        rows = selected[offset : offset + page_size]
        more = offset + page_size < len(selected)
        next_link = None
        if more:
            params = {"since": since_raw} if since_raw is not None else {}
            next_link = str(
                request.url.replace(query="").include_query_params(**params, page_size=page_size, page=page + 1)
            )
        meta = {
            "page": page,
            "page_size": page_size,
            "total": len(selected),
            "next_cursor": encode_cursor(offset + len(rows)) if more else None,
            "links": {"next": next_link},
        }
        data = ",".join(render_item(s, sim.accounts[s.account_id]) for s in rows)
        return Response(f'{{"data":[{data}],{json.dumps(meta)[1:]}', media_type="application/json")

    @app.get("/_sim/health")
    async def health() -> dict[str, Any]:
        return {"ok": True}

    @app.post("/_sim/reset")
    async def reset() -> dict[str, Any]:
        sim.reset()
        return {"ok": True}

    @app.put("/_sim/dataset")
    async def dataset(request: Request) -> dict[str, Any]:
        body = await body_of(request, DatasetBody)
        try:
            sim.replace(generate(body.accounts, body.month, body.days, tuple(body.metrics), body.seed))
        except ValueError as problem:
            raise BadRequest(str(problem)) from None
        return {"accounts": len(sim.accounts), "samples": len(sim.samples)}

    @app.post("/_sim/samples")
    async def samples(request: Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.body(), parse_float=Decimal)
        except (ValueError, UnicodeDecodeError):
            raise BadRequest('expected a JSON body {"samples": [...]}') from None
        if not isinstance(body, dict) or not isinstance(body.get("samples"), list):
            raise BadRequest('expected a JSON body {"samples": [...]}')
        parsed = [parse_item(item) for item in body["samples"]]
        sim.add([s for s, _ in parsed], {s.account_id: name for s, name in parsed})
        return {"added": len(parsed), "samples": len(sim.samples)}

    @app.post("/_sim/accounts/{ident}/rename")
    async def rename(ident: str, request: Request) -> Response:
        body = await body_of(request, NameBody)
        if ident not in sim.accounts:
            return error(404, "not_found", f"no account {ident}")
        sim.rename(ident, body.name)
        return JSONResponse({"id": ident, "name": body.name})

    @app.delete("/_sim/accounts/{ident}")
    async def delete(ident: str) -> Response:
        if ident not in sim.accounts:
            return error(404, "not_found", f"no account {ident}")
        return JSONResponse({"deleted": ident, "samples": sim.delete(ident)})

    @app.put("/_sim/token")
    async def token(request: Request) -> dict[str, Any]:
        sim.token = (await body_of(request, TokenBody)).token
        return {"ok": True}

    @app.post("/_sim/faults")
    async def add_fault(request: Request) -> dict[str, Any]:
        sim.faults.append(Fault(**(await body_of(request, FaultBody)).model_dump()))
        return {"queued": len(sim.faults)}

    @app.delete("/_sim/faults")
    async def clear_faults() -> dict[str, Any]:
        cleared = len(sim.faults)
        sim.faults.clear()
        return {"cleared": cleared}

    @app.get("/_sim/requests")
    async def requests() -> list[dict[str, Any]]:
        return [logged.as_json() for logged in sim.requests]

    return app
