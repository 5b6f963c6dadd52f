"""The async ConnectWise Manage client: the one way meterbridge talks to ConnectWise.

Modelled on httpx's own design: the client owns no sockets (the transport is injected), every
error is one of errors.py's, and time (monotonic clock, sleep, jitter) is injected too.

What every request gets:
* ``Authorization: Basic base64(companyId+publicKey:privateKey)``, ``clientId``, the pinned
  ``Accept: application/vnd.connectwise.com+json; version=...``; ``Content-Type`` on writes;
* its turn from the connection's pacer (pacing.py), shared by everything that uses this client:
  a token from the connection's bucket (default 900 a minute), a place among the requests in
  flight (default 8), and what ConnectWise's throttles taught it: a 429 (or a 503 with
  Retry-After) pauses every request for the Retry-After, halves the requests in flight and
  learns the rate ConnectWise grants; both grow back slowly;
* retries: a throttled request is sent again after the pause, for as long as the client makes
  progress (``rate_limit_patience_seconds`` without any answer ends it); 5xx, timeouts and
  dropped connections back off exponentially with jitter, up to a cap, for idempotent methods
  (GET, PUT, PATCH, DELETE). A POST is retried only when it cannot have reached ConnectWise
  (the connection was never made, or a 429 said it was not taken); otherwise it fails with
  ``maybe_applied=True``. A 4xx other than 429 is never retried;
* codebase discovery through ``/login/companyinfo`` (cached), and one re-discovery after a 404,
  since hosted codebases move.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
import random
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx2

from meterbridge.connectwise.conditions import Condition, F, chunk_in
from meterbridge.connectwise.errors import (
    AuthError,
    ConfigurationError,
    Conflict,
    ConnectWiseError,
    FieldError,
    NotFound,
    RateLimited,
    TemporaryError,
    ValidationFailed,
)
from meterbridge.connectwise.limits import Monotonic, Sleep
from meterbridge.connectwise.models import (
    Addition,
    Agreement,
    AgreementType,
    CatalogItem,
    Company,
    Configuration,
    ConfigurationType,
    Contact,
    CWModel,
    to_body,
)
from meterbridge.connectwise.pacing import Pacer, Pacing
from meterbridge.connectwise.settings import ConnectionSettings
from meterbridge.connectwise.stats import CallStats, endpoint_of
from meterbridge.connectwise.transport import pooled_transport
from meterbridge.connectwise.wire import dumps, loads

log = logging.getLogger("meterbridge.connectwise")

MAX_URL_LENGTH = 2000
PAGE_SIZE = 1000
IDEMPOTENT = frozenset({"GET", "PUT", "PATCH", "DELETE", "HEAD"})
NEVER_SENT = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout)
M = TypeVar("M", bound=CWModel)
Jitter = Callable[[float, float], float]
#: Told of every exchange: (endpoint, HTTP status or the transport error's name, seconds).
Observer = Callable[[str, str, float], None]


class ConnectWiseClient:
    """``async with ConnectWiseClient(settings) as cw: ...``; see the module docstring."""

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
        clock: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        jitter: Jitter | None = None,
        codebase_cache: dict[tuple[str, str], str] | None = None,
        observer: Observer | None = None,
        wrap: Callable[[httpx2.AsyncBaseTransport], httpx2.AsyncBaseTransport] | None = None,
    ) -> None:
        """``wrap``: what the network transport is wrapped in (the caller's outbound guard)."""
        self.settings = settings
        #: called with (method, path) the moment before each request that writes leaves, every
        #: attempt; what it raises stops the request unsent (a push's lease fence)
        self.before_write: Callable[[str, str], None] | None = None
        self.stats = CallStats()
        self._observer = observer
        self._clock = clock
        self._sleep = sleep
        self._jitter: Jitter = jitter or random.Random().uniform  # noqa: S311 - jitter, not security
        self._codebases = codebase_cache if codebase_cache is not None else {}
        self._pacer = Pacer(
            per_minute=settings.rate_limit_per_minute,
            max_in_flight=settings.max_concurrency,
            patience_seconds=settings.rate_limit_patience_seconds,
            clock=clock,
            sleep=sleep,
        )
        limits = httpx2.Limits(
            max_connections=settings.max_concurrency, max_keepalive_connections=settings.max_concurrency
        )
        self._http = httpx2.AsyncClient(
            transport=transport or (wrap or _as_is)(pooled_transport(limits, verify)),
            timeout=httpx2.Timeout(settings.timeout_seconds, connect=settings.connect_timeout_seconds),
            follow_redirects=False,
        )
        secret = f"{settings.company_id}+{settings.public_key}:{settings.private_key.get_secret_value()}"
        basic = base64.b64encode(secret.encode("utf-8")).decode("ascii")
        #: what an answer must not carry into an error message (a site that echoes its request)
        echoed = {secret, basic, basic.rstrip("="), settings.private_key.get_secret_value()}
        self._secrets = sorted(echoed, key=len, reverse=True)
        self._headers = {
            "Authorization": "Basic " + basic,
            "clientId": settings.client_id,
            "Accept": f"application/vnd.connectwise.com+json; version={settings.api_version}",
        }

    async def __aenter__(self) -> ConnectWiseClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"ConnectWiseClient({self.settings!r})"

    @property
    def pacing(self) -> Pacing:
        """How the client paces itself now (requests in flight, learnt rate) and how it slowed down."""
        return self._pacer.state()

    # -- codebase ----------------------------------------------------------------------------
    @property
    def _cache_key(self) -> tuple[str, str]:
        return (self.settings.login_host.lower(), self.settings.company_id.lower())

    async def codebase(self, *, refresh: bool = False) -> str:
        """The codebase API calls use: from the settings, the cache, or /login/companyinfo."""
        if self.settings.codebase:
            return self.settings.codebase
        if not refresh and self._cache_key in self._codebases:
            return self._codebases[self._cache_key]
        url = f"{self.settings.scheme}://{self.settings.login_host}/login/companyinfo/{self.settings.company_id}"
        response = await self._send("GET", url, "login/companyinfo", authenticated=False)
        info = loads(response.content) if response.content.strip() else None
        if not isinstance(info, dict) or not info.get("Codebase"):
            raise ConfigurationError(
                f"ConnectWise at {self.settings.login_host} does not know the company id "
                f"{self.settings.company_id!r}; check the company id and the site",
                method="GET",
                path="login/companyinfo",
            )
        codebase = str(info["Codebase"]).strip("/") + "/"
        self._codebases[self._cache_key] = codebase
        return codebase

    async def _api_url(self, path: str, *, refresh: bool = False) -> str:
        codebase = await self.codebase(refresh=refresh)
        host = self.settings.api_host(codebase)
        return f"{self.settings.scheme}://{host}/{codebase}apis/3.0/{path.strip('/')}"

    # -- the request loop --------------------------------------------------------------------
    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx2.Response:
        """One API call with ConnectWise's headers, limits, retries and error mapping."""
        url = await self._api_url(path)
        try:
            return await self._send(method, url, path, params=params, body=body, headers=headers)
        except NotFound:
            if self.settings.codebase:
                raise
            before = await self.codebase()
            after = await self.codebase(refresh=True)
            if after == before:
                raise
            log.info("ConnectWise codebase moved from %s to %s; retrying %s %s", before, after, method, path)
            url = await self._api_url(path)
            return await self._send(method, url, path, params=params, body=body, headers=headers)

    async def _send(
        self,
        method: str,
        url: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        authenticated: bool = True,
    ) -> httpx2.Response:
        endpoint = endpoint_of(method, path)
        all_headers = dict(self._headers) if authenticated else {"Accept": "application/json"}
        content = None
        if body is not None:
            content = dumps(body)
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        settings = self.settings
        attempt = 0
        while True:
            attempt += 1
            async with self._pacer.slot() as ticket:
                if method not in ("GET", "HEAD") and self.before_write is not None:
                    self.before_write(method, path)  # after every wait: the moment before it leaves
                started = self._clock()
                try:
                    response = await self._http.request(
                        method, url, params=params, content=content, headers=all_headers
                    )
                except httpx2.InvalidURL as error:  # nothing was sent: the request cannot be made at all
                    self.stats.failure(endpoint)
                    raise ConfigurationError(f"{error}", method=method, path=path) from None
                except httpx2.TransportError as error:
                    self.stats.call(endpoint, self._clock() - started)
                    self._observe(endpoint, type(error).__name__, self._clock() - started)
                    reached = not isinstance(error, NEVER_SENT)
                    what = type(error).__name__
                    if method not in IDEMPOTENT and reached:
                        self.stats.failure(endpoint)
                        raise TemporaryError(
                            f"{what} after the request was sent; it may have been applied",
                            maybe_applied=True,
                            method=method,
                            path=path,
                        ) from None
                    if attempt >= settings.max_attempts:
                        self.stats.failure(endpoint)
                        raise TemporaryError(f"{what}, {attempt} attempts", method=method, path=path) from None
                    delay = self._backoff(attempt)
                    log.warning("%s %s: %s; retry %d in %.2fs", method, path, what, attempt, delay)
                    self.stats.retry(endpoint, rate_limited=False)
                    await self._sleep(delay)
                    continue
                self.stats.call(endpoint, self._clock() - started)
                self._observe(endpoint, str(response.status_code), self._clock() - started)
            status = response.status_code
            wait = self._throttle(response, attempt)
            if wait is None:
                self._pacer.answered(progress=status < 500)
                if status < 400:
                    return response
            else:
                idle = self._pacer.throttled(ticket, wait)  # every request of this client waits it out
                if status != 429 and method not in IDEMPOTENT:  # a 503 to a write: it may have been applied
                    self.stats.failure(endpoint)
                    raise self._error(response, method, path, maybe_applied=True)
                if idle is not None:
                    self.stats.failure(endpoint)
                    raise RateLimited(
                        f"rate limited with no call answered for {idle:.0f} s (the patience is "
                        f"{settings.rate_limit_patience_seconds:g} s); ConnectWise asked to wait {wait:g} s more",
                        retry_after=wait,
                        method=method,
                        path=path,
                        status=status,
                    )
                log.info("%s %s: %d, all requests wait %.1fs", method, path, status, wait)
                self.stats.retry(endpoint, rate_limited=True)
                attempt -= 1  # a throttled request was not processed: it does not spend an attempt
                continue
            if status >= 500:
                if method not in IDEMPOTENT:
                    self.stats.failure(endpoint)
                    raise self._error(response, method, path, maybe_applied=True)
                if attempt >= settings.max_attempts:
                    self.stats.failure(endpoint)
                    raise self._error(response, method, path)
                delay = self._backoff(attempt)
                log.warning("%s %s: %d; retry %d in %.2fs", method, path, status, attempt, delay)
                self.stats.retry(endpoint, rate_limited=False)
                await self._sleep(delay)
                continue
            self.stats.failure(endpoint)
            raise self._error(response, method, path)

    def _observe(self, endpoint: str, outcome: str, seconds: float) -> None:
        if self._observer is not None:
            self._observer(endpoint, outcome, seconds)

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.settings.backoff_cap_seconds, self.settings.backoff_base_seconds * 2 ** (attempt - 1))
        return float(ceiling / 2 + self._jitter(0.0, ceiling / 2))

    def _throttle(self, response: httpx2.Response, attempt: int) -> float | None:
        """The seconds a throttle asks to wait: a 429's Retry-After (backoff when it has none) or a
        503's when it has one; None for any other answer."""
        if response.status_code not in (429, 503):
            return None
        raw = response.headers.get("retry-after", "").strip()
        try:
            seconds = float(raw)
        except ValueError:
            if response.status_code == 503:
                return None  # an ordinary server error
            seconds = self._backoff(attempt)
        if math.isnan(seconds):
            seconds = self._backoff(attempt)
        return max(0.0, min(seconds, self.settings.max_retry_after_seconds))

    def _error(
        self, response: httpx2.Response, method: str, path: str, *, maybe_applied: bool = False
    ) -> ConnectWiseError:
        status = response.status_code
        code: str | None = None
        message = response.reason_phrase or f"HTTP {status}"
        errors: tuple[FieldError, ...] = ()
        try:
            payload = loads(response.content) if response.content else None
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            code = payload.get("code") or payload.get("error")
            message = str(payload.get("message") or message)
            raw_errors = payload.get("errors") or []
            if isinstance(raw_errors, list):
                errors = tuple(
                    FieldError(
                        code=str(e.get("code", "")),
                        message=str(e.get("message", "")),
                        field=e.get("field"),
                        resource=e.get("resource"),
                    )
                    for e in raw_errors
                    if isinstance(e, dict)
                )
        elif response.text.strip():
            message = response.text.strip()[:300]
        message = self._masked(message)
        errors = tuple(FieldError(e.code, self._masked(e.message), e.field, e.resource) for e in errors)
        if status == 400:
            return ValidationFailed(message, errors=errors, method=method, path=path, status=status, code=code)
        kind: type[ConnectWiseError] = {401: AuthError, 403: AuthError, 404: NotFound, 409: Conflict}.get(
            status, ConnectWiseError
        )
        if status >= 500:
            return TemporaryError(
                message, maybe_applied=maybe_applied, method=method, path=path, status=status, code=code
            )
        return kind(message, method=method, path=path, status=status, code=code)

    def _masked(self, text: str) -> str:
        """``text`` without this connection's private key or Authorization value."""
        for secret in self._secrets:
            if secret:
                text = text.replace(secret, "[redacted]")
        return text

    # -- reading -----------------------------------------------------------------------------
    async def get(self, path: str, *, params: Mapping[str, str | int] | None = None) -> Any:
        return loads((await self.request("GET", path, params=params)).content)

    async def count(self, path: str, conditions: Condition | str | None = None) -> int:
        params = {"conditions": str(conditions)} if conditions and str(conditions) else None
        answer = await self.get(f"{path.rstrip('/')}/count", params=params)
        return int(answer["count"])

    async def iterate(
        self,
        path: str,
        *,
        conditions: Condition | str | None = None,
        fields: Sequence[str] | None = None,
        page_size: int = PAGE_SIZE,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every record of a collection, forward-only (by id) where the endpoint supports it.

        An endpoint that ignores forward-only paging answers with page links or none: the
        iteration then follows ``page`` numbers instead, without starting over.
        """
        params: dict[str, str | int] = {"pageSize": page_size}
        if conditions and str(conditions):
            params["conditions"] = str(conditions)
        if fields:
            params["fields"] = ",".join(fields)
        forward = {"pagination-type": "forward-only"}
        page_id = 0
        page = 1
        mode = "forward"
        while True:
            if mode == "forward":
                response = await self.request("GET", path, params={**params, "pageId": page_id}, headers=forward)
            else:
                response = await self.request("GET", path, params={**params, "page": page})
            rows = loads(response.content)
            for row in rows:
                yield row
            link = response.headers.get("link")
            if mode == "forward":
                next_query = _next_link(link)
                if link is not None and "pageId" in next_query:
                    page_id = int(next_query["pageId"])
                    continue
                if link is not None and link.strip() == "":
                    return
                mode = "pages"  # forward-only not supported here
            if len(rows) < page_size:
                return
            page += 1

    async def _models(
        self, model: type[M], path: str, conditions: Condition | str | None, fields: Sequence[str] | None = None
    ) -> list[M]:
        return [model.model_validate(row) async for row in self.iterate(path, conditions=conditions, fields=fields)]

    async def companies(self, conditions: Condition | str | None = None) -> list[Company]:
        return await self._models(Company, "company/companies", conditions)

    async def contacts(self, conditions: Condition | str | None = None) -> list[Contact]:
        return await self._models(Contact, "company/contacts", conditions)

    async def agreement_types(self, conditions: Condition | str | None = None) -> list[AgreementType]:
        return await self._models(AgreementType, "finance/agreements/types", conditions)

    async def agreements(
        self, conditions: Condition | str | None = None, *, fields: Sequence[str] | None = None
    ) -> list[Agreement]:
        """Agreements; with ``fields``, only those (a partial response: less to send, parse and hold)."""
        return await self._models(Agreement, "finance/agreements", conditions, fields)

    async def catalog_items(self, conditions: Condition | str | None = None) -> list[CatalogItem]:
        return await self._models(CatalogItem, "procurement/catalog", conditions)

    async def configuration_types(self, conditions: Condition | str | None = None) -> list[ConfigurationType]:
        return await self._models(ConfigurationType, "company/configurations/types", conditions)

    async def configurations(self, conditions: Condition | str | None = None) -> list[Configuration]:
        return await self._models(Configuration, "company/configurations", conditions)

    async def additions(self, agreement_id: int, conditions: Condition | str | None = None) -> list[Addition]:
        return await self._models(Addition, f"finance/agreements/{agreement_id}/additions", conditions)

    async def system_info(self) -> dict[str, Any]:
        info: dict[str, Any] = await self.get("system/info")
        return info

    async def agreements_of_companies(
        self, company_ids: Iterable[int], conditions: Condition | None = None, *, fields: Sequence[str] | None = None
    ) -> list[Agreement]:
        """The agreements of many companies in few calls: ``company/id in (...)`` chunked by URL length
        (``fields`` counted in it)."""
        ids = sorted(set(company_ids))
        if not ids:
            return []
        base = await self._api_url("finance/agreements")
        fits = self._fits(base, fields)
        chunks = list(chunk_in(F("company/id"), ids, fits, extra=conditions))
        results = await asyncio.gather(*(self.agreements(chunk, fields=fields) for chunk in chunks))
        return [agreement for chunk in results for agreement in chunk]

    async def additions_of_agreements(self, agreement_ids: Iterable[int]) -> dict[int, list[Addition]]:
        """Additions per agreement, one call each (ConnectWise has no bulk read), concurrently."""
        ids = sorted(set(agreement_ids))
        results = await asyncio.gather(*(self.additions(agreement_id) for agreement_id in ids))
        return dict(zip(ids, results, strict=True))

    def _fits(self, base_url: str, fields: Sequence[str] | None = None) -> Callable[[Condition], bool]:
        def fits(condition: Condition) -> bool:
            params: dict[str, str | int] = {"pageSize": PAGE_SIZE, "conditions": str(condition), "pageId": 2**31 - 1}
            if fields:
                params["fields"] = ",".join(fields)
            try:
                return len(str(self._http.build_request("GET", base_url, params=params).url)) <= MAX_URL_LENGTH
            except httpx2.InvalidURL:  # longer than any URL the client builds: too long, not a crash
                return False

        return fits

    # -- writing -----------------------------------------------------------------------------
    async def create(self, path: str, body: Mapping[str, Any] | CWModel) -> dict[str, Any]:
        payload = to_body(body) if isinstance(body, CWModel) else dict(body)
        created: dict[str, Any] = loads((await self.request("POST", path, body=payload)).content)
        return created

    async def patch(self, path: str, operations: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        patched: dict[str, Any] = loads((await self.request("PATCH", path, body=list(operations))).content)
        return patched

    async def patch_fields(self, path: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """PATCH the given top-level fields (camelCase): a value replaces, None removes."""
        return await self.patch(path, patch_operations(changes))

    async def replace(self, path: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """GET, merge ``changes`` into the whole record, PUT it back (PUT resets what it omits)."""
        current = await self.get(path)
        current.pop("_info", None)
        merged = {**current, **changes}
        merged = {k: v for k, v in merged.items() if v is not None}
        replaced: dict[str, Any] = loads((await self.request("PUT", path, body=merged)).content)
        return replaced

    async def delete(self, path: str) -> None:
        await self.request("DELETE", path)

    async def create_addition(self, agreement_id: int, addition: Addition | Mapping[str, Any]) -> Addition:
        created = await self.create(f"finance/agreements/{agreement_id}/additions", addition)
        return Addition.model_validate(created)

    async def update_addition(self, agreement_id: int, addition_id: int, changes: Mapping[str, Any]) -> Addition:
        path = f"finance/agreements/{agreement_id}/additions/{addition_id}"
        return Addition.model_validate(await self.patch_fields(path, changes))

    async def cancel_addition(self, agreement_id: int, addition_id: int, cancelled: datetime) -> Addition:
        """End an addition with ``cancelledDate`` (invoiced additions are cancelled, never deleted)."""
        return await self.update_addition(agreement_id, addition_id, {"cancelledDate": cancelled})


def _as_is(transport: httpx2.AsyncBaseTransport) -> httpx2.AsyncBaseTransport:
    return transport


def patch_operations(changes: Mapping[str, Any]) -> list[dict[str, Any]]:
    operations: list[dict[str, Any]] = []
    for field, value in changes.items():
        if "/" in field:
            raise ValueError(f"PATCH replaces whole top-level fields, not {field!r}")
        if value is None:
            operations.append({"op": "remove", "path": field})
        else:
            operations.append({"op": "replace", "path": field, "value": value})
    return operations


def changed_fields(before: CWModel, after: CWModel) -> dict[str, Any]:
    """The camelCase fields whose values differ, for a PATCH (None where a field was cleared)."""
    old = before.model_dump(by_alias=True, exclude={"info"}, exclude_none=True)
    new = after.model_dump(by_alias=True, exclude={"info"}, exclude_none=True)
    return {key: new.get(key) for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)}


def _next_link(link: str | None) -> dict[str, str]:
    if not link:
        return {}
    for part in link.split(","):
        if 'rel="next"' in part and "<" in part and ">" in part:
            url = part[part.index("<") + 1 : part.index(">")]
            return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}
    return {}
