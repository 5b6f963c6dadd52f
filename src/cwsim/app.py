"""The FastAPI app: ConnectWise Manage's REST routes for the simulated resources.

Routes are ``/{codebase}/apis/3.0/<resource path>`` plus ``/count`` and ``/{id}``, for every
resource in resources.py, and ``/system/info``; ``/login/companyinfo/{companyId}`` for codebase
discovery; ``/_sim/`` for the admin API (admin.py). The gate (gate.py) has admitted a request
before it reaches a route here.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from cwsim.admin import admin_router
from cwsim.errors import BadRequest, NotFound, SimError, UnsupportedMediaType
from cwsim.fields import format_datetime
from cwsim.gate import Gate, media_type
from cwsim.invoicing import invoice_agreement
from cwsim.query import count, list_page, narrowing, parse_fields, project
from cwsim.resources import BY_KEY, RESOURCES, Resource
from cwsim.sim import Simulator

Handler = Callable[..., Awaitable[Response]]
API = "/{codebase}/apis/3.0/"


def sim_of(request: Request) -> Simulator:
    sim: Simulator = request.app.state.sim
    return sim


def cw_response(request: Request, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    state = request.scope.get("state", {})
    version = state.get("api_version") or sim_of(request).state.settings.api_version
    all_headers = {"api-current-version": sim_of(request).state.settings.api_version, **(headers or {})}
    if status == 204:
        return Response(status_code=204, headers=all_headers)
    payload = json.dumps(body, separators=(",", ":")).encode()
    return Response(payload, status_code=status, media_type=media_type(version), headers=all_headers)


def error_response(request: Request, error: SimError) -> Response:
    return cw_response(request, error.body(), error.status, error.headers())


def _actor(request: Request) -> str:
    member: str = request.scope.get("state", {}).get("member", "unknown")
    return member


def _int(raw: str, name: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, not '{raw[:40]}'.") from None
    if not -(2**31) <= value < 2**31:
        raise NotFound(f"No record with {name} {value}.")
    return value


async def _json_body(request: Request) -> Any:
    content_type = request.headers.get("content-type", "")
    if content_type and "json" not in content_type.lower():
        raise UnsupportedMediaType(f"Send the body as application/json, not {content_type}.")
    raw = await request.body()
    if not raw.strip():
        raise BadRequest("The request body is empty; send a JSON body.")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise BadRequest(f"The request body is not valid JSON: {error}.") from None


def _link_builder(request: Request) -> Callable[[dict[str, int]], str]:
    def build(values: dict[str, int]) -> str:
        params = [
            (k, v) for k, v in request.query_params.multi_items() if k.lower() not in {"page", "pagesize", "pageid"}
        ]
        params.extend((k, str(v)) for k, v in values.items())
        return str(request.url.replace(query="").include_query_params(**dict(params)))

    return build


def _fields(request: Request, record: dict[str, Any], resource: Resource | None = None) -> dict[str, Any]:
    if resource is not None and resource.hidden:
        record = _served(resource, record)
    fields = parse_fields(request.query_params.get("fields"))
    return project(record, fields) if fields else record


def _served(resource: Resource, record: dict[str, Any]) -> dict[str, Any]:
    """The record as ConnectWise answers it: without cwsim's own fields."""
    return {k: v for k, v in record.items() if k not in resource.hidden} if resource.hidden else record


def _parent(resource: Resource, request: Request) -> int | None:
    if resource.parent is None:
        return None
    return _int(request.path_params["parentId"], "parentId")


def _visible(sim: Simulator, records: Iterable[dict[str, Any]], request: Request) -> Iterable[dict[str, Any]]:
    """Hide records younger than the search lag from queries that carry conditions."""
    lag = sim.state.settings.search_visibility_lag_seconds
    if lag <= 0 or not any(k.lower() == "conditions" and v.strip() for k, v in request.query_params.items()):
        return records
    cutoff = format_datetime(sim.state.clock() - timedelta(seconds=lag))
    return (r for r in records if r.get("_info", {}).get("dateEntered", "") <= cutoff)


def _candidates(
    sim: Simulator, resource: Resource, parent_id: int | None, request: Request
) -> Iterable[dict[str, Any]]:
    """The records a list's conditions may match, in id order: from an index when they pin a
    whole-number field to some values, else all of them (the conditions are applied after)."""
    records = sim.records.scope(resource, parent_id)
    narrowed = narrowing(resource, request.query_params)
    if narrowed is None:
        return records
    return sim.state.collection(resource.key).holding(*narrowed, parent_id)


def _collection_handlers(resource: Resource) -> tuple[Handler, Handler, Handler]:
    async def list_records(request: Request) -> Response:
        sim = sim_of(request)
        parent_id = _parent(resource, request)
        records = _visible(sim, _candidates(sim, resource, parent_id, request), request)
        forward_only = (
            request.headers.get("pagination-type", "").lower() == "forward-only"
            and resource.path not in sim.state.settings.forward_only_disabled
        )
        page = list_page(
            resource, records, request.query_params, forward_only=forward_only, link_to=_link_builder(request)
        )
        fields = parse_fields(request.query_params.get("fields"))
        rows = [_served(resource, row) for row in page.rows]
        rows = [project(row, fields) for row in rows] if fields else rows
        headers = {"link": page.link} if page.link is not None else {}
        return cw_response(request, rows, headers=headers)

    async def count_records(request: Request) -> Response:
        sim = sim_of(request)
        parent_id = _parent(resource, request)
        return cw_response(
            request, {"count": count(resource, _candidates(sim, resource, parent_id, request), request.query_params)}
        )

    async def create_record(request: Request) -> Response:
        sim = sim_of(request)
        parent_id = _parent(resource, request)
        body = await _json_body(request)
        record = sim.records.create(resource, body, parent_id, actor=_actor(request))
        location = f"{str(request.url).split('?')[0].rstrip('/')}/{record['id']}"
        return cw_response(request, _fields(request, record), 201, {"location": location})

    return list_records, count_records, create_record


