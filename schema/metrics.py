"""Prometheus metrics: requests, latencies and errors per route (GET /metrics)."""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REGISTRY = CollectorRegistry()
REQUESTS = Counter("lendline_http_requests_total", "HTTP requests", ["method", "path", "status"], registry=REGISTRY)
LATENCY = Histogram("lendline_http_request_seconds", "HTTP request latency", ["method", "path"], registry=REGISTRY)
ERRORS = Counter("lendline_http_errors_total", "HTTP responses with status >= 500", ["path"], registry=REGISTRY)
KNOWN_PATHS = {"/graphql", "/healthz", "/readyz", "/metrics"}


class MetricsMiddleware:
    """Pure ASGI middleware (works for websockets too, which it leaves alone)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"] if scope["path"] in KNOWN_PATHS else "other"
        started = time.perf_counter()
        status = [500]

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            LATENCY.labels(scope["method"], path).observe(time.perf_counter() - started)
            REQUESTS.labels(scope["method"], path, str(status[0])).inc()
            if status[0] >= 500:
                ERRORS.labels(path).inc()


async def metrics(request: Request) -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
