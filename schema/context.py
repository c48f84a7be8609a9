"""Per-request context: the caller, the request id, and request-scoped caches.

Built once per request (HTTP) or per connection (websocket) before any resolver runs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.websockets import WebSocket

from core.accounts.auth import authenticate
from core.actor import Actor
from core.errors import UserError
from permissions.scope import NOTHING, DataScope


@dataclass
class Context:
    request: Request | WebSocket | None
    response: Any = None
    actor: Actor | None = None
    auth_error: UserError | None = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    cache: dict[str, Any] = field(default_factory=dict)
    # websocket only: the graphql-transport-ws `connection_init` payload (strawberry fills it in)
    connection_params: dict[str, Any] | None = None

    @property
    def scope(self) -> DataScope:
        """The caller's bank/product data scope, computed once per request (F-ROLE-4)."""
        return self.actor.scope if self.actor else NOTHING


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def build_context(request: Request | WebSocket | None, response: Any, token: str | None) -> Context:
    ctx = Context(request=request, response=response)
    if request is not None:
        rid = request.headers.get("x-request-id", "")
        if rid and len(rid) <= 64 and rid.replace("-", "").isalnum():
            ctx.request_id = rid
    if token:
        try:
            ctx.actor = await authenticate(token)
        except UserError as exc:
            ctx.auth_error = exc
    return ctx


async def authenticate_connection(ctx: Context) -> bool:
    """Log a websocket in from its `connection_init` payload (`{"authorization": "Bearer …"}`).

    Browsers cannot set headers on websockets, hence the payload. No token: the connection stays
    anonymous and guards refuse its operations; a bad token: False, and the connection is refused.
    """
    params = ctx.connection_params or {}
    raw = params.get("authorization") or params.get("Authorization")
    token = bearer(raw) if isinstance(raw, str) else None
    if token is None:
        return raw is None
    try:
        ctx.actor = await authenticate(token)
    except UserError as exc:
        ctx.auth_error = exc
        return False
    return True
