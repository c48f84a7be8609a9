"""The outbox on real Redis and a real arq worker: transactional enqueue, outage, duplicates."""

from __future__ import annotations

import socket
from datetime import timedelta
from typing import Any

import pytest
from arq.worker import Worker, func
from tortoise.transactions import in_transaction

from core import clock
from core.outbox.models import OutboxMessage, OutboxStatus, ProcessedMarker
from core.outbox.service import (
    STALE_DISPATCH,
    Delivery,
    UnknownJob,
    deliver,
    dispatch_pending,
    enqueue,
    mark_processed,
    requeue_stale,
)
from core.system.models import SystemParameter
from tests.workers.conftest import RedisEnv
from workers.registry import JobContext, job, unregister
from workers.runtime import OUTBOX_FUNCTION, ArqSink, inline_sink, redis_settings
from workers.settings import outbox_job

# arq 0.28's Worker.close() calls redis-py 5's deprecated close(); not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")

CALLS: list[dict[str, Any]] = []
EFFECTS: list[str] = []


@pytest.fixture(autouse=True)
def test_jobs() -> Any:
    """Throwaway jobs: one records its calls, one applies an effect guarded by a processed marker."""

    @job("test.record")
    async def record(ctx: JobContext) -> dict[str, Any]:
        CALLS.append({"payload": ctx.payload, "key": ctx.dedupe_key})
        return {"seen": ctx.payload.get("n")}

    @job("test.effect")
    async def effect(ctx: JobContext) -> str:
        """Idempotent: the marker `effect:<dedupe key>` commits with the effect."""
        async with in_transaction():
            if not await mark_processed(f"effect:{ctx.dedupe_key}"):
                return "already applied"
            EFFECTS.append(ctx.dedupe_key)
        return "applied"

    @job("test.flaky")
    async def flaky(ctx: JobContext) -> str:
        raise RuntimeError("partner timed out")

    CALLS.clear()
    EFFECTS.clear()
    yield
    for name in ("test.record", "test.effect", "test.flaky"):
        unregister(name)


async def run_worker(env: RedisEnv) -> Worker:
    """A real arq worker in burst mode: runs what is queued, then returns."""
    worker = Worker(functions=[func(outbox_job, name=OUTBOX_FUNCTION)], redis_settings=env.settings,  # type: ignore[arg-type]
                    queue_name=env.queue, burst=True, handle_signals=False, poll_delay=0.05,
                    health_check_key=f"{env.queue}:health-check")
    try:
        await worker.main()
    finally:
        await worker.close()
    return worker


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_enqueue_commits_with_the_transaction_and_a_worker_handles_it(db: str, queue: RedisEnv) -> None:
    async with in_transaction():
        await SystemParameter.create(number="P-OUTBOX", name="business row", type="business", value="1")
        row = await enqueue("test.record", {"n": 1}, "order:1")
    assert (await OutboxMessage.get(id=row.id)).status is OutboxStatus.PENDING

    sink = ArqSink(queue.settings, queue=queue.queue)
    try:
        report = await dispatch_pending(sink)
    finally:
        await sink.close()
    assert report.sent == 1 and (await OutboxMessage.get(id=row.id)).status is OutboxStatus.DISPATCHED
    assert await queue.pool.zcard(queue.queue) == 1

    worker = await run_worker(queue)
    assert worker.jobs_complete == 1 and worker.jobs_failed == 0
    assert CALLS == [{"payload": {"n": 1}, "key": "order:1"}]
    done = await OutboxMessage.get(id=row.id)
    assert done.status is OutboxStatus.DONE and done.result == {"seen": 1} and done.attempts == 1


