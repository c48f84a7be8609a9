"""Benchmark of the outbox: latency an enqueue adds to a mutation's transaction, and dispatch throughput.

Run: ``python bench/bench_outbox.py [--rows 2000] [--redis redis://127.0.0.1:6379/13]``. Not a test:
it uses a throwaway SQLite file (tables generated), prints its figures and deletes its Redis keys.
Dispatch is timed twice: to arq (Redis round trip per row) and in-process (the embedded default,
which also runs a no-op handler per row).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

from tortoise import Tortoise
from tortoise.transactions import in_transaction

from core.db import close_db, init_db
from core.outbox.service import dispatch_pending, enqueue
from core.system.models import SystemParameter
from workers.registry import JobContext, job
from workers.runtime import ArqSink, inline_sink, redis_settings


@job("bench.noop")
async def noop(ctx: JobContext) -> None:
    """Does nothing: the figures are the outbox's own cost."""


async def mutation(i: int, with_outbox: bool) -> float:
    t0 = time.perf_counter()
    async with in_transaction():
        await SystemParameter.create(number=f"B{i}{int(with_outbox)}", name="bench", type="business", value="1")
        if with_outbox:
            await enqueue("bench.noop", {"i": i}, f"bench:{i}")
    return (time.perf_counter() - t0) * 1000


async def main(rows: int, redis_url: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        await init_db(f"sqlite://{tmp}/bench.db")
        await Tortoise.generate_schemas()
        try:
            plain = [await mutation(i, False) for i in range(rows)]
            outboxed = [await mutation(i, True) for i in range(rows)]
            p = statistics.median(plain)
            o = statistics.median(outboxed)
            print(f"mutation median: {p:.3f} ms without outbox, {o:.3f} ms with (+{o - p:.3f} ms)")
            queue = f"lendline:bench:{secrets.token_hex(4)}"
            sink = ArqSink(redis_settings(redis_url), queue=queue)
            half = rows // 2
            t0 = time.perf_counter()
            sent = 0
            while sent < half:
                sent += (await dispatch_pending(sink, limit=min(500, half - sent))).sent
            arq_rate = sent / (time.perf_counter() - t0)
            pool = sink._pool
            if pool is not None:
                keys = [k async for k in pool.scan_iter(match=f"*{queue}*")]
                if keys:
                    await pool.delete(*keys)
            await sink.close()
            t0 = time.perf_counter()
            done = 0
            while (n := (await dispatch_pending(inline_sink, limit=500)).sent):
                done += n
            inline_rate = done / (time.perf_counter() - t0)
            print(f"dispatch: {arq_rate:,.0f} rows/s to arq; {inline_rate:,.0f} rows/s in-process (incl. handler)")
        finally:
            await close_db()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    args: Any = parser.parse_args()
    asyncio.run(main(args.rows, args.redis))
