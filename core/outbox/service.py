"""Enqueue background work in the caller's transaction; dispatch it; deliver it at least once.

Life of a row (``OutboxMessage.status``)::

    enqueue ──> pending ──dispatch_pending──> dispatched ──deliver──> running ──> done
                  ^  send failed (Redis down): back to pending           │ handler raised
                  └───────────── retried with backoff ───────────────────┘ ... failed (+ alert)

- :func:`enqueue` only INSERTs, through tortoise's current connection: inside ``in_transaction()``
  the row commits or rolls back with the caller's business rows.
- :func:`dispatch_pending` claims each pending row with a conditional UPDATE (so two dispatchers
  never send the same row in one round), hands it to a *sink* (arq, or the in-process runner) and
  puts it back to pending when the sink raises, e.g. because Redis is down.
- :func:`deliver` is what a worker runs: a conditional UPDATE to ``running`` makes a duplicate
  delivery of a finished or running row a no-op; then the registered handler runs.
- :func:`requeue_stale` (the "outbox redelivery" scheduled task) puts rows that were handed to a
  queue but never finished (Redis lost them, a worker crashed) back to pending.

At least once, therefore: a handler may run again after a crash between its effect and "done", so
every handler is idempotent (each documents how; :func:`mark_processed` is the usual tool).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from tortoise.expressions import F

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


@dataclass(frozen=True)
class DispatchReport:
    sent: int = 0
    failed: int = 0
    error: str = ""


async def dispatch_pending(send: Sink, limit: int = 100) -> DispatchReport:
    """Hand up to ``limit`` due pending rows to ``send``, oldest first.

    Stops at the first failure: when Redis is down every further send would fail too; the rows
    stay pending and the next round (or the redelivery task) tries again.
    """
    now = clock.now()
    ids = await (OutboxMessage.filter(status=OutboxStatus.PENDING, available_at__lte=now).order_by("id")
                 .limit(limit).values_list("id", flat=True))
    sent = 0
    for message_id in ids:
        claimed = await OutboxMessage.filter(id=message_id, status=OutboxStatus.PENDING).update(
            status=OutboxStatus.DISPATCHED, dispatched_at=now, dispatches=F("dispatches") + 1)
        if not claimed:
            continue  # another dispatcher took it
        message = await OutboxMessage.get(id=message_id)
        try:
            await send(message)
        except Exception as exc:  # any sink failure: keep the row for the next round
            error = f"dispatch failed: {type(exc).__name__}: {exc}"[:1000]
            await OutboxMessage.filter(id=message_id, status=OutboxStatus.DISPATCHED).update(
                status=OutboxStatus.PENDING, last_error=error)
            log.warning("outbox %s (%s) stays pending: %s", message_id, message.job, error)
            return DispatchReport(sent, 1, error)
        sent += 1
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


async def deliver(message_id: int) -> Delivery:
    """Run one outbox row's handler (the code path shared by arq and the in-process runner)."""
    from core.system.alerts import raise_alert
    from workers.registry import JobContext, get

    now = clock.now()
    claimed = await OutboxMessage.filter(
        id=message_id, status__in=[OutboxStatus.PENDING, OutboxStatus.DISPATCHED]).update(
        status=OutboxStatus.RUNNING, started_at=now, attempts=F("attempts") + 1)
    if not claimed:
        log.info("outbox %s delivered again while running or done: skipped", message_id)
        return Delivery.DUPLICATE
    message = await OutboxMessage.get(id=message_id)
    spec = get(message.job)
    if spec is None:
        await OutboxMessage.filter(id=message_id).update(status=OutboxStatus.FAILED, finished_at=clock.now(),
                                                         last_error=f"unknown job {message.job!r}")
        await raise_alert("OUTBOX_UNKNOWN_JOB", f"后台任务 {message.job} 未注册 (outbox {message_id})",
                          source="outbox", detail={"id": message_id, "job": message.job})
        return Delivery.FAILED
    ctx = JobContext(name=message.job, payload=dict(message.payload or {}), dedupe_key=message.dedupe_key,
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
