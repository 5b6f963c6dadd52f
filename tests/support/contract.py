"""Contract checks: cwsim's traffic in the test suite against ConnectWise's own OpenAPI schemas.

The schemas are read from ../shared/connectwise/ (never copied into the project):
``manage-billing-subset.openapi.json`` for everything it has, and the verbatim 2026.4 GET subset
for the GET paths it lacks (company/contacts, finance/invoices). Two adjustments are made in
memory, both documented here because they are defects of the published document, not of cwsim:

* ``servers`` is replaced by one templated server so requests to 127.0.0.1 match (the published
  ``{codebase}apis/3.0`` template puts a slash inside a variable, which no matcher accepts);
* ``PatchOperation.value`` is declared ``type: object``: that is .NET's ``object`` (any JSON
  value), and ConnectWise's own examples patch strings and numbers with it.

Rules, per request/response pair seen by :class:`ContractMiddleware`:

* a 2xx answer: the request must validate (openapi-core: parameters, security, body), the status
  must be documented, and the body must validate against the operation's response schema
  (jsonschema with formats; for a ``fields=`` partial answer, without ``required``);
* a 4xx/5xx answer: the body must be a JSON object shaped like ``ErrorResponseMessage``; a
  request the schema forbids may be answered this way (that is the simulator refusing it);
* paths the schemas do not describe (system/info, login/companyinfo, /_sim/) are not checked.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_schema_validator import OAS30Validator
from werkzeug.datastructures import Headers, ImmutableMultiDict

SHARED = Path(os.environ.get("METERBRIDGE_SHARED", Path(__file__).resolve().parents[3] / "shared"))
TRIM_PATH = SHARED / "connectwise" / "manage-billing-subset.openapi.json"
GET_SUBSET_PATH = SHARED / "connectwise" / "openapi-get-subset-2026.4.json"
SPEC_MEDIA = "application/vnd.connectwise.com+json; version=2026.4"
SERVER = {
    "url": "{scheme}://{host}/{codebase}/apis/3.0",
    "variables": {
        "scheme": {"default": "http", "enum": ["http", "https"]},
        "host": {"default": "127.0.0.1"},
        "codebase": {"default": "v4_6_release"},
    },
}


def _adjusted(raw: dict[str, Any], keep_paths: Iterable[str] | None = None) -> dict[str, Any]:
    spec = copy.deepcopy(raw)
    spec["servers"] = [SERVER]
    schemas = spec["components"]["schemas"]
    if "PatchOperation" in schemas:
        schemas["PatchOperation"]["properties"]["value"] = {}
    if keep_paths is not None:
        wanted = set(keep_paths)
        spec["paths"] = {p: v for p, v in spec["paths"].items() if p in wanted}
    return spec


@cache
def trim_document() -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(TRIM_PATH.read_text(encoding="utf-8"))
    return raw


@cache
def documents() -> tuple[dict[str, Any], dict[str, Any]]:
    """The adjusted billing subset, and the contact and invoice paths of the 2026.4 GET subset."""
    trim = _adjusted(trim_document())
    subset_raw = json.loads(GET_SUBSET_PATH.read_text(encoding="utf-8"))
    # The GET subset has an unresolvable path parameter on /company/contacts/{id}/image; keep only
    # the contact and invoice paths cwsim serves, which are verbatim and sound.
    subset = _adjusted(
        subset_raw,
        keep_paths=[
            "/company/contacts",
            "/company/contacts/count",
            "/company/contacts/{id}",
            "/finance/invoices",
            "/finance/invoices/count",
            "/finance/invoices/{id}",
        ],
    )
    return trim, subset


@cache
def specs() -> tuple[OpenAPI, OpenAPI, OAS30Validator]:
    trim, subset = documents()
    error_schema = {**trim["components"]["schemas"]["ErrorResponseMessage"], "components": trim["components"]}
    error_schema["properties"]["errors"]["items"] = trim["components"]["schemas"]["ValidationError"]
    # ConnectWise's vendor media type is JSON; openapi-core only knows application/json by name.
    config = Config(extra_media_type_deserializers={"application/vnd.connectwise.com+json": _json_loads})
    return (
        OpenAPI.from_dict(trim, config=config),
        OpenAPI.from_dict(subset, config=config),
        OAS30Validator(error_schema),
    )


def _json_loads(data: bytes | str, **_parameters: str) -> Any:
    return json.loads(data)


def _without_required(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _without_required(v) for k, v in schema.items() if k != "required"}
    if isinstance(schema, list):
        return [_without_required(v) for v in schema]
    return schema


@cache
def _template_regex(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\{[^}]+\\}", r"[^/]+", re.escape(template)) + "$")


@cache
def _templates(index: int) -> list[str]:
    """A document's path templates, the most literal first: ``/x/count`` before ``/x/{id}``."""
    return sorted(documents()[index]["paths"], key=lambda template: template.count("{"))


