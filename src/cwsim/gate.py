"""The ASGI gate in front of the ConnectWise routes: faults, routing, auth, version, rate limit, log.

Order for a request to ``/{codebase}/apis/3.0/...``: injected latency; the codebase (404
"Cannot route. Codebase/company is invalid"); Basic auth (401); the clientId header (401 by
default, switchable); the Accept version (400 for a malformed or future version); the member's
token bucket (429 with Retry-After); the member's role (403 for writes by a read-only member);
then an injected fault, if any, or the routes. ``/_sim/`` (the admin API) passes straight
through and is not logged.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from cwsim.errors import Forbidden, InjectedServerError, NotFound, SimError, TooManyRequests, Unauthorized
from cwsim.fields import format_datetime
from cwsim.sim import Simulator
from cwsim.state import Member

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

API_PATH = re.compile(r"^/(?P<codebase>[^/]+)/apis/3\.0/(?P<path>.*)$")
_MEDIA = "application/vnd.connectwise.com+json"
_VERSION = re.compile(r"^\d{4}\.\d{1,2}$")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def media_type(version: str) -> str:
    return f"{_MEDIA}; version={version}"


def requested_version(accept: str | None, current: str) -> str:
    """The API version an ``Accept`` header pins, or the current one when it pins none."""
    if not accept:
        return current
    for part in accept.split(","):
        pieces = [p.strip() for p in part.split(";")]
        if pieces[0].lower() != _MEDIA:
            continue
        for parameter in pieces[1:]:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "version":
                version = value.strip().strip('"')
                if not _VERSION.match(version):
                    raise BadVersion(f"The API version '{version}' is not valid; use a release such as {current}.")
                if _version_tuple(version) > _version_tuple(current):
                    raise BadVersion(f"The API version {version} is not supported; the current version is {current}.")
                return version
    return current


def _version_tuple(version: str) -> tuple[int, int]:
    year, minor = version.split(".")
    return int(year), int(minor)


class BadVersion(SimError):
    status = 400
    code = "InvalidVersion"


def authenticate(header: str | None, company_id: str, find: Callable[[str, str], Member | None]) -> Member:
    if not header or not header.lower().startswith("basic "):
        raise Unauthorized("Authentication is required: send Basic companyId+publicKey:privateKey.")
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("The Authorization header is not valid Basic credentials.") from None
    username, _, private_key = decoded.partition(":")
    company, _, public_key = username.partition("+")
    member = find(public_key, private_key)
    if company.casefold() != company_id.casefold() or member is None:
        raise Unauthorized("Authentication failed: check the company id, public key and private key.")
    return member


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


async def send_json(send: Send, status: int, body: Any, headers: dict[str, str], version: str) -> None:
    payload = json.dumps(body, separators=(",", ":")).encode()
    raw_headers = [
        (b"content-type", media_type(version).encode()),
        (b"content-length", str(len(payload)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in headers.items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


async def drop_connection(send: Send) -> None:
    """Start a response and end it short: the server closes the connection mid-answer."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", _MEDIA.encode()), (b"content-length", b"4096")],
        }
    )
    await send({"type": "http.response.body", "body": b"[", "more_body": True})


class Gate:
    def __init__(self, app: ASGIApp, sim: Simulator) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sim"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method: str = scope["method"]
        match = API_PATH.match(scope["path"])
        api_path = match["path"] if match else scope["path"].lstrip("/")
        settings = self.sim.state.settings
        outcome: dict[str, Any] = {"status": 0, "member": None, "fault": None}

        def record() -> None:
            """Log the request once, as its answer starts: an observer never sees an answer unlogged."""
            if outcome.get("recorded"):
                return
            outcome["recorded"] = True
            self.sim.traffic.record(
                at=format_datetime(self.sim.state.clock()),
                method=method,
                path=api_path,
                query=scope.get("query_string", b"").decode("latin-1"),
                status=outcome["status"],
                member=outcome["member"],
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
                fault=outcome["fault"],
            )

        async def tracked_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                outcome["status"] = message["status"]
                record()
            await send(message)

        version = settings.api_version
        try:
            decision = self.sim.faults.decide(method, api_path)
            if decision.latency_s > 0:
                await asyncio.sleep(decision.latency_s)
            headers = _headers(scope)
            if match is not None:
                try:
                    member, version = self._admit(match["codebase"], method, api_path, headers)
                except SimError as error:
                    await send_json(tracked_send, error.status, error.body(), error.headers(), version)
                    return
                outcome["member"] = member.identifier
                scope.setdefault("state", {})
                scope["state"]["member"] = member.identifier
                scope["state"]["api_version"] = version
            if decision.action == "error":
                outcome["fault"] = f"status {decision.status}"
                if decision.after_processing:  # applied, then the error: the answer was lost on the way
                    outcome["fault"] += " after processing"

                    async def applied(message: Message) -> None:
                        if message["type"] == "http.response.start":
                            outcome["processed_status"] = message["status"]

                    await self.app(scope, receive, applied)
                fault: SimError = (
                    TooManyRequests(decision.retry_after)
                    if decision.status == 429
                    else InjectedServerError(f"Injected fault: status {decision.status}.")
                )
                fault.status = decision.status
                await send_json(tracked_send, fault.status, fault.body(), fault.headers(), version)
            elif decision.action == "hang":
                outcome["fault"] = "hang"
                await asyncio.sleep(decision.hang_s)
                await drop_connection(tracked_send)
            elif decision.action == "drop" and not decision.after_processing:
                outcome["fault"] = "drop before processing"
                await drop_connection(tracked_send)
            elif decision.action == "drop":
                outcome["fault"] = "drop after processing"

                async def swallow(message: Message) -> None:
                    if message["type"] == "http.response.start":
                        outcome["processed_status"] = message["status"]

                await self.app(scope, receive, swallow)
                await drop_connection(tracked_send)
            else:
                await self.app(scope, receive, tracked_send)
        finally:
            record()  # no answer was started (the app failed): still logged

    def _admit(self, codebase: str, method: str, api_path: str, headers: dict[str, str]) -> tuple[Member, str]:
        state = self.sim.state
        settings = state.settings
        if codebase + "/" not in settings.codebases:
            raise NotFound("Cannot route. Codebase/company is invalid")
        member = authenticate(headers.get("authorization"), settings.company_id, state.member)
        if settings.require_client_id and not headers.get("clientid", "").strip():
            error = Unauthorized("A clientId header is required: register your integration for a clientId.")
            error.status = settings.missing_client_id_status
            error.code = "ClientIdRequired"
            raise error
        version = requested_version(headers.get("accept"), settings.api_version)
        self.sim.limiter.configure(settings.rate_limit_per_minute)
        wait = self.sim.limiter.take(member.public_key)
        if wait is not None:
            raise TooManyRequests(wait)
        if member.read_only and method in WRITE_METHODS:
            raise Forbidden(
                f"Improper security role settings: API member {member.identifier} may not {method} {api_path}."
            )
        return member, version
