"""Permission guards for every root field, and the refusal side of the operation log.

Every field of Query, Mutation and Subscription carries a `Guard` naming the page/action node it
needs (or declaring itself public / any-logged-in-user); `tests/api/test_guards.py` walks the schema
and fails on any root field without one. A guard:
- refuses an anonymous or unauthorised caller (queries: a GraphQL error with `extensions.code`;
  mutations: the payload's `errors`, so an SPA handles every refusal in one place);
- turns a service's `UserError` into the same shapes;
- writes refused mutations to the operation log (successful ones are logged by the service, inside
  the transaction of the change).
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from graphql import OperationType
from strawberry.extensions import FieldExtension
from strawberry.types import Info
from strawberry.types.field import StrawberryField

from core.errors import ErrorCode, FieldError, UserError
from core.oplog import service as oplog
from core.oplog.models import OperatorKind
from permissions.tree import NODE_KEYS
from schema.context import Context
from schema.errors import UserErrorType, graphql_error


class Access(enum.Enum):
    PUBLIC = "public"  # login, refreshToken
    AUTHENTICATED = "authenticated"  # me, logout: any logged-in user
    NODE = "node"


def _plain(value: Any, sensitive: frozenset[str] = frozenset()) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain({k: v for k, v in dataclasses.asdict(value).items() if v is not None}, sensitive)
    if isinstance(value, dict):
        return {str(k): "[redacted]" if k in sensitive else _plain(v, sensitive) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, sensitive) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, str | int | bool) or value is None:
        return value
    return str(value)


class Guard(FieldExtension):
    def __init__(self, *nodes: str, access: Access = Access.NODE, module: str | None = None,
                 sensitive: tuple[str, ...] = ()) -> None:
        """`sensitive`: input field names whose values a refusal log must not keep (e.g. a parameter's
        value, which may be a secret before the resolver knows)."""
        unknown = set(nodes) - NODE_KEYS
        if unknown:
            raise ValueError(f"Guard names undeclared permission nodes: {sorted(unknown)}")
        if access is Access.NODE and not nodes:
            raise ValueError("A node guard needs at least one node")
        self.nodes = nodes
        self.access = access
        self.module = module or (nodes[0].split(".")[0] if nodes else "auth")
        self.sensitive = frozenset(sensitive)
        self.field: StrawberryField | None = None

    def apply(self, field: StrawberryField) -> None:
        self.field = field

    def refusal(self, ctx: Context) -> UserError | None:
        if self.access is Access.PUBLIC:
            return None
        if ctx.actor is None:
            return ctx.auth_error or UserError.of(None, ErrorCode.UNAUTHENTICATED, "Log in first")
        if self.access is Access.NODE and not any(ctx.actor.can(n) for n in self.nodes):
            return UserError.of(None, ErrorCode.FORBIDDEN,
                                "You do not have permission for this (needs one of: " + ", ".join(self.nodes) + ")")
        return None

    async def resolve_async(self, next_: Callable[..., Awaitable[Any]], source: Any, info: Info,
                            **kwargs: Any) -> Any:
        ctx: Context = info.context
        is_mutation = info.operation.operation == OperationType.MUTATION
        error = self.refusal(ctx)
        if error is None:
            try:
                result = next_(source, info, **kwargs)
                # a subscription resolver returns its async generator, checked above before it starts
                return await result if inspect.isawaitable(result) else result
            except UserError as exc:
                error = exc
        if not is_mutation:
            raise graphql_error(error)
        await self._log_refusal(ctx, info, kwargs, error.errors)
        return self._payload(error.errors)

    def _payload(self, errors: list[FieldError]) -> Any:
        assert self.field is not None
        payload_cls = self.field.type
        return payload_cls(errors=[UserErrorType.of(e) for e in errors])  # type: ignore[operator]

    async def _log_refusal(self, ctx: Context, info: Info, kwargs: dict[str, Any],
                           errors: list[FieldError]) -> None:
        actor = ctx.actor
        kind = actor.kind() if actor else OperatorKind.ANONYMOUS
        name = actor.name if actor else str(kwargs.get("account", ""))
        await oplog.record(actor, kind=kind, module=self.module, action=info.field_name,
                           summary=f"{info.field_name} refused: {errors[0].message}",
                           detail={"input": _plain(kwargs, self.sensitive),
                                   "errors": [dataclasses.asdict(e) | {"code": e.code.value} for e in errors]},
                           outcome="refused", request_id=ctx.request_id, operator_name=name)


def guarded(*nodes: str, description: str | None = None, **kw: Any) -> Any:
    """A root field needing one of `nodes`."""
    return strawberry.field(extensions=[Guard(*nodes)], description=description, **kw)


def guarded_mutation(*nodes: str, description: str | None = None, sensitive: tuple[str, ...] = (),
                     **kw: Any) -> Any:
    return strawberry.mutation(extensions=[Guard(*nodes, sensitive=sensitive)], description=description, **kw)


def guarded_subscription(*nodes: str, description: str | None = None, **kw: Any) -> Any:
    """A subscription needing one of `nodes`; refused before the event stream starts."""
    return strawberry.subscription(extensions=[Guard(*nodes)], description=description, **kw)


def public_mutation(description: str | None = None) -> Any:
    return strawberry.mutation(extensions=[Guard(access=Access.PUBLIC)], description=description)


def authenticated(description: str | None = None, mutation: bool = False) -> Any:
    maker = strawberry.mutation if mutation else strawberry.field
    return maker(extensions=[Guard(access=Access.AUTHENTICATED)], description=description)


def actor_of(info: Info) -> Any:
    """The caller (guards guarantee one for non-public fields)."""
    actor = info.context.actor
    assert actor is not None
    return actor
