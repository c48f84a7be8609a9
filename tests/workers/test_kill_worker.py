"""Kill a worker mid-job (issue 6): a separate worker process on real Redis and PostgreSQL is
SIGKILLed while two jobs run — one before its effect, one right after committing it. A new worker
process retries both (arq re-runs a job whose in-progress lease expired; the outbox row, still
running under the same dispatch, is taken over) and each effect is applied exactly once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from core.config import current_settings
from core.oplog.models import OperationLog
from core.outbox.models import OutboxMessage, OutboxStatus, ProcessedMarker
from core.outbox.service import dispatch_pending, enqueue
from tests.conftest import REPO
from tests.workers.conftest import REDIS_URL, RedisEnv
from workers.runtime import ArqSink

pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")

JOB_TIMEOUT = 2.0  # arq's in-progress lease is the job timeout + 10 s: the retry comes ~12 s after the kill
DEADLINE = 40.0


def start_worker(queue: str, tmp: Path, *, block: bool) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": current_settings().database_url, "REDIS_URL": REDIS_URL,
           "KILL_TEST_QUEUE": queue, "KILL_TEST_DIR": str(tmp), "KILL_TEST_JOB_TIMEOUT": str(JOB_TIMEOUT),
           "KILL_TEST_BLOCK": "1" if block else "0", "LENDLINE_ENV": "test", "LENDLINE_SECRET_KEY": "k" * 48,
           "PYTHONPATH": str(REPO)}
    with (tmp / f"worker-{'1' if block else '2'}.log").open("wb") as log:  # the child keeps its own handle
        return subprocess.Popen([sys.executable, "-m", "tests.workers.kill_worker"], cwd=REPO, env=env,
                                stdout=log, stderr=subprocess.STDOUT)


def worker_logs(tmp: Path) -> str:
    return "\n".join(p.read_text(errors="replace")[-2000:] for p in sorted(tmp.glob("worker-*.log")))


async def wait_for(check: Any, what: str, tmp: Path, limit: float = DEADLINE) -> None:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if await check():
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}\n{worker_logs(tmp)}")


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


async def test_a_killed_worker_s_jobs_are_retried_and_applied_once(db: str, queue: RedisEnv, tmp_path: Path
                                                                   ) -> None:
    if db != "postgres":
        pytest.skip("the worker process shares the database: PostgreSQL only")
    # registered in this process too, so enqueue accepts the name; the handler runs in the workers
    import tests.workers.kill_worker  # noqa: F401

    before = await enqueue("test.kill_effect", {"block": "before"}, "kill-before")
    after = await enqueue("test.kill_effect", {"block": "after"}, "kill-after")
    sink = ArqSink(queue.settings, queue=queue.queue)
    try:
        assert (await dispatch_pending(sink)).sent == 2
    finally:
        await sink.close()

    first = start_worker(queue.queue, tmp_path, block=True)
    second = None
    try:
        async def both_started() -> bool:
            return all((tmp_path / f"started-{k}").exists() for k in ("kill-before", "kill-after"))

        await wait_for(both_started, "both jobs to start in the first worker", tmp_path, limit=20)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=5)
        killed_at = time.monotonic()

        rows = {r.id: r for r in await OutboxMessage.filter(id__in=[before.id, after.id])}
        assert {r.status for r in rows.values()} == {OutboxStatus.RUNNING}  # nobody finished them
        assert await OperationLog.filter(module="killtest").values_list("action", flat=True) == ["kill-after"]

        second = start_worker(queue.queue, tmp_path, block=False)

        async def both_done() -> bool:
            done = await OutboxMessage.filter(id__in=[before.id, after.id], status=OutboxStatus.DONE).count()
            return done == 2

        await wait_for(both_done, "the second worker to finish both jobs", tmp_path)
        retried_after = time.monotonic() - killed_at
    finally:
        stop(first, signal.SIGKILL)
        if second is not None:
            stop(second)

    effects = sorted(await OperationLog.filter(module="killtest").values_list("action", flat=True))
    assert effects == ["kill-after", "kill-before"]  # each effect exactly once
    assert await ProcessedMarker.filter(key__startswith="kill:").count() == 2
    done = {r.dedupe_key: r for r in await OutboxMessage.filter(id__in=[before.id, after.id])}
    assert done["kill-before"].result == {"value": "applied"} and done["kill-before"].attempts == 2
    assert done["kill-after"].result == {"value": "already applied"} and done["kill-after"].attempts == 2
    assert done["kill-before"].dispatches == 1  # retried by arq, not re-dispatched
    assert retried_after < JOB_TIMEOUT + 10 + 8
