"""System alerts (SPEC F-SYS-6, seed 001 系统预警): raised by code, read and acknowledged by people.

Other modules call `await raise_alert(code, message, source=..., detail=...)`. An alert is written
independently of the caller's transaction, because it usually reports the very failure that makes
the caller roll back:
- outside a transaction, or on PostgreSQL, it is committed at once (on PostgreSQL through its own
  pooled connection, beside the caller's open transaction);
- on SQLite inside a transaction (one connection, held by the caller) it is written right after the
  caller's transaction ends, whether it commits or rolls back; `await flush_alerts()` waits for that.
Raising an alert never raises: a failure to record one is logged instead of masking the caller's error.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from core import clock
from core.actor import Actor
from core.config import current_settings
from core.errors import ErrorCode, ErrorCollector, not_found
from core.oplog import service as oplog
from core.system.models import SystemAlert

log = logging.getLogger("lendline.alerts")

MODULE = "alerts"
PREFIX = "ALT"
NUMBER = re.compile(rf"^{PREFIX}[0-9]{{8}}([0-9]{{6,}})$")
_pending: set[asyncio.Task[SystemAlert | None]] = set()


def alert_number(alert: SystemAlert) -> str:
    """Human-readable number: ALT + business date + zero-padded id, e.g. ALT20261123000042."""
    day = alert.created_at.astimezone(current_settings().tz).strftime("%Y%m%d")
    return f"{PREFIX}{day}{alert.id:06d}"


def id_from_number(number: str) -> int | None:
    m = NUMBER.fullmatch(number.strip().upper())
    return int(m.group(1)) if m else None


# ---- raising ----

def _root(conn: BaseDBAsyncClient) -> BaseDBAsyncClient:
    while isinstance(conn, TransactionalDBClient):
        conn = conn._parent  # type: ignore[attr-defined]
    return conn


async def _insert(client: BaseDBAsyncClient, row: dict[str, Any]) -> SystemAlert | None:
    try:
        return await SystemAlert.create(using_db=client, **row)
    except Exception:  # an alert must never break the code reporting a problem
        log.exception("could not record system alert %s: %s", row["code"], row["message"])
        return None


async def raise_alert(code: str, message: str, *, source: str = "", detail: dict[str, Any] | None = None
                      ) -> SystemAlert | None:
    """Record an alert for operators; returns it, or None when it is written after the caller's
    SQLite transaction (see the module notes) or could not be written (logged)."""
    row = {"code": code.strip()[:40] or "UNKNOWN", "message": message[:500], "source": source[:60],
           "detail": oplog.redact(detail or {}), "created_at": clock.now()}
    log.warning("system alert %s from %s: %s", row["code"], row["source"] or "-", row["message"])
    try:
        current = connections.get("default")
    except Exception:
        log.exception("no database for system alert %s", row["code"])
        return None
    root = _root(current)
    if current is not root and root.capabilities.dialect == "sqlite":
        task = asyncio.get_running_loop().create_task(_insert(root, row))
        _pending.add(task)
        task.add_done_callback(_pending.discard)
        return None
    return await _insert(root, row)


async def flush_alerts() -> None:
    """Wait until alerts deferred behind a SQLite transaction are written (call outside transactions)."""
    while _pending:
        await asyncio.gather(*list(_pending), return_exceptions=True)


# ---- reading ----

@dataclass(frozen=True)
class AlertFilter:
    since: datetime | None = None
    until: datetime | None = None
    read: bool | None = None
    code: str | None = None
    source: str | None = None
    number: str | None = None


def check_filter(f: AlertFilter, prefix: str = "filter.") -> None:
    errs = ErrorCollector()
    if f.since and f.until and f.since >= f.until:
        errs.add(f"{prefix}until", ErrorCode.INVALID, "The end of the time range must be after its start")
    if f.number and id_from_number(f.number) is None:
        errs.add(f"{prefix}number", ErrorCode.INVALID, "An alert number looks like ALT20261123000042")
    errs.raise_if_any()


def query(f: AlertFilter) -> QuerySet[SystemAlert]:
    """Alerts matching `f`, filtered in SQL (since inclusive, until exclusive)."""
    qs = SystemAlert.all()
    if f.since:
        qs = qs.filter(created_at__gte=f.since)
    if f.until:
        qs = qs.filter(created_at__lt=f.until)
    if f.read is not None:
        qs = qs.filter(read=f.read)
    if f.code:
        qs = qs.filter(code=f.code.strip())
    if f.source:
        qs = qs.filter(source=f.source.strip())
    if f.number:
        qs = qs.filter(id=id_from_number(f.number) or 0)
    return qs


async def unread_count() -> int:
    return await SystemAlert.filter(read=False).count()


# ---- acknowledging ----

async def mark_read(actor: Actor, alert_id: int, request_id: str = "") -> SystemAlert:
    """Mark one alert read (确认已读); marking a read alert again keeps who read it first."""
    alert = await SystemAlert.get_or_none(id=alert_id)
    if alert is None:
        raise not_found("System alert")
    if not alert.read:
        async with in_transaction():
            updated = await SystemAlert.filter(id=alert.id, read=False).update(
                read=True, read_at=clock.now(), read_by_id=actor.user_id or None)
            if updated:
                await oplog.record(actor, kind=actor.kind(), module=MODULE, action="mark_read",
                                   summary=f"marked alert {alert_number(alert)} ({alert.code}) read",
                                   detail={"id": alert.id, "code": alert.code}, request_id=request_id)
        await alert.refresh_from_db()
    return alert


async def mark_all_read(actor: Actor, f: AlertFilter, request_id: str = "") -> int:
    """Mark every unread alert matching `f` read, in one UPDATE; returns how many changed."""
    check_filter(f)
    async with in_transaction():
        count = await query(f).filter(read=False).update(read=True, read_at=clock.now(),
                                                          read_by_id=actor.user_id or None)
        await oplog.record(actor, kind=actor.kind(), module=MODULE, action="mark_all_read",
                           summary=f"marked {count} alerts read",
                           detail={"filter": {k: (v.isoformat() if isinstance(v, datetime) else v)
                                              for k, v in f.__dict__.items() if v is not None},
                                   "count": count}, request_id=request_id)
    return count
