"""Prometheus metrics at /metrics: requests by route and status, pushes by outcome, ConnectWise
calls by endpoint and status, and their durations. One registry per app (not the global one),
so several apps in one process (the tests) keep their own counts."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "meterbridge_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=self.registry
        )
        self.request_seconds = Histogram(
            "meterbridge_http_request_seconds", "Time to answer an HTTP request", ["route"], registry=self.registry
        )
        self.pushes = Counter("meterbridge_pushes", "Pushes finished, by status", ["status"], registry=self.registry)
        self.push_seconds = Histogram(
            "meterbridge_push_seconds", "Time a push takes", registry=self.registry, buckets=(1, 5, 15, 60, 300, 1800)
        )
        self.cw_calls = Counter(
            "meterbridge_connectwise_calls",
            "ConnectWise calls, by endpoint and HTTP status (or transport error)",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.cw_seconds = Histogram(
            "meterbridge_connectwise_call_seconds", "ConnectWise call durations", ["endpoint"], registry=self.registry
        )

    def connectwise_call(self, endpoint: str, status: str, seconds: float) -> None:
        self.cw_calls.labels(endpoint, status).inc()
        self.cw_seconds.labels(endpoint).observe(seconds)

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RouteNames:
    """The route template a request path matched (``/api/v1/tenants/{tenant}/runs/{run_id}``), from
    the app's own OpenAPI paths, so metrics have one series per route, not per id."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._patterns: list[tuple[re.Pattern[str], str]] | None = None

    def __call__(self, path: str) -> str:
        if self._patterns is None:
            templates = sorted(self._app.openapi()["paths"], key=lambda t: (t.count("{"), -len(t)))
            self._patterns = [
                (re.compile("^" + re.sub(r"\\{\w+\\}", "[^/]+", re.escape(t)) + "$"), t) for t in templates
            ]
        return next((template for pattern, template in self._patterns if pattern.match(path)), "unmatched")


def install(app: FastAPI, metrics: Metrics, monotonic: Callable[[], float]) -> None:
    names = RouteNames(app)

    @app.middleware("http")
    async def count(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = monotonic()
        name = names(request.url.path)
        method = request.method if request.method in METHODS else "other"  # a label set callers cannot grow
        status = "500"
        try:
            response = await call_next(request)
            status = str(response.status_code)
            return response
        finally:
            metrics.requests.labels(method, name, status).inc()
            metrics.request_seconds.labels(name).observe(monotonic() - started)