def _item_handlers(resource: Resource) -> tuple[Handler, Handler, Handler, Handler]:
    async def get_record(request: Request) -> Response:
        sim = sim_of(request)
        record = sim.records.get(resource, _int(request.path_params["id"], "id"), _parent(resource, request))
        return cw_response(request, _fields(request, record, resource))

    def update(method: str) -> Handler:
        """PUT (replace) or PATCH: a 404 for a missing record comes before any body error."""

        async def update_record(request: Request) -> Response:
            sim = sim_of(request)
            record_id = _int(request.path_params["id"], "id")
            parent_id = _parent(resource, request)
            sim.records.get(resource, record_id, parent_id)
            body = await _json_body(request)
            write = sim.records.replace if method == "PUT" else sim.records.patch
            record = write(resource, record_id, body, parent_id, actor=_actor(request))
            return cw_response(request, _fields(request, record))

        return update_record

    replace_record, patch_record = update("PUT"), update("PATCH")

    async def delete_record(request: Request) -> Response:
        sim = sim_of(request)
        sim.records.delete(resource, _int(request.path_params["id"], "id"), _parent(resource, request))
        return cw_response(request, None, 204)

    return get_record, replace_record, patch_record, delete_record


def create_app(sim: Simulator | None = None) -> FastAPI:
    """The ASGI app serving ``sim`` (a fresh default simulator when None)."""
    sim = sim or Simulator.create()
    app = FastAPI(
        title="cwsim: ConnectWise Manage simulator",
        version="1.0",
        docs_url="/_sim/docs",
        openapi_url="/_sim/openapi.json",
        redoc_url=None,
    )
    app.state.sim = sim

    @app.exception_handler(SimError)
    async def sim_error(request: Request, error: SimError) -> Response:
        return error_response(request, error)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> Response:
        return error_response(request, BadRequest(f"The request is not valid: {error.errors()[:3]}"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        code = {404: "NotFound", 405: "MethodNotAllowed"}.get(error.status_code, "BadRequest")
        message = {
            404: f"No ConnectWise resource at {request.url.path}.",
            405: f"{request.method} is not allowed on {request.url.path}.",
        }.get(error.status_code, str(error.detail))
        return cw_response(request, {"code": code, "message": message}, error.status_code, dict(error.headers or {}))

    # Collections and counts first, so that ".../types" and ".../count" win over ".../{id}".
    for resource in sorted(RESOURCES, key=lambda r: -r.path.count("/")):
        list_records, count_records, create_record = _collection_handlers(resource)
        base = API + resource.path
        app.add_api_route(base + "/count", count_records, methods=["GET"], include_in_schema=False)
        app.add_api_route(base, list_records, methods=["GET"], include_in_schema=False)
        if not resource.read_only:
            app.add_api_route(base, create_record, methods=["POST"], include_in_schema=False)
    for resource in RESOURCES:
        get_record, replace_record, patch_record, delete_record = _item_handlers(resource)
        item = API + resource.path + "/{id}"
        app.add_api_route(item, get_record, methods=["GET"], include_in_schema=False)
        if resource.read_only:
            continue
        app.add_api_route(item, replace_record, methods=["PUT"], include_in_schema=False)
        app.add_api_route(item, patch_record, methods=["PATCH"], include_in_schema=False)
        app.add_api_route(item, delete_record, methods=["DELETE"], include_in_schema=False)

    @app.post(API + "finance/agreements/{id}/invoice", include_in_schema=False)
    async def invoice(request: Request) -> Response:
        """Invoice the agreement's next billing period; the answer is the new invoice's id."""
        sim = sim_of(request)
        agreement = sim.records.get(BY_KEY["agreements"], _int(request.path_params["id"], "id"))
        made = invoice_agreement(sim.state, agreement)
        assert made is not None
        return cw_response(request, made["id"])

    @app.get(API + "system/info", include_in_schema=False)
    async def system_info(request: Request) -> Response:
        settings = sim_of(request).state.settings
        return cw_response(
            request,
            {
                "version": f"v{settings.api_version}",
                "isCloud": settings.is_cloud,
                "serverTimeZone": settings.server_time_zone,
            },
        )

    @app.get("/login/companyinfo/{company_id}", include_in_schema=False)
    async def company_info(request: Request, company_id: str) -> Response:
        """Codebase discovery; an unknown company id answers a JSON ``null`` like ConnectWise."""
        settings = sim_of(request).state.settings
        if company_id.casefold() != settings.company_id.casefold():
            return Response(b"null", media_type="application/json")
        version = settings.api_version
        body = {
            "CompanyName": settings.company_name,
            # On premise answers v4_6_release/; the cloud answers its versioned codebase.
            "Codebase": settings.codebases[-1] if settings.is_cloud else settings.codebases[0],
            "VersionCode": f"v{version}",
            "VersionNumber": f"v4.6.{version.replace('.', '')}",
            "CompanyID": settings.company_id,
            "IsCloud": str(settings.is_cloud),
        }
        return Response(json.dumps(body).encode(), media_type="application/json")

    app.include_router(admin_router())
    app.add_middleware(Gate, sim=sim)
    return app
