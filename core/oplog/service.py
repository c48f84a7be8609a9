"""Writing and reading the operation log (SPEC F-MON-7)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise import connections
from tortoise.queryset import QuerySet

from core.actor import Actor
from core.oplog.models import OperationLog, OperatorKind
from permissions.scope import DataScope

SECRET_KEYS = frozenset({"password", "passwordHash", "password_hash", "newPassword", "oldPassword", "refreshToken",
                         "token", "secret"})


def redact(value: Any) -> Any:
    """Copy of `value` with secrets replaced, so the log never holds a password or token."""
    if isinstance(value, dict):
        return {k: ("***" if k in SECRET_KEYS else redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str | int | bool) or value is None:
        return value
    return str(value)


async def record(
    actor: Actor | None,
    *,
    kind: OperatorKind,
    module: str,
    action: str,
    summary: str,
    detail: dict[str, Any] | None = None,
    outcome: str = "ok",
    request_id: str = "",
    operator_name: str | None = None,
    scope_bank_id: int | None = None,
    scope_product_id: int | None = None,
) -> OperationLog:
    """Append one entry; call inside the transaction of the change it records.

    Pass `scope_bank_id` / `scope_product_id` when the entry is about one bank's or product's data,
    so that only callers whose data scope covers it can read it.
    """
    user_id = actor.user_id if actor and actor.user_id else None
    return await OperationLog.create(
        operator_id=user_id,
        operator_name=(operator_name or (actor.name if actor else ""))[:40],
        operator_kind=kind,
        module=module[:40],
        action=action[:60],
        summary=summary[:200],
        detail=redact(detail or {}),
        outcome=outcome[:20],
        request_id=request_id,
        scope_bank_id=scope_bank_id,
        scope_product_id=scope_product_id,
    )


@dataclass(frozen=True)
class Entry:
    """One entry of `record_many`: what `record` takes besides the actor, kind, module and request."""

    action: str
    summary: str
    detail: dict[str, Any]
    scope_bank_id: int | None = None
    scope_product_id: int | None = None


async def record_many(actor: Actor | None, *, kind: OperatorKind, module: str, entries: Sequence[Entry],
                      request_id: str = "") -> None:
    """Append many entries of one actor and module in one INSERT (a batch use case logs each item).

    The rows are exactly what `record` writes one by one; on PostgreSQL they go in as arrays
    (`INSERT … SELECT FROM unnest`), elsewhere through the ORM.
    """
    if not entries:
        return
    user_id = actor.user_id if actor and actor.user_id else None
    name = (actor.name if actor else "")[:40]
    conn = connections.get("default")
    if conn.capabilities.dialect == "postgres":
        now = datetime.now(UTC)  # as auto_now_add: the real time of writing, not the business clock
        await conn.execute_query(
            "INSERT INTO operation_log (operator_id, operator_name, operator_kind, module, action, summary, detail, "
            "outcome, request_id, created_at, scope_bank_id, scope_product_id) "
            "SELECT $1, $2, $3, $4, u.action, u.summary, u.detail, 'ok', $5, $6, u.bank, u.product "
            "FROM unnest($7::text[], $8::text[], $9::jsonb[], $10::int[], $11::int[]) "
            "AS u(action, summary, detail, bank, product)",
            [user_id, name, kind.value, module[:40], request_id, now, [e.action[:60] for e in entries],
             [e.summary[:200] for e in entries], [json.dumps(redact(e.detail)) for e in entries],
             [e.scope_bank_id for e in entries], [e.scope_product_id for e in entries]])
        return
    await OperationLog.bulk_create([OperationLog(
        operator_id=user_id, operator_name=name, operator_kind=kind, module=module[:40], action=e.action[:60],
        summary=e.summary[:200], detail=redact(e.detail), outcome="ok", request_id=request_id,
        scope_bank_id=e.scope_bank_id, scope_product_id=e.scope_product_id) for e in entries])


@dataclass(frozen=True)
class LogFilter:
    operator_id: int | None = None
    operator_name: str | None = None
    module: str | None = None
    kind: OperatorKind | None = None
    since: datetime | None = None
    until: datetime | None = None


def query(f: LogFilter, scope: DataScope) -> QuerySet[OperationLog]:
    """The log filtered in SQL, newest first; entries about bank data only within `scope` (F-ROLE-4)."""
    qs = OperationLog.filter(scope.tagged())
    if f.operator_id is not None:
        qs = qs.filter(operator_id=f.operator_id)
    if f.operator_name:
        qs = qs.filter(operator_name__icontains=f.operator_name)
    if f.module:
        qs = qs.filter(module=f.module)
    if f.kind:
        qs = qs.filter(operator_kind=f.kind)
    if f.since:
        qs = qs.filter(created_at__gte=f.since)
    if f.until:
        qs = qs.filter(created_at__lt=f.until)
    return qs
