"""Benchmark of the outbox: latency an enqueue adds to a mutation's transaction, dispatch throughput,
and rows handled per second by separate worker processes.

Run: ``python bench/bench_outbox.py [--rows 2000] [--redis redis://127.0.0.1:6379/13]
[--postgres postgres://postgres@127.0.0.1:5432/postgres] [--workers 2]``. Not a test.

- Default: a throwaway SQLite file (tables generated). With ``--postgres ADMIN_URL`` a throwaway
  PostgreSQL database is created on that server (and dropped at the end).
- Mutation latency: median of a one-row business transaction with and without an outbox row.
- Dispatch: rows per second handed to arq (Redis), with the batched claim of ``dispatch_pending``
  and, for comparison, the previous row-at-a-time claim (``legacy_dispatch`` below).
- With ``--workers N`` (N > 0), N separate ``lendline worker``-equivalent processes
  (``bench/outbox_worker.py``) handle the rows through Redis: the figure is rows dispatched AND
  handled (status ``done`` in the database) per second, end to end.
- Without workers, the in-process runner is timed too (the embedded default, handler included).
Redis keys of the run are deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

import asyncpg
from tortoise import Tortoise
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from core import clock
from core.db import close_db, init_db
from core.outbox.models import OutboxMessage, OutboxStatus
from core.outbox.service import DispatchReport, Sink, dispatch_pending, enqueue
from core.system.models import SystemParameter
from workers.registry import JobContext, job
from workers.runtime import ArqSink, inline_sink, redis_settings

ROOT = Path(__file__).resolve().parent.parent

@job("bench.noop")
async def noop(ctx: JobContext) -> None:
    """Does nothing: the figures are the outbox's own cost."""


async def legacy_dispatch(send: Sink, limit: int = 100) -> DispatchReport:
    """The row-at-a-time claim dispatch_pending used before batching (kept here to compare)."""
    now = clock.now()
    ids = await (OutboxMessage.filter(status=OutboxStatus.PENDING, available_at__lte=now).order_by("id")
                 .limit(limit).values_list("id", flat=True))
    sent = 0
    for message_id in ids:
        if not await OutboxMessage.filter(id=message_id, status=OutboxStatus.PENDING).update(
                status=OutboxStatus.DISPATCHED, dispatched_at=now, dispatches=F("dispatches") + 1):
            continue
        await send(await OutboxMessage.get(id=message_id))
        sent += 1
    return DispatchReport(sent)


async def mutation(i: int, with_outbox: bool, tag: str) -> float:
    t0 = time.perf_counter()
    async with in_transaction():
        await SystemParameter.create(number=f"B{tag}{i}{int(with_outbox)}", name="bench", type="business", value="1")
        if with_outbox:
            await enqueue("bench.noop", {"i": i}, f"bench:{tag}:{i}")
    return (time.perf_counter() - t0) * 1000


async def enqueue_rows(n: int, tag: str) -> None:
    for start in range(0, n, 500):
        async with in_transaction():
            for i in range(start, min(n, start + 500)):
                await enqueue("bench.noop", {"i": i}, f"bench:{tag}:{i}")


async def timed_dispatch(sink: Sink, n: int, legacy: bool = False) -> float:
    t0 = time.perf_counter()
    sent = 0
    while sent < n:
        step = legacy_dispatch(sink, limit=min(500, n - sent)) if legacy else dispatch_pending(sink, limit=500)
        got = (await step).sent
        if not got:
            break
        sent += got
    return sent / (time.perf_counter() - t0)


async def wait_done(total: int, limit: float = 300.0) -> None:
    end = time.monotonic() + limit
    while await OutboxMessage.filter(status=OutboxStatus.DONE).count() < total:
        if time.monotonic() > end:
            raise TimeoutError("workers did not finish in time")
        await asyncio.sleep(0.05)


async def create_pg(admin_url: str) -> str:
    name = f"lendline_bench_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin_url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin_url.rsplit("/", 1)[0] + "/" + name


