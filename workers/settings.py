"""arq settings for `lendline worker` (:func:`run`; it adds the Redis settings from ``REDIS_URL``).

A worker runs outbox jobs (``outbox_job``), the scheduler (``scheduler_tick``, every minute at :00 —
arq's unique cron job ids let one worker of many take each minute, and the tasks' claim column
guards the rest) and, in the background, an outbox dispatcher, so rows committed by API processes
reach Redis even when no API process dispatches.

Why start-up keeps the ORM context: tortoise 1.x state is per task and arq runs ``on_startup`` and
``on_shutdown`` in different tasks, so the context returned by ``Tortoise.init`` is stored in ``ctx``
and closed explicitly; the plugin runtime lives in an ``AsyncExitStack`` for the same reason.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, ClassVar

from arq.cron import CronJob, cron
from arq.worker import Function, func
from tortoise import Tortoise

from core.db import tortoise_config
from core.heap import freeze_startup_heap
from core.outbox.service import deliver
from workers.registry import load_builtin_jobs
from workers.runtime import OUTBOX_FUNCTION, QUEUE, ArqSink, BackgroundRunner, install_sink, redis_settings

log = logging.getLogger("lendline.workers")


async def outbox_job(ctx: dict[str, Any], message_id: int, dispatch: int | None = None) -> str:
    """Deliver one outbox row (duplicates are skipped by ``deliver``'s claim).

    ``dispatch`` is the row's dispatch number when it was queued. arq runs a job a second time
    (``job_try`` > 1) only after the first run ended without finishing — its worker was killed, or
    the job timeout cancelled it — so that run is taken over (see ``deliver``).
    """
    takeover = int(dispatch) if dispatch is not None and int(ctx.get("job_try", 1)) > 1 else None
    return (await deliver(int(message_id), takeover_dispatch=takeover)).value


async def scheduler_tick(ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """Run the scheduled tasks that are due (the rows are read afresh every minute)."""
    from core.system.tasks import tick

    return [{"task": r.key, "success": r.success, "result": r.result[:200]} for r in await tick()]


async def startup(ctx: dict[str, Any]) -> None:
    """Open the database and the plugin runtime; start the background dispatcher."""
    from plugins.runtime import plugin_runtime

    load_builtin_jobs()
    ctx["tortoise"] = await Tortoise.init(config=tortoise_config(), _enable_global_fallback=True)
    stack = contextlib.AsyncExitStack()
    ctx["exit_stack"] = stack
    await stack.enter_async_context(plugin_runtime())
    queue = ctx.get("queue_name", QUEUE)
    sink = ArqSink(queue=queue, pool=ctx["redis"])
    ctx["previous_sink"] = install_sink(sink)
    runner = BackgroundRunner(sink, schedule=False)
    runner.start()
    ctx["runner"] = runner
    freeze_startup_heap()


async def shutdown(ctx: dict[str, Any]) -> None:
    """Stop in reverse order; each step runs even when an earlier one failed."""
    try:
        if (runner := ctx.pop("runner", None)) is not None:
            await runner.stop()
        install_sink(ctx.pop("previous_sink", None))
    finally:
        try:
            if (stack := ctx.pop("exit_stack", None)) is not None:
                await stack.aclose()
        finally:
            if (orm := ctx.pop("tortoise", None)) is not None:
                await orm.close_connections()


class WorkerSettings:
    functions: ClassVar[list[Function]] = [func(outbox_job, name=OUTBOX_FUNCTION, max_tries=3)]  # type: ignore[arg-type]
    cron_jobs: ClassVar[list[CronJob]] = [cron(scheduler_tick, name="scheduler_tick", timeout=3600)]  # type: ignore[arg-type]
    on_startup = startup
    on_shutdown = shutdown
    queue_name = QUEUE
    handle_signals = True
    health_check_key = f"{QUEUE}:health-check"


def run(redis_url: str | None = None) -> None:
    """Run a worker until a signal stops it (`lendline worker`); Redis is required here."""
    from dataclasses import replace

    from arq.worker import run_worker

    settings = replace(redis_settings(redis_url), conn_retries=5, conn_retry_delay=2)  # wait for Redis at start
    run_worker(WorkerSettings, redis_settings=settings)  # type: ignore[arg-type]
