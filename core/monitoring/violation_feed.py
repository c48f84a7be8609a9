"""Live violations for the `violationDetected` subscription, discovered by polling the database.

The process that ingests (a web worker, a feed job) is often not the one holding the subscriber's
websocket, so, like `core.ledger.notify`, one task per process polls for violations with an id above
the last seen (an indexed primary-key read, cheap when idle) while someone subscribes, and hands the
new ids to every subscriber's queue. Each subscriber then reads the rows again **with its own data
scope in SQL**, so nobody receives another bank's violations.

Ids become visible at commit, so a violation committed late with a lower id than one already seen is
re-asked for `GAP_SECONDS` before being given up (a rolled-back batch leaves such gaps for good).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from tortoise.expressions import Q

from core.monitoring.models import Violation

log = logging.getLogger("lendline.monitoring")

POLL_SECONDS = 1.0
GAP_SECONDS = 30.0
_MAX_GAP = 1_000
_QUEUE_SIZE = 1_000
_BATCH = 500


class ViolationFeed:
    def __init__(self, interval: float = POLL_SECONDS) -> None:
        self.interval = interval
        self.queues: set[asyncio.Queue[list[int]]] = set()
        self._last: int | None = None
        self._gaps: dict[int, float] = {}
        self._task: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[list[int]]]:
        """A queue receiving the ids of violations stored from now on, a list per poll round."""
        if not self.queues:
            self._last = await Violation.all().order_by("-id").first().values_list("id", flat=True) or 0
            self._gaps.clear()
        queue: asyncio.Queue[list[int]] = asyncio.Queue(maxsize=_QUEUE_SIZE)
        self.queues.add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="violation-feed")
        try:
            yield queue
        finally:
            self.queues.discard(queue)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def poll(self) -> None:
        last = self._last or 0
        wanted = Q(id__gt=last)
        if self._gaps:
            wanted = Q(wanted, Q(id__in=list(self._gaps)), join_type="OR")
        ids = list(await Violation.filter(wanted).order_by("id").limit(_BATCH).values_list("id", flat=True))
        now = time.monotonic()
        top = max((i for i in ids if i > last), default=last)
        seen = set(ids)
        if top - last <= _MAX_GAP:
            for skipped in range(last + 1, top):
                if skipped not in seen:
                    self._gaps[skipped] = now + GAP_SECONDS
        for i in seen:
            self._gaps.pop(i, None)
        self._gaps = {k: until for k, until in self._gaps.items() if until > now}
        self._last = top
        if ids:
            for queue in self.queues:
                try:
                    queue.put_nowait(ids)
                except asyncio.QueueFull:
                    log.warning("violation subscriber is %s rounds behind; dropping one", queue.qsize())

    async def _run(self) -> None:
        while self.queues:
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("violation feed poll failed")
            await asyncio.sleep(self.interval)


_feed: list[ViolationFeed] = []


def violation_feed() -> ViolationFeed:
    """This process's feed (created on first use)."""
    if not _feed:
        _feed.append(ViolationFeed())
    return _feed[0]