async def drop_pg(admin_url: str, url: str) -> None:
    conn = await asyncpg.connect(admin_url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()


def start_workers(n: int, db_url: str, redis_url: str, queue: str) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": redis_url, "BENCH_QUEUE": queue,
           "LENDLINE_ENV": "test", "LENDLINE_SECRET_KEY": "b" * 48, "LENDLINE_PLUGINS_TOML": str(ROOT / "plugins.toml")}
    return [subprocess.Popen([sys.executable, str(ROOT / "bench" / "outbox_worker.py")], env=env, cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(n)]


async def run(rows: int, redis_url: str, db_url: str, workers: int) -> None:
    await init_db(db_url)
    await Tortoise.generate_schemas()
    queue = f"lendline:bench:{secrets.token_hex(4)}"
    sink = ArqSink(redis_settings(redis_url), queue=queue)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        plain = [await mutation(i, False, "m") for i in range(rows)]
        outboxed = [await mutation(i, True, "m") for i in range(rows)]
        p, o = statistics.median(plain), statistics.median(outboxed)
        print(f"mutation median: {p:.3f} ms without outbox, {o:.3f} ms with (+{o - p:.3f} ms); "
              f"p95 {statistics.quantiles(plain, n=20)[18]:.3f} / {statistics.quantiles(outboxed, n=20)[18]:.3f} ms")
        # dispatch only (nobody consumes the queue yet): batched vs row-at-a-time claim
        batched = await timed_dispatch(sink, rows)
        await enqueue_rows(rows, "legacy")
        legacy = await timed_dispatch(sink, rows, legacy=True)
        print(f"dispatch to arq: {batched:,.0f} rows/s batched claim; {legacy:,.0f} rows/s row-at-a-time claim")
        pool = sink._pool
        assert pool is not None
        await pool.delete(queue)
        await OutboxMessage.all().delete()
        if workers:
            procs = start_workers(workers, db_url, redis_url, queue)
            end = time.monotonic() + 30
            while not await pool.exists(f"{queue}:health-check"):
                if time.monotonic() > end:
                    raise TimeoutError("worker processes did not start")
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)  # let every worker finish its start-up
            await enqueue_rows(rows, "e2e")
            t0 = time.perf_counter()
            while (await dispatch_pending(sink, limit=500)).sent:
                pass
            dispatched = time.perf_counter() - t0
            await wait_done(rows)
            total = time.perf_counter() - t0
            print(f"end to end with {workers} worker process(es): {rows / total:,.0f} rows/s dispatched and handled "
                  f"({rows} rows in {total:.2f} s; dispatch alone {rows / dispatched:,.0f} rows/s)")
        else:
            await enqueue_rows(rows, "inline")
            t0 = time.perf_counter()
            done = 0
            while (n := (await dispatch_pending(inline_sink, limit=500)).sent):
                done += n
            print(f"in-process runner: {done / (time.perf_counter() - t0):,.0f} rows/s (incl. handler)")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if sink._pool is not None:
            keys = [k async for k in sink._pool.scan_iter(match=f"*{queue}*")]
            if keys:
                await sink._pool.delete(*keys)
        await sink.close()
        await close_db()


async def main(rows: int, redis_url: str, postgres: str | None, workers: int) -> None:
    if postgres:
        url = await create_pg(postgres)
        print(f"PostgreSQL ({url.rsplit('/', 1)[1]}), Redis {redis_url}, {rows} rows")
        try:
            await run(rows, redis_url, url, workers)
        finally:
            await drop_pg(postgres, url)
        return
    with tempfile.TemporaryDirectory() as tmp:
        print(f"SQLite, Redis {redis_url}, {rows} rows")
        await run(rows, redis_url, f"sqlite://{tmp}/bench.db", workers)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--postgres", default=None, help="admin URL of a PostgreSQL server (creates a database)")
    parser.add_argument("--workers", type=int, default=0, help="separate worker processes handling the rows")
    args: Any = parser.parse_args()
    asyncio.run(main(args.rows, args.redis, args.postgres, args.workers))
