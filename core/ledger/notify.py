"""Live ledger events for subscriptions, from the database alone (F-LED-2).

The process that seals a block or appends a transaction is often not the one holding the subscriber's
websocket, so events are discovered by polling: one task per process, running only while someone
subscribes, asks for blocks above the last height seen and transactions above the last id seen (both
indexed, so an idle poll is two cheap reads) and fans them out to each subscriber's queue.

Transaction ids are assigned at insert but become visible at commit, so a transaction can appear
after a higher id was already delivered; ids skipped over are re-asked for a while (`GAP_SECONDS`)
before being given up as rolled back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

from tortoise.expressions import Q

from core.ledger.models import LedgerBlock, LedgerTransaction
from core.ledger.queries import LIST_FIELDS

log = logging.getLogger("lendline.ledger")
T = TypeVar("T")

POLL_SECONDS = 1.0
GAP_SECONDS = 30.0
_MAX_GAP = 1_000  # beyond this many skipped ids at once, assume a bulk load and do not track them
_QUEUE_SIZE = 1_000
_BATCH = 500


class _Subscribers(Generic[T]):
    def __init__(self) -> None:
        self.queues: set[asyncio.Queue[T]] = set()

    def publish(self, item: T) -> None:
        for queue in self.queues:
            try:
                queue.put_nowait(item)
            except asyncio.QueueFull:  # a stalled client must not hold the others back
                log.warning("ledger subscriber is %s events behind; dropping one", queue.qsize())


class LedgerFeed:
    """New blocks and transactions, polled once per process and fanned out."""

    def __init__(self, interval: float = POLL_SECONDS) -> None:
        self.interval = interval
        self._blocks: _Subscribers[LedgerBlock] = _Subscribers()
        self._transactions: _Subscribers[LedgerTransaction] = _Subscribers()
        self._height: int | None = None
        self._tx_id: int | None = None
        self._gaps: dict[int, float] = {}  # skipped transaction id -> when to stop waiting for it
        self._task: asyncio.Task[None] | None = None

    @property
    def subscribers(self) -> int:
        return len(self._blocks.queues) + len(self._transactions.queues)

    @contextlib.asynccontextmanager
    async def blocks(self) -> AsyncIterator[asyncio.Queue[LedgerBlock]]:
        """A queue receiving every block sealed from now on."""
        if not self._blocks.queues:
            self._height = await LedgerBlock.all().order_by("-height").first().values_list("height", flat=True) or 0
        async with self._subscribed(self._blocks) as queue:
            yield queue

    @contextlib.asynccontextmanager
    async def transactions(self) -> AsyncIterator[asyncio.Queue[LedgerTransaction]]:
        """A queue receiving every transaction appended from now on (list fields only, see `queries`)."""
        if not self._transactions.queues:
            self._tx_id = await LedgerTransaction.all().order_by("-id").first().values_list("id", flat=True) or 0
            self._gaps.clear()
        async with self._subscribed(self._transactions) as queue:
            yield queue

    @contextlib.asynccontextmanager
    async def _subscribed(self, subscribers: _Subscribers[T]) -> AsyncIterator[asyncio.Queue[T]]:
        queue: asyncio.Queue[T] = asyncio.Queue(maxsize=_QUEUE_SIZE)
        subscribers.queues.add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="ledger-feed")
        try:
            yield queue
        finally:
            subscribers.queues.discard(queue)

    async def close(self) -> None:
        """Stop polling (app shutdown); subscribers' queues simply stop receiving."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def poll(self) -> None:
        """One round: publish what appeared since the last one."""
        if self._blocks.queues:
            await self._poll_blocks()
        if self._transactions.queues:
            await self._poll_transactions()

    async def _run(self) -> None:
        while self.subscribers:
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may blip; subscribers just wait for the next round
                log.exception("ledger feed poll failed")
            await asyncio.sleep(self.interval)

    async def _poll_blocks(self) -> None:
        new = await LedgerBlock.filter(height__gt=self._height or 0).order_by("height").limit(_BATCH)
        for block in new:
            self._blocks.publish(block)
            self._height = block.height

    async def _poll_transactions(self) -> None:
        last = self._tx_id or 0
        wanted = Q(id__gt=last)
        if self._gaps:
            wanted = Q(wanted, Q(id__in=list(self._gaps)), join_type="OR")
        rows = await LedgerTransaction.filter(wanted).order_by("id").limit(_BATCH).only(*LIST_FIELDS)
        now = time.monotonic()
        seen = {r.id for r in rows}
        top = max((r.id for r in rows if r.id > last), default=last)
        if top - last <= _MAX_GAP:
            for skipped in range(last + 1, top):
                if skipped not in seen:
                    self._gaps[skipped] = now + GAP_SECONDS
        for tx_id in seen:
            self._gaps.pop(tx_id, None)
        self._gaps = {k: until for k, until in self._gaps.items() if until > now}
        self._tx_id = top
        for row in rows:
            self._transactions.publish(row)


_feed: list[LedgerFeed] = []


def ledger_feed() -> LedgerFeed:
    """This process's feed (created on first use, in the running event loop)."""
    if not _feed:
        _feed.append(LedgerFeed())
    return _feed[0]
