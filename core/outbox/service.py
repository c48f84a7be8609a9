"""Enqueue background work in the caller's transaction; dispatch it; deliver it at least once.

Life of a row (``OutboxMessage.status``)::

    enqueue ──> pending ──dispatch_pending──> dispatched ──deliver──> running ──> done
                  ^  send failed (Redis down): back to pending           │ handler raised
                  └───────────── retried with backoff ───────────────────┘ ... failed (+ alert)

- :func:`enqueue` only INSERTs, through tortoise's current connection: inside ``in_transaction()``
  the row commits or rolls back with the caller's business rows.
- :func:`dispatch_pending` claims a batch of pending rows with one conditional UPDATE (so two
  dispatchers never send the same row in one round), hands each to a *sink* (arq, or the in-process
  runner) and puts it back to pending when the sink raises, e.g. because Redis is down.
- :func:`deliver` is what a worker runs: a conditional UPDATE to ``running`` makes a duplicate
  delivery of a finished or running row a no-op; then the registered handler runs.
- :func:`requeue_stale` (the "outbox redelivery" scheduled task) puts rows that were handed to a
  queue but never finished (Redis lost them, a worker crashed) back to pending.

At least once, therefore: a handler may run again after a crash between its effect and "done", so
every handler is idempotent (each documents how; :func:`mark_processed` is the usual tool).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from tortoise import connections

from core import clock
from core.outbox.models import OutboxMessage, OutboxStatus, ProcessedMarker

log = logging.getLogger("lendline.outbox")

MAX_ATTEMPTS = 5
STALE_DISPATCH = timedelta(minutes=10)  # handed to the queue but not started: Redis lost it?
STALE_RUNNING = timedelta(minutes=30)  # started but never finished: the worker died?

Sink = Callable[[OutboxMessage], Awaitable[None]]
"""Hands one claimed row to whatever runs it; raises when it could not (the row goes back to pending)."""


class UnknownJob(ValueError):
    """The job name is not in workers.registry (a programming error, not user input)."""


async def enqueue(job: str, payload: dict[str, Any] | None, dedupe_key: str) -> OutboxMessage:
    """Record ``job`` to run after commit; call inside the business transaction.

    ``dedupe_key`` names the business event (e.g. ``disburse:order:42``): enqueueing the same
    (job, key) again returns the existing row instead of adding work. The payload must be JSON.
    """
    from workers.registry import get

    if get(job) is None:
        raise UnknownJob(f"unknown job {job!r}: register it with @workers.registry.job")
    if not dedupe_key or len(dedupe_key) > 200:
        raise ValueError("dedupe_key is required (at most 200 characters)")
    body = json.loads(json.dumps(payload or {}))  # fail here, in the caller, on non-JSON payloads
    existing = await OutboxMessage.get_or_none(job=job, dedupe_key=dedupe_key)
    if existing is not None:
        return existing
    return await OutboxMessage.create(job=job, payload=body, dedupe_key=dedupe_key, available_at=clock.now())


async def enqueue_many(job: str, messages: Sequence[tuple[dict[str, Any], str]]) -> None:
    """Record many runs of ``job`` — (payload, dedupe_key) each — in one INSERT, in the caller's transaction.

    Same rows and rules as `enqueue` (a (job, key) already recorded is left as it is: the INSERT
    skips it), for use cases that raise hundreds of events at once (a batch of repayments).
    """
    from workers.registry import get

    if get(job) is None:
        raise UnknownJob(f"unknown job {job!r}: register it with @workers.registry.job")
    if not messages:
        return
    rows = []
    for payload, key in messages:
        if not key or len(key) > 200:
            raise ValueError("dedupe_key is required (at most 200 characters)")
        rows.append((json.dumps(payload or {}), key))
    now = clock.now()
    conn = connections.get("default")
    if conn.capabilities.dialect == "postgres":
        await conn.execute_query(
            "INSERT INTO outbox_message (job, payload, dedupe_key, status, attempts, dispatches, available_at, "
            "last_error, created_at) SELECT $1, u.payload, u.key, $2, 0, 0, $3, '', $6 "
            "FROM unnest($4::jsonb[], $5::text[]) AS u(payload, key) ON CONFLICT (job, dedupe_key) DO NOTHING",
            [job, OutboxStatus.PENDING.value, now, [r[0] for r in rows], [r[1] for r in rows],
             datetime.now(UTC)])  # created_at as auto_now_add writes it
        return
    await OutboxMessage.bulk_create([OutboxMessage(job=job, payload=json.loads(body), dedupe_key=key, available_at=now)
                                     for body, key in rows], ignore_conflicts=True)


@dataclass(frozen=True)
class DispatchReport:
    sent: int = 0
    failed: int = 0
    error: str = ""


async def _claim(ids: list[int], now: Any) -> list[int]:
    """Move those of ``ids`` still pending to dispatched in ONE statement; returns the ids we got.

    ``UPDATE … WHERE id IN (…) AND status = 'pending' RETURNING id`` (PostgreSQL, and SQLite ≥ 3.35):
    a second dispatcher that read the same ids waits for our row locks (PostgreSQL) or the write
    lock (SQLite), re-checks the status and gets none of them, so no row is sent twice in a round.
    """
    if not ids:
        return []
    conn = connections.get("default")
    postgres = conn.capabilities.dialect == "postgres"
    at = OutboxMessage._meta.fields_map["dispatched_at"].to_db_value(now, OutboxMessage)
    marks = [f"${i}" for i in range(4, 4 + len(ids))] if postgres else ["?"] * len(ids)
    first = ("$1", "$2", "$3") if postgres else ("?", "?", "?")
    sql = (f'UPDATE "outbox_message" SET "status" = {first[0]}, "dispatched_at" = {first[1]}, '
           f'"dispatches" = "dispatches" + 1 WHERE "status" = {first[2]} AND "id" IN ({", ".join(marks)}) '
           'RETURNING "id"')
    rows = await conn.execute_query_dict(sql, [OutboxStatus.DISPATCHED.value, at, OutboxStatus.PENDING.value, *ids])
    return sorted(int(r["id"]) for r in rows)


async def dispatch_pending(send: Sink, limit: int = 100, *, concurrency: int | None = None) -> DispatchReport:
    """Hand up to ``limit`` due pending rows to ``send``, oldest first.

    The batch is claimed with one conditional UPDATE (see :func:`_claim`) and read back with one
    SELECT; the sends then run ``concurrency`` at a time — by default what the sink declares in its
    ``concurrency`` attribute (the arq sink: many, each is a Redis round trip), else one at a time
    (the in-process sink runs handlers, which keep their order and never overlap). Rows whose send
    failed go back to pending and the round stops: when Redis is down every further send would fail
    too; the next round (or the redelivery task) tries again.
    """
    now = clock.now()
    ids = await (OutboxMessage.filter(status=OutboxStatus.PENDING, available_at__lte=now).order_by("id")
                 .limit(limit).values_list("id", flat=True))
    claimed = await _claim([int(i) for i in ids], now)
    if not claimed:
        return DispatchReport()
    messages = await OutboxMessage.filter(id__in=claimed).order_by("id")
    gate = asyncio.Semaphore(max(1, concurrency if concurrency is not None else getattr(send, "concurrency", 1)))
    failures: list[tuple[OutboxMessage, str]] = []

    async def one(message: OutboxMessage) -> bool:
        async with gate:
            if failures:  # Redis went away mid-batch: do not try the rest
                failures.append((message, failures[0][1]))
                return False
            try:
                await send(message)
            except Exception as exc:  # any sink failure: keep the row for the next round
                failures.append((message, f"dispatch failed: {type(exc).__name__}: {exc}"[:1000]))
                return False
            return True

    first = await one(messages[0])  # alone: a Redis that is down fails once, not `concurrency` times
    sent = first + sum(await asyncio.gather(*(one(m) for m in messages[1:])))
    if failures:
        error = failures[0][1]
        await OutboxMessage.filter(id__in=[m.id for m, _ in failures], status=OutboxStatus.DISPATCHED).update(
            status=OutboxStatus.PENDING, last_error=error)
        log.warning("outbox: %s row(s) stay pending: %s", len(failures), error)
        return DispatchReport(sent, len(failures), error)
    return DispatchReport(sent)


async def requeue_stale(now_: Any = None) -> int:
    """Put rows dispatched or running for too long back to pending; returns how many."""
    now = now_ or clock.now()
    lost = await OutboxMessage.filter(status=OutboxStatus.DISPATCHED, dispatched_at__lt=now - STALE_DISPATCH
                                      ).update(status=OutboxStatus.PENDING)
    dead = await OutboxMessage.filter(status=OutboxStatus.RUNNING, started_at__lt=now - STALE_RUNNING
                                      ).update(status=OutboxStatus.PENDING)
    if lost or dead:
        log.warning("outbox redelivery: %s lost dispatch(es), %s abandoned run(s) back to pending", lost, dead)
    return lost + dead


class Delivery(StrEnum):
    DONE = "done"
    DUPLICATE = "duplicate"  # already running or done: nothing ran
    RETRY = "retry"  # the handler failed; the row is pending again with a backoff
    FAILED = "failed"  # the handler failed for the last time (or the job is unknown)


def _jsonable(value: Any) -> dict[str, Any]:
    """The handler's result as a JSON object (tortoise reads a bare string as JSON text)."""
    plain = json.loads(json.dumps(value, default=str))
    return plain if isinstance(plain, dict) else {"value": plain}


