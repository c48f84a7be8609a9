"""GraphQL for the operation log (SPEC F-MON-7, seed 000 '用户日志查询')."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from core.oplog import service
from core.oplog.models import OperationLog, OperatorKind
from schema.guard import guarded
from schema.relay import Connection, connection, decode_optional, gid, paginate

OperatorKindEnum = strawberry.enum(OperatorKind, name="OperatorKind")


@strawberry.type(name="OperationLogEntry")
class OperationLogType:
    id: strawberry.ID
    operator_id: strawberry.ID | None
    operator_name: str
    operator_kind: OperatorKindEnum  # type: ignore[valid-type]
    module: str
    action: str
    summary: str
    outcome: str
    request_id: str
    created_at: datetime
    detail: JSON = strawberry.field(description="Full detail (secrets redacted); fetch it only when shown.")

    @classmethod
    def of(cls, e: OperationLog) -> OperationLogType:
        op = e.operator_id  # type: ignore[attr-defined]
        return cls(id=gid("OperationLogEntry", e.id), operator_id=gid("User", op) if op else None,
                   operator_name=e.operator_name, operator_kind=e.operator_kind, module=e.module, action=e.action,
                   summary=e.summary, outcome=e.outcome, request_id=e.request_id, created_at=e.created_at,
                   detail=e.detail)


@strawberry.input
class OperationLogFilter:
    operator_id: strawberry.ID | None = None
    operator_name: str | None = None
    module: str | None = None
    kind: OperatorKindEnum | None = None  # type: ignore[valid-type]
    since: datetime | None = None
    until: datetime | None = None


@strawberry.type
class OplogQuery:
    @guarded("oplog", description="The operation log, newest first.")
    async def operation_logs(self, info: Info, filter: OperationLogFilter | None = None, first: int | None = None,
                             after: str | None = None) -> Connection[OperationLogType]:
        f = filter or OperationLogFilter()
        qs = service.query(service.LogFilter(
            operator_id=decode_optional(f.operator_id, "User", "filter.operatorId"), operator_name=f.operator_name,
            module=f.module, kind=f.kind, since=f.since, until=f.until), info.context.scope)
        return connection(await paginate(qs, first, after), OperationLogType.of)