def find_operation(method: str, api_path: str) -> tuple[int, str, dict[str, Any]] | None:
    """(document index, path template, operation) describing ``method api_path``, if any."""
    for index, document in enumerate(documents()):
        for template in _templates(index):
            item = document["paths"][template]
            if _template_regex(template).match(api_path) and method.lower() in item:
                return index, template, item[method.lower()]
    return None


@cache
def response_validator(index: int, template: str, method: str, status: str, partial: bool) -> OAS30Validator | None:
    document = documents()[index]
    response = document["paths"][template][method]["responses"].get(status)
    if response is None or "content" not in response:
        return None
    schema = response["content"][SPEC_MEDIA]["schema"]
    root = {**schema, "components": document["components"]}
    if partial:  # a ``fields=`` answer holds only the named properties
        root = _without_required(root)
    return OAS30Validator(root, format_checker=OAS30Validator.FORMAT_CHECKER)


@dataclass
class _Request:
    host_url: str
    path: str
    method: str
    body: bytes | None
    content_type: str
    parameters: RequestParameters


@dataclass
class _Response:
    data: bytes
    status_code: int
    content_type: str
    headers: Headers


@dataclass
class Exchange:
    method: str
    path: str
    query: str
    request_headers: dict[str, str]
    request_body: bytes
    status: int
    response_headers: dict[str, str]
    response_body: bytes


@dataclass
class ContractLog:
    violations: list[str] = field(default_factory=list)
    checked: int = 0
    allowed: list[str] = field(default_factory=list)

    def allow(self, fragment: str) -> None:
        """Accept violations containing ``fragment``: a test switched cwsim off the schema on purpose."""
        self.allowed.append(fragment)

    def add(self, violation: str) -> None:
        if not any(fragment in violation for fragment in self.allowed):
            self.violations.append(violation)

    def take(self) -> list[str]:
        found, self.violations = self.violations, []
        return found


@lru_cache(maxsize=100_000)
def _request_error(
    index: int,
    scheme: str,
    host: str,
    method: str,
    path: str,
    query: str,
    headers: tuple[tuple[str, str], ...],
    body: bytes,
) -> str | None:
    """openapi-core's first objection to a request, or None. A pure function of the request and
    the schema, and the slowest part of a check (about 15 ms a request: its parameter look-ups
    resolve the schema's references each time), so each distinct request is validated once a
    test process; a client repeats most of its reads exactly."""
    request = _Request(
        host_url=f"{scheme}://{host}",
        path=path,
        method=method.lower(),
        body=body or None,
        content_type=dict(headers).get("content-type", "application/json"),
        parameters=RequestParameters(
            query=ImmutableMultiDict(_parse_query(query)), header=Headers(list(headers)), cookie=ImmutableMultiDict()
        ),
    )
    errors = specs()[index].unmarshal_request(request).errors
    return str(errors[0]) if errors else None


#: answers up to this size are remembered (at most 4,096 of them: under 256 MiB a test process)
CACHED_BODY = 64 * 1024


def _response_problems(
    index: int, template: str, method: str, status: str, partial: bool, body: bytes
) -> tuple[str, ...]:
    """The schema's first five objections to a 2xx answer's body, or none. A pure function of the
    body and its operation's schema, so an answer read again unchanged (a preview reads the same
    additions run after run) is validated once a test process, as requests are; a big answer (a
    page of a long list) is validated each time rather than kept."""
    if len(body) <= CACHED_BODY:
        return _remembered_problems(index, template, method, status, partial, body)
    return _problems(index, template, method, status, partial, body)