def backoff(attempt: int) -> timedelta:
    return timedelta(seconds=min(10 * 2 ** (attempt - 1), 3600))


@dataclass(frozen=True)
class _Claimed:
    job: str
    payload: dict[str, Any]
    dedupe_key: str
    attempts: int


async def _claim_run(message_id: int, now: Any, takeover_dispatch: int | None) -> _Claimed | None:
    """Claim a row for running and read what the handler needs, in ONE statement (UPDATE … RETURNING)."""
    conn = connections.get("default")
    postgres = conn.capabilities.dialect == "postgres"

    def mark(i: int) -> str:
        return f"${i}" if postgres else "?"

    started = OutboxMessage._meta.fields_map["started_at"].to_db_value(now, OutboxMessage)
    values: list[Any] = [OutboxStatus.RUNNING.value, started, message_id, OutboxStatus.PENDING.value,
                         OutboxStatus.DISPATCHED.value]
    condition = f'"status" IN ({mark(4)}, {mark(5)})'
    if takeover_dispatch is not None:
        values += [OutboxStatus.RUNNING.value, takeover_dispatch]
        condition = f'({condition} OR ("status" = {mark(6)} AND "dispatches" = {mark(7)}))'
    sql = (f'UPDATE "outbox_message" SET "status" = {mark(1)}, "started_at" = {mark(2)}, '
           f'"attempts" = "attempts" + 1 WHERE "id" = {mark(3)} AND {condition} '
           'RETURNING "job", "payload", "dedupe_key", "attempts"')
    rows = await conn.execute_query_dict(sql, values)
    if not rows:
        return None
    row = rows[0]
    payload = OutboxMessage._meta.fields_map["payload"].to_python_value(row["payload"])
    return _Claimed(str(row["job"]), dict(payload or {}), str(row["dedupe_key"]), int(row["attempts"]))