async def test_rolled_back_transaction_enqueues_nothing(db: str, queue: RedisEnv) -> None:
    with pytest.raises(RuntimeError):
        async with in_transaction():
            await enqueue("test.record", {"n": 2}, "order:2")
            raise RuntimeError("business rule failed")
    assert not await OutboxMessage.exists()
    sink = ArqSink(queue.settings, queue=queue.queue)
    try:
        assert (await dispatch_pending(sink)).sent == 0
    finally:
        await sink.close()
    assert await queue.pool.zcard(queue.queue) == 0


async def test_same_dedupe_key_is_one_row_and_unknown_jobs_are_refused(db: str) -> None:
    first = await enqueue("test.record", {"n": 3}, "order:3")
    again = await enqueue("test.record", {"n": 3}, "order:3")
    assert first.id == again.id and await OutboxMessage.all().count() == 1
    with pytest.raises(UnknownJob):
        await enqueue("os.system", {}, "x")


async def test_redis_down_at_commit_keeps_the_row_until_redis_is_back(db: str, queue: RedisEnv) -> None:
    row = await enqueue("test.record", {"n": 4}, "order:4")
    down = ArqSink(redis_settings(f"redis://127.0.0.1:{closed_port()}/13"), queue=queue.queue)
    report = await dispatch_pending(down)
    await down.close()
    assert report.sent == 0 and report.failed == 1
    stuck = await OutboxMessage.get(id=row.id)
    assert stuck.status is OutboxStatus.PENDING and "dispatch failed" in stuck.last_error

    up = ArqSink(queue.settings, queue=queue.queue)
    try:
        assert (await dispatch_pending(up)).sent == 1
    finally:
        await up.close()
    await run_worker(queue)
    assert (await OutboxMessage.get(id=row.id)).status is OutboxStatus.DONE
    assert [c["payload"] for c in CALLS] == [{"n": 4}]


async def test_duplicate_delivery_is_handled_once(db: str, queue: RedisEnv) -> None:
    row = await enqueue("test.effect", {}, "payment:7")
    sink = ArqSink(queue.settings, queue=queue.queue)
    try:
        await dispatch_pending(sink)
    finally:
        await sink.close()
    # the same row reaches the queue a second time (a redelivery racing the first delivery)
    await queue.pool.enqueue_job(OUTBOX_FUNCTION, row.id, _queue_name=queue.queue, _job_id=f"{queue.queue}:dup")
    worker = await run_worker(queue)
    assert worker.jobs_complete == 2
    assert EFFECTS == ["payment:7"]
    results = sorted(r.result for r in await queue.pool.all_job_results() if r.job_id.startswith(queue.queue))
    assert results == ["done", "duplicate"]

    # a crash after the effect but before "done": the row is redelivered; the marker keeps it once
    await OutboxMessage.filter(id=row.id).update(status=OutboxStatus.DISPATCHED)
    assert await deliver(row.id) is Delivery.DONE
    assert EFFECTS == ["payment:7"] and await ProcessedMarker.filter(key="effect:payment:7").count() == 1
    assert (await OutboxMessage.get(id=row.id)).result == {"value": "already applied"}


async def test_lost_dispatch_is_requeued_and_failures_back_off(db: str) -> None:
    row = await enqueue("test.record", {"n": 5}, "order:5")
    await OutboxMessage.filter(id=row.id).update(status=OutboxStatus.DISPATCHED,
                                                 dispatched_at=clock.now() - STALE_DISPATCH - timedelta(seconds=1))
    assert await requeue_stale() == 1
    assert (await dispatch_pending(inline_sink)).sent == 1  # embedded mode: same deliver(), in-process
    assert (await OutboxMessage.get(id=row.id)).status is OutboxStatus.DONE

    flaky = await enqueue("test.flaky", {}, "flaky:1")
    assert await deliver(flaky.id) is Delivery.RETRY
    again = await OutboxMessage.get(id=flaky.id)
    assert again.status is OutboxStatus.PENDING and again.available_at > clock.now()
    assert "partner timed out" in again.last_error
    assert (await dispatch_pending(inline_sink)).sent == 0  # not before its backoff