@lru_cache(maxsize=4096)
def _remembered_problems(
    index: int, template: str, method: str, status: str, partial: bool, body: bytes
) -> tuple[str, ...]:
    return _problems(index, template, method, status, partial, body)


def _problems(index: int, template: str, method: str, status: str, partial: bool, body: bytes) -> tuple[str, ...]:
    validator = response_validator(index, template, method, status, partial)
    assert validator is not None
    problems = list(validator.iter_errors(json.loads(body)))
    return tuple(f"{list(p.absolute_path)}: {p.message}" for p in problems[:5])


def _parse_query(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=True)


def check_exchange(exchange: Exchange, log: ContractLog, scheme: str = "http", host: str = "127.0.0.1") -> None:
    match = re.match(r"^/[^/]+/apis/3\.0(/.*)$", exchange.path)
    if match is None:
        return
    found = find_operation(exchange.method, match[1])
    if found is None:
        return
    index, template, operation = found
    log.checked += 1
    where = f"{exchange.method} {exchange.path}?{exchange.query} -> {exchange.status}"
    if 200 <= exchange.status < 300:
        headers = tuple(sorted(exchange.request_headers.items()))
        request_error = _request_error(
            index, scheme, host, exchange.method, exchange.path, exchange.query, headers, exchange.request_body
        )
        if request_error is not None:
            log.add(f"{where}: cwsim accepted a request the schema forbids: {request_error}")
            return
        status = str(exchange.status)
        if status not in operation["responses"]:
            log.add(f"{where}: the schema documents {sorted(operation['responses'])}, not {status}")
            return
        partial = any(key.lower() == "fields" for key, _ in _parse_query(exchange.query))
        validator = response_validator(index, template, exchange.method.lower(), status, partial)
        if validator is None:
            if exchange.response_body:
                log.add(f"{where}: the schema documents no body, cwsim sent {exchange.response_body[:80]!r}")
            return
        content_type = exchange.response_headers.get("content-type", "")
        if not content_type.startswith("application/vnd.connectwise.com+json; version="):
            log.add(f"{where}: content type {content_type!r} is not ConnectWise's")
            return
        problems = _response_problems(index, template, exchange.method.lower(), status, partial, exchange.response_body)
        if problems:
            log.add(f"{where}: response does not match the schema: {'; '.join(problems)}")
        return
    try:
        body = json.loads(exchange.response_body)
    except ValueError:
        log.add(f"{where}: error body is not JSON: {exchange.response_body[:200]!r}")
        return
    problems = list(specs()[2].iter_errors(body))
    if not isinstance(body, dict) or problems or not body.get("message"):
        log.add(f"{where}: error body is not an ErrorResponseMessage: {body!r} {problems[:1]}")


class ContractMiddleware:
    """Wraps an ASGI app; checks each exchange with :func:`check_exchange` into ``log``."""

    def __init__(self, app: Any, log: ContractLog, scheme: str = "http") -> None:
        self.app = app
        self.log = log
        self.scheme = scheme

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_body = bytearray()
        response: dict[str, Any] = {"status": 0, "headers": {}, "body": bytearray()}

        async def receive_wrapper() -> dict[str, Any]:
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                request_body.extend(message.get("body", b""))
            return message

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
                response["headers"] = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
            elif message["type"] == "http.response.body":
                response["body"].extend(message.get("body", b""))
            await send(message)

        await self.app(scope, receive_wrapper, send_wrapper)
        exchange = Exchange(
            method=scope["method"],
            path=scope["path"],
            query=scope.get("query_string", b"").decode("latin-1"),
            request_headers={k.decode().lower(): v.decode() for k, v in scope.get("headers", [])},
            request_body=bytes(request_body),
            status=response["status"],
            response_headers=response["headers"],
            response_body=bytes(response["body"]),
        )
        fault = exchange.status >= 500 and b"InjectedFault" in exchange.response_body
        incomplete = exchange.response_headers.get("content-length") not in (
            None,
            str(len(exchange.response_body)),
        )
        if not fault and not incomplete:
            host = exchange.request_headers.get("host", "127.0.0.1")
            try:
                check_exchange(exchange, self.log, self.scheme, host)
            except Exception as error:
                self.log.add(f"{exchange.method} {exchange.path}: contract check failed: {error!r}")
