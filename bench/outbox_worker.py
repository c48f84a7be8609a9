"""A worker process for bench/bench_outbox.py: the production worker on the bench's queue + ``bench.noop``.

Run by the benchmark (``python bench/outbox_worker.py``) with DATABASE_URL, REDIS_URL and
BENCH_QUEUE in the environment; not meant to be started by hand.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workers.registry import JobContext, job


@job("bench.noop")
async def noop(ctx: JobContext) -> None:
    """Does nothing: the figures are the outbox's own cost."""


def main() -> None:
    from arq.worker import Worker

    from workers.runtime import redis_settings
    from workers.settings import WorkerSettings, shutdown, startup

    queue = os.environ["BENCH_QUEUE"]
    worker = Worker(functions=WorkerSettings.functions, on_startup=startup, on_shutdown=shutdown,  # type: ignore[arg-type]
                    redis_settings=redis_settings(os.environ["REDIS_URL"]), queue_name=queue,
                    ctx={"queue_name": queue}, poll_delay=0.05, max_jobs=int(os.environ.get("BENCH_MAX_JOBS", "50")),
                    handle_signals=True, health_check_key=f"{queue}:health-check", keep_result=0)
    worker.run()


if __name__ == "__main__":
    main()
