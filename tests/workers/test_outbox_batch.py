"""Batched claiming in dispatch_pending, and the takeover of an abandoned run (arq retry after a crash)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from core.outbox.models import OutboxMessage, OutboxStatus
from core.outbox.service import Delivery, deliver, dispatch_pending, enqueue
from workers.registry import JobContext, job, unregister


@pytest.fixture(autouse=True)
def noop_job() -> Any:
    @job("test.batch_noop")
    async def noop(ctx: JobContext) -> str:
        return "ok"

    yield
    unregister("test.batch_noop")


async def test_concurrent_dispatchers_send_every_row_exactly_once(db: str) -> None:
    for i in range(120):
        await enqueue("test.batch_noop", {"i": i}, f"b:{i}")
    sent: list[int] = []

    async def sink(message: OutboxMessage) -> None:
        await asyncio.sleep(0)
        sent.append(message.id)

    reports = await asyncio.gather(*(dispatch_pending(sink, limit=50) for _ in range(4)))
    while (await dispatch_pending(sink, limit=50)).sent:
        pass
    assert len(sent) == 120 and Counter(sent).most_common(1)[0][1] == 1
    assert sum(r.sent for r in reports) <= 120
    rows = await OutboxMessage.all()
    assert {r.status for r in rows} == {OutboxStatus.DISPATCHED} and {r.dispatches for r in rows} == {1}


async def test_a_failed_send_puts_the_unsent_rows_back(db: str) -> None:
    for i in range(10):
        await enqueue("test.batch_noop", {"i": i}, f"f:{i}")
    calls = 0

    async def flaky(message: OutboxMessage) -> None:
        nonlocal calls
        calls += 1
        if calls > 3:
            raise ConnectionError("redis went away")

    report = await dispatch_pending(flaky, concurrency=1)
    assert (report.sent, report.failed) == (3, 7) and "redis went away" in report.error
    statuses = Counter(r.status for r in await OutboxMessage.all())
    assert statuses == {OutboxStatus.DISPATCHED: 3, OutboxStatus.PENDING: 7}
    pending = await OutboxMessage.filter(status=OutboxStatus.PENDING).first()
    assert pending is not None and "redis went away" in pending.last_error


async def test_an_abandoned_run_is_taken_over_only_for_its_own_dispatch(db: str) -> None:
    row = await enqueue("test.batch_noop", {}, "t:1")
    await OutboxMessage.filter(id=row.id).update(status=OutboxStatus.RUNNING, dispatches=2, attempts=1)
    assert await deliver(row.id) is Delivery.DUPLICATE  # a plain duplicate never runs a running row
    assert await deliver(row.id, takeover_dispatch=1) is Delivery.DUPLICATE  # an older dispatch's retry
    assert await deliver(row.id, takeover_dispatch=2) is Delivery.DONE
    done = await OutboxMessage.get(id=row.id)
    assert done.status is OutboxStatus.DONE and done.attempts == 2
    assert await deliver(row.id, takeover_dispatch=2) is Delivery.DUPLICATE  # finished rows stay finished
