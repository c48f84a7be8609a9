"""Polling feeds of newly committed rows, for subscriptions served by any process.

Why polling: the process that writes a row (a web worker, a job, the sealer) is often not the one
holding the subscriber's websocket, and the database is the one thing every process shares. One task
per process and feed polls while someone subscribes, and stops when the last one leaves.

Why the gap tracking (`IdCursor`): ids are drawn at insert but become visible at commit, so a row
may appear after a higher id was already delivered. Ids skipped over are asked for again for
`GAP_SECONDS`, then given up as rolled back. A jump of more than `MAX_GAP` ids (a bulk load) is not
tracked id by id.

The polling loop itself is `core.polling.PollingTask`. Used by the ledger's live feed
(`core.ledger.notify`) and by the violation feed (`core.monitoring.violation_feed`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Iterable
from typing import TypeVar

from tortoise.expressions import Q

log = logging.getLogger("lendline.feeds")
T = TypeVar("T")

POLL_SECONDS = 1.0
GAP_SECONDS = 30.0
MAX_GAP = 1_000
QUEUE_SIZE = 1_000
"""Items a subscriber may fall behind before items are dropped for it (never for the others)."""
BATCH = 500
"""Rows read per poll round; a backlog drains over several rounds."""


class IdCursor:
    """The highest id delivered, plus ids skipped over that may still be committed."""

    def __init__(self, gap_seconds: float = GAP_SECONDS, max_gap: int = MAX_GAP,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.last = 0
        self.gaps: dict[int, float] = {}  # skipped id -> when to stop waiting for it
        self._gap_seconds = gap_seconds
        self._max_gap = max_gap
        self._clock = clock

    def reset(self, last: int) -> None:
        """Start after `last` (the newest id when the first subscriber arrives)."""
        self.last = last
        self.gaps.clear()

    def wanted(self) -> Q:
        """Rows to ask for: above the last id delivered, or in a gap still waited for."""
        if not self.gaps:
            return Q(id__gt=self.last)
        return Q(Q(id__gt=self.last), Q(id__in=sorted(self.gaps)), join_type="OR")

    def advance(self, ids: Iterable[int]) -> None:
        """Record the ids a round delivered: the gaps below the new top are waited for, found ones closed."""
        seen = set(ids)
        now = self._clock()
        top = max((i for i in seen if i > self.last), default=self.last)
        if top - self.last <= self._max_gap:
            for skipped in range(self.last + 1, top):
                if skipped not in seen:
                    self.gaps[skipped] = now + self._gap_seconds
        for i in seen:
            self.gaps.pop(i, None)
        self.gaps = {i: until for i, until in self.gaps.items() if until > now}
        self.last = top


def publish(queues: Collection[asyncio.Queue[T]], item: T, what: str) -> None:
    """Put `item` on every queue; a full queue (a stalled client) loses it, the others do not wait."""
    for queue in queues:
        try:
            queue.put_nowait(item)
        except asyncio.QueueFull:
            log.warning("%s subscriber is %s items behind; dropping one", what, queue.qsize())