async def deliver(message_id: int, *, takeover_dispatch: int | None = None) -> Delivery:
    """Run one outbox row's handler (the code path shared by arq and the in-process runner).

    ``takeover_dispatch``: the queue re-delivers dispatch number N of this row because its earlier
    run never finished (arq retries a job whose worker died, or whose run it cancelled at the job
    timeout, only after the job's in-progress lease expired). A row still ``running`` under that
    same dispatch is then an abandoned run and is claimed again at once, instead of waiting for
    :func:`requeue_stale`. A row dispatched again since (its ``dispatches`` moved on) is left to the
    newer delivery. The handler's own idempotency covers an effect the dead run had committed.
    """
    from core.system.alerts import raise_alert
    from workers.registry import JobContext, get

    message = await _claim_run(message_id, clock.now(), takeover_dispatch)
    if message is None:
        log.info("outbox %s delivered again while running or done: skipped", message_id)
        return Delivery.DUPLICATE
    spec = get(message.job)
    if spec is None:
        await OutboxMessage.filter(id=message_id).update(status=OutboxStatus.FAILED, finished_at=clock.now(),
                                                         last_error=f"unknown job {message.job!r}")
        await raise_alert("OUTBOX_UNKNOWN_JOB", f"后台任务 {message.job} 未注册 (outbox {message_id})",
                          source="outbox", detail={"id": message_id, "job": message.job})
        return Delivery.FAILED
    ctx = JobContext(name=message.job, payload=dict(message.payload), dedupe_key=message.dedupe_key,
                     message_id=message_id, attempt=message.attempts)
    try:
        result = await spec.handler(ctx)
    except Exception as exc:  # a handler failure is recorded and retried, never lost
        error = f"{type(exc).__name__}: {exc}"[:1000]
        log.exception("outbox %s (%s) attempt %s failed", message_id, message.job, message.attempts)
        if message.attempts >= MAX_ATTEMPTS:
            await OutboxMessage.filter(id=message_id).update(status=OutboxStatus.FAILED, finished_at=clock.now(),
                                                             last_error=error)
            await raise_alert("OUTBOX_JOB_FAILED", f"后台任务 {message.job} 失败 {message.attempts} 次: {error}"[:500],
                              source="outbox", detail={"id": message_id, "job": message.job,
                                                       "dedupeKey": message.dedupe_key})
            return Delivery.FAILED
        await OutboxMessage.filter(id=message_id).update(
            status=OutboxStatus.PENDING, last_error=error, available_at=clock.now() + backoff(message.attempts))
        return Delivery.RETRY
    await OutboxMessage.filter(id=message_id).update(status=OutboxStatus.DONE, finished_at=clock.now(),
                                                     result=_jsonable(result), last_error="")
    return Delivery.DONE


async def mark_processed(key: str) -> bool:
    """Record that the effect named ``key`` happened; False when it already had.

    Call inside the transaction of the effect: a rollback removes the marker with the effect, and
    a concurrent duplicate fails on the unique key (its transaction rolls back, the effect with it).
    """
    if await ProcessedMarker.filter(key=key).exists():
        return False
    await ProcessedMarker.create(key=key)  # IntegrityError on a race: the caller's transaction rolls back
    return True


async def already_processed(key: str) -> bool:
    return await ProcessedMarker.filter(key=key).exists()
