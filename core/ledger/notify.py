"""Live ledger events for subscriptions, from the database alone (F-LED-2).

One polling task per process (`core.id_feed`), running only while someone subscribes, asks for
blocks above the last height seen and transactions above the last id seen (both indexed, so an idle
poll is two cheap reads) and fans them out to each subscriber's queue. Blocks need no gap tracking:
heights are sealed one at a time under the sealer's lock. Transactions do (`IdCursor`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TypeVar

from core.id_feed import BATCH, POLL_SECONDS, QUEUE_SIZE, IdCursor, publish
from core.ledger.models import LedgerBlock, LedgerTransaction
from core.ledger.queries import LIST_FIELDS
from core.polling import PollingTask

T = TypeVar("T")


class LedgerFeed(PollingTask):
    """New blocks and transactions, polled once per process and fanned out."""

    def __init__(self, interval: float = POLL_SECONDS) -> None:
        super().__init__("ledger-feed", interval)
        self._blocks: set[asyncio.Queue[LedgerBlock]] = set()
        self._transactions: set[asyncio.Queue[LedgerTransaction]] = set()
        self._height = 0
        self._cursor = IdCursor()

    @property
    def subscribers(self) -> int:
        return len(self._blocks) + len(self._transactions)

    def active(self) -> bool:
        return bool(self.subscribers)

    @contextlib.asynccontextmanager
    async def blocks(self) -> AsyncIterator[asyncio.Queue[LedgerBlock]]:
        """A queue receiving every block sealed from now on."""
        if not self._blocks:
            self._height = await LedgerBlock.all().order_by("-height").first().values_list("height", flat=True) or 0
        async with self._subscribed(self._blocks) as queue:
            yield queue

    @contextlib.asynccontextmanager
    async def transactions(self) -> AsyncIterator[asyncio.Queue[LedgerTransaction]]:
        """A queue receiving every transaction appended from now on (list fields only, see `queries`)."""
        if not self._transactions:
            self._cursor.reset(await LedgerTransaction.all().order_by("-id").first().values_list("id", flat=True)
                               or 0)
        async with self._subscribed(self._transactions) as queue:
            yield queue

    @contextlib.asynccontextmanager
    async def _subscribed(self, queues: set[asyncio.Queue[T]]) -> AsyncIterator[asyncio.Queue[T]]:
        queue: asyncio.Queue[T] = asyncio.Queue(maxsize=QUEUE_SIZE)
        queues.add(queue)
        self.ensure_running()
        try:
            yield queue
        finally:
            queues.discard(queue)

    async def poll(self) -> None:
        """One round: publish what appeared since the last one."""
        if self._blocks:
            for block in await LedgerBlock.filter(height__gt=self._height).order_by("height").limit(BATCH):
                publish(self._blocks, block, "ledger block")
                self._height = block.height
        if self._transactions:
            rows = await (LedgerTransaction.filter(self._cursor.wanted()).order_by("id").limit(BATCH)
                          .only(*LIST_FIELDS))
            self._cursor.advance(r.id for r in rows)
            for row in rows:
                publish(self._transactions, row, "ledger transaction")


_feed: list[LedgerFeed] = []


def ledger_feed() -> LedgerFeed:
    """This process's feed (created on first use, in the running event loop)."""
    if not _feed:
        _feed.append(LedgerFeed())
    return _feed[0]
