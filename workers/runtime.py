"""Where outbox rows go in this process, and the in-process runner of the embedded default.

Two sinks, one delivery path: :class:`ArqSink` pushes a row's id to Redis for `lendline worker`,
:func:`inline_sink` runs it here; both end in ``core.outbox.service.deliver``. Without ``REDIS_URL``
the app's lifespan runs :class:`BackgroundRunner` with the inline sink *and* the scheduler; with it,
the runner only dispatches (the scheduler runs in the arq workers).

Tuning by environment (read here to keep core/config small): ``LENDLINE_OUTBOX_POLL_SECONDS``
(default 1), ``LENDLINE_SCHEDULER_TICK_SECONDS`` (default 15), ``LENDLINE_BACKGROUND=off`` to run no
background loop in API processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

from arq.connections import ArqRedis, RedisSettings, create_pool

from core.config import current_settings
from core.outbox.models import OutboxMessage
from core.outbox.service import Sink, deliver, dispatch_pending

log = logging.getLogger("lendline.workers")

QUEUE = "lendline:queue"
FAIL_FAST_SECONDS = 1.0  # after a Redis failure, concurrent sends of the same round fail at once
OUTBOX_FUNCTION = "outbox_job"
_sink: list[Sink | None] = [None]


def current_sink() -> Sink | None:
    """The sink of this process (set by the worker's start-up or the runner), for the redelivery job."""
    return _sink[0]


def install_sink(sink: Sink | None) -> Sink | None:
    previous, _sink[0] = _sink[0], sink
    return previous


def redis_settings(url: str | None = None) -> RedisSettings:
    """arq settings for ``url`` (default ``REDIS_URL``); no connection retries — callers retry later."""
    dsn = url or current_settings().redis_url or "redis://127.0.0.1:6379/0"
    return replace(RedisSettings.from_dsn(dsn), conn_retries=0, conn_timeout=2)


class ArqSink:
    """Enqueue ``outbox_job(<row id>)`` on arq; connects lazily and reconnects after a failure."""

    concurrency = 32  # dispatch_pending may run this many sends at once (one Redis round trip each)

    def __init__(self, settings: RedisSettings | None = None, *, queue: str = QUEUE,
                 pool: ArqRedis | None = None) -> None:
        self.settings = settings or redis_settings()
        self.queue = queue
        self._pool = pool
        self._owns_pool = pool is None
        self._connecting = asyncio.Lock()  # dispatch_pending sends concurrently: connect once
        self._failed_at = -1e9  # when the last send or connect failed (monotonic seconds)

    async def _connected(self) -> ArqRedis:
        async with self._connecting:
            if self._pool is None:
                if time.monotonic() - self._failed_at < FAIL_FAST_SECONDS:
                    raise ConnectionError("Redis failed a moment ago; not reconnecting yet")
                try:
                    self._pool = await create_pool(self.settings, default_queue_name=self.queue)
                except Exception:
                    self._failed_at = time.monotonic()
                    raise
            return self._pool

    async def __call__(self, message: OutboxMessage) -> None:
        pool = await self._connected()
        try:
            # a fresh id per dispatch: arq silently drops an id whose result it still keeps (a
            # redelivery; row ids reused after a restore); duplicates are stopped by deliver()'s claim
            job_id = f"{self.queue}:outbox:{message.id}:{message.dispatches}:{secrets.token_hex(4)}"
            if await pool.enqueue_job(OUTBOX_FUNCTION, message.id, message.dispatches, _queue_name=self.queue,
                                      _job_id=job_id) is None:
                raise RuntimeError(f"arq refused job id {job_id}")
        except Exception:
            self._failed_at = time.monotonic()
            await self.close()
            raise

    async def close(self) -> None:
        """Drop our own connection (the next send reconnects); a pool we were given stays its owner's."""
        if not self._owns_pool:
            return
        pool, self._pool = self._pool, None
        if pool is not None:
            with contextlib.suppress(Exception):
                await pool.aclose()


async def inline_sink(message: OutboxMessage) -> None:
    """Run the row here and now (embedded default): the same ``deliver`` an arq worker calls."""
    await deliver(message.id)


def _seconds(name: str, default: float) -> float:
    try:
        return max(0.05, float(os.environ.get(name, default)))
    except ValueError:
        return default


class BackgroundRunner:
    """Dispatch loop (every ``poll`` seconds) and, optionally, scheduler loop (every ``tick`` seconds).

    Failures are logged and retried next round, never raised into the app.
    """

    def __init__(self, sink: Sink, *, schedule: bool, poll: float | None = None, tick: float | None = None) -> None:
        self.sink = sink
        self.schedule = schedule
        self.poll = poll if poll is not None else _seconds("LENDLINE_OUTBOX_POLL_SECONDS", 1.0)
        self.tick = tick if tick is not None else _seconds("LENDLINE_SCHEDULER_TICK_SECONDS", 15.0)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._loop(self._dispatch, self.poll), name="outbox-dispatcher"))
        if self.schedule:
            self._tasks.append(asyncio.create_task(self._loop(self._tick, self.tick), name="task-scheduler"))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _dispatch(self) -> None:
        report = await dispatch_pending(self.sink)
        if report.error:
            await asyncio.sleep(min(30.0, self.poll * 5))  # Redis is down: do not hammer it

    async def _tick(self) -> None:
        from core.system.tasks import tick

        await tick()

    async def _loop(self, step: Callable[[], Awaitable[None]], interval: float) -> None:
        while True:
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup must not kill the loop; it retries next round
                log.exception("background %s failed; retrying in %ss", getattr(step, "__name__", step), interval)
            await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def background_runtime() -> AsyncIterator[BackgroundRunner | None]:
    """The app lifespan's background work (see the module notes); yields the runner, if any."""
    if os.environ.get("LENDLINE_BACKGROUND", "").lower() in {"0", "off", "false", "no"}:
        yield None
        return
    redis_url = current_settings().redis_url
    sink: Sink = ArqSink() if redis_url else inline_sink
    runner = BackgroundRunner(sink, schedule=not redis_url)
    previous = install_sink(sink)
    runner.start()
    try:
        yield runner
    finally:
        await runner.stop()
        install_sink(previous)
        if isinstance(sink, ArqSink):
            await sink.close()
