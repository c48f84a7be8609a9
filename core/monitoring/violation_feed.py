"""Live violations for the `violationDetected` subscription, discovered by polling the database.

One polling task per process (`core.id_feed`, as for the ledger's live feed) asks for violations
with an id above the last seen, or in a gap still waited for, while someone subscribes, and hands
the new ids to every subscriber's queue. Each subscriber then reads the rows again **with its own
data scope in SQL**, so nobody receives another bank's violations.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from core.id_feed import BATCH, POLL_SECONDS, QUEUE_SIZE, IdCursor, publish
from core.monitoring.models import Violation
from core.polling import PollingTask


class ViolationFeed(PollingTask):
    def __init__(self, interval: float = POLL_SECONDS) -> None:
        super().__init__("violation-feed", interval)
        self.queues: set[asyncio.Queue[list[int]]] = set()
        self._cursor = IdCursor()

    def active(self) -> bool:
        return bool(self.queues)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[list[int]]]:
        """A queue receiving the ids of violations stored from now on, a list per poll round."""
        if not self.queues:
            self._cursor.reset(await Violation.all().order_by("-id").first().values_list("id", flat=True) or 0)
        queue: asyncio.Queue[list[int]] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self.queues.add(queue)
        self.ensure_running()
        try:
            yield queue
        finally:
            self.queues.discard(queue)

    async def poll(self) -> None:
        ids = list(await Violation.filter(self._cursor.wanted()).order_by("id").limit(BATCH)
                   .values_list("id", flat=True))
        self._cursor.advance(ids)
        if ids:
            publish(self.queues, ids, "violation")


_feed: list[ViolationFeed] = []


def violation_feed() -> ViolationFeed:
    """This process's feed (created on first use)."""
    if not _feed:
        _feed.append(ViolationFeed())
    return _feed[0]
