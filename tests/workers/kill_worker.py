"""A real arq worker process for tests/workers/test_kill_worker.py (run with ``python -m``).

It is the production worker (``workers.settings``: start-up with the ORM, the plugin runtime and the
background dispatcher, ``outbox_job``) on the test's queue, plus one throwaway job registered only in
this process, ``test.kill_effect``:
- its effect is an operation-log row, guarded by the processed marker ``kill:<dedupe key>``;
- with ``KILL_TEST_BLOCK=1`` it blocks forever, before the effect (payload ``block: before``) or
  after committing it (``block: after``), having first written ``<KILL_TEST_DIR>/started-<key>`` so
  the test knows when to SIGKILL the process.

Configured by environment: DATABASE_URL, REDIS_URL, KILL_TEST_QUEUE, KILL_TEST_JOB_TIMEOUT, KILL_TEST_DIR.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from tortoise.transactions import in_transaction

from core.actor import SYSTEM
from core.oplog import service as oplog
from core.oplog.models import OperatorKind
from core.outbox.service import mark_processed
from workers.registry import JobContext, job

MODULE = "killtest"


@job("test.kill_effect", "Test only: an idempotent effect that can block mid-job")
async def kill_effect(ctx: JobContext) -> str:
    """Idempotent: the marker ``kill:<dedupe key>`` commits with the effect."""
    block = os.environ.get("KILL_TEST_BLOCK") == "1" and ctx.payload.get("block")
    signal = Path(os.environ["KILL_TEST_DIR"]) / f"started-{ctx.dedupe_key}"
    if block == "before":
        signal.write_text(str(os.getpid()))
        await asyncio.sleep(3600)
    async with in_transaction():
        if not await mark_processed(f"kill:{ctx.dedupe_key}"):
            return "already applied"
        await oplog.record(SYSTEM, kind=OperatorKind.SYSTEM, module=MODULE, action=ctx.dedupe_key,
                           summary=f"effect of {ctx.dedupe_key}", detail={"attempt": ctx.attempt})
    if block == "after":
        signal.write_text(str(os.getpid()))
        await asyncio.sleep(3600)  # killed here: the effect is committed, "done" is not
    return "applied"


def main() -> None:
    from arq.worker import Worker

    from workers.runtime import redis_settings
    from workers.settings import WorkerSettings, shutdown, startup

    queue = os.environ["KILL_TEST_QUEUE"]
    worker = Worker(functions=WorkerSettings.functions, on_startup=startup, on_shutdown=shutdown,  # type: ignore[arg-type]
                    redis_settings=redis_settings(os.environ["REDIS_URL"]), queue_name=queue,
                    ctx={"queue_name": queue}, job_timeout=float(os.environ.get("KILL_TEST_JOB_TIMEOUT", "3")),
                    poll_delay=0.1, handle_signals=True, health_check_key=f"{queue}:health-check")
    worker.run()


if __name__ == "__main__":
    main()
