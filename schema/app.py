"""The Starlette application: /graphql (HTTP + websocket), /healthz, /readyz, /metrics."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UNSET, UnsetType
from tortoise import connections

from core.config import current_settings
from core.db import close_db, init_db
from core.heap import freeze_startup_heap
from core.ledger.runtime import ledger_runtime
from core.monitoring.violation_feed import violation_feed
from plugins.runtime import plugin_runtime
from schema.callbacks import payment_callback
from schema.context import Context, authenticate_connection, bearer, build_context
from schema.metrics import MetricsMiddleware, metrics
from schema.schema import build_schema
from workers.runtime import background_runtime

log = logging.getLogger("lendline.app")


class LendlineGraphQL(GraphQL):
    """Strawberry's ASGI view with our context; the request id travels back in a header."""

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:  # type: ignore[override]
        token = bearer(request.headers.get("authorization")) if isinstance(request, Request) else None
        ctx = await build_context(request, response, token)
        if isinstance(response, Response):
            response.headers["x-request-id"] = ctx.request_id
        return ctx

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:  # type: ignore[override]
        """graphql-transport-ws: log the connection in from the `connection_init` payload."""
        if not await authenticate_connection(context):
            raise ConnectionRejectionError({"message": "The access token in connection_init is invalid or expired"})
        return UNSET


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    try:
        await connections.get("default").execute_query("SELECT 1")
    except Exception as exc:  # the point is to report any failure as "not ready"
        log.warning("readiness check failed: %s", exc)
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


def create_app(*, manage_db: bool = True) -> Starlette:
    """Build the app; `manage_db=False` when the caller (tests, the demo command) owns the ORM."""
    settings = current_settings()
    graphql = LendlineGraphQL(build_schema(), graphql_ide=None if settings.production else "graphiql")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage_db:
            await init_db()
        try:
            # One PluginHost per process (plugins/runtime.py): incidents become system alerts.
            # background_runtime: outbox dispatch, and without REDIS_URL the jobs and scheduler in-process
            async with plugin_runtime(), ledger_runtime(), background_runtime():
                if manage_db:  # the app is the process (`lendline serve`), not a guest of tests or the demo
                    freeze_startup_heap()
                yield
        finally:
            await violation_feed().close()  # the ledger runtime closes the ledger's feed
            if manage_db:
                await close_db()

    middleware = [Middleware(MetricsMiddleware)]
    if settings.cors_origins:
        middleware.append(Middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                                     allow_methods=["GET", "POST"], allow_headers=["authorization", "content-type",
                                                                                   "x-request-id"]))
    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route("/callbacks/payments/{provider}", payment_callback, methods=["POST"]),
    ]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
