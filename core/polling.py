"""A periodic task of a serving process: the ledger sealer, the live feeds' pollers.

Why one class: each of them runs a round every few seconds inside the API process, must survive a
failed round (a database blip is retried next round, never raised into the app) and must stop
cleanly at shutdown; they differed only in what a round does and when to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger("lendline.polling")


class PollingTask:
    """Runs `poll` every `interval` seconds while `active()` holds (a feed: while someone subscribes)."""

    def __init__(self, name: str, interval: float) -> None:
        self.name = name
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def active(self) -> bool:
        """Whether to run another round; the default runs until `close`."""
        return True

    async def poll(self) -> None:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    def ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def close(self) -> None:
        """Stop polling (app shutdown); subscribers' queues simply stop receiving."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while self.active():
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may blip; subscribers just wait for the next round
                log.exception("%s poll failed", self.name)
            await asyncio.sleep(self.interval)
