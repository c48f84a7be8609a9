"""Benchmark of the database ledger on PostgreSQL: append rate, verification and proof latency.

Run: ``python bench/bench_ledger.py [--transactions 1000000] [--block-size 100]``. Not a test: it
creates a throwaway database (``LENDLINE_BENCH_PG``, default the local test server), prints its
figures and drops the database. Goals: verify 1,000,000 transactions in ≤ 5 s; an inclusion proof
in ≤ 5 ms at that size.

The million-transaction ledger is generated here and loaded with COPY (hashes, blocks and stored
subtrees computed exactly as sealing would), because appending it through the service would time
the appends, not the verification.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

import asyncpg
from tortoise import Tortoise, connections
from tortoise.transactions import in_transaction

from core.actor import Actor
from core.db import close_db, init_db
from core.ledger import hashing, proofs, sealing, service, verify
from core.ledger.merkle import CompactRange, perfect_nodes, root
from core.ledger.models import TxStatus
from core.ledger.nodes import pack

ADMIN_URL = os.environ.get("LENDLINE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
ACTOR = Actor(7, "bench", "压测员", ())


def _line(label: str, value: str) -> None:
    print(f"{label:<52} {value}")


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[max(1, round(pct / 100 * len(ordered))) - 1]


def _payload(i: int) -> dict[str, Any]:
    return {"contractId": i, "amount": f"{(i % 997) * 13}.50", "borrower": f"借款人{i % 5000}",
            "bankId": i % 7, "note": "disbursement to the borrower's account"}


async def bench_append(single: int, batches: int, batch: int) -> None:
    start = time.perf_counter()
    for i in range(single):
        async with in_transaction():
            await service.append("bench.single", _payload(i), initiator=ACTOR, source=("Contract", i))
    elapsed = time.perf_counter() - start
    _line(f"append, one per transaction ({single:,})", f"{single / elapsed:10,.0f} tx/s")
    entries = [service.Entry("bench.batch", _payload(i), ACTOR, source=("Contract", i)) for i in range(batch)]
    start = time.perf_counter()
    for _ in range(batches):
        async with in_transaction():
            await service.append_many(entries)
    elapsed = time.perf_counter() - start
    _line(f"append, batches of {batch:,} ({batches * batch:,})", f"{batches * batch / elapsed:10,.0f} tx/s")
    pending = single + batches * batch
    start = time.perf_counter()
    blocks = await sealing.seal_pending(force=True, policy=sealing.SealPolicy(100, timedelta(0)))
    elapsed = time.perf_counter() - start
    _line(f"seal {pending:,} into {len(blocks):,} blocks of 100", f"{pending / elapsed:10,.0f} tx/s")


def _generate(n: int, block_size: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[int, bytes]]]:
    """Rows for ledger_transaction, ledger_block and ledger_node, as sealing would have written them."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    txs: list[tuple[Any, ...]] = []
    leaves: list[bytes] = []
    for i in range(n):
        at = base + timedelta(microseconds=i * 1000)
        payload = hashing.payload_text(_payload(i))
        salt = secrets.token_hex(16)
        status = TxStatus.PRIVACY_PROTECTED.value if i % 10 == 0 else TxStatus.COMPLETED.value
        bank = i % 7 or None
        digest = hashing.tx_hash(hashing.envelope(
            tx_type="contract.signed", payload=payload, initiator_id=ACTOR.user_id, initiator_name=ACTOR.name,
            status=status, time=hashing.time_text(at), salt=salt, source_type="Contract", source_id=str(i),
            bank_id=bank, product_id=None))
        txs.append((i + 1, digest, "contract.signed", payload, ACTOR.user_id, ACTOR.name, status, at, salt,
                    "Contract", str(i), bank, None, i, i // block_size + 1))
        leaves.append(hashing.tx_leaf(digest))
    blocks: list[tuple[Any, ...]] = []
    tree = CompactRange()
    previous = hashing.GENESIS_PREVIOUS
    for height, start in enumerate(range(0, n, block_size), start=1):
        chunk = leaves[start:start + block_size]
        tree.extend(chunk)
        header = hashing.BlockHeader(height=height, previous_hash=previous, merkle_root=root(chunk).hex(),
                                     tx_count=len(chunk), first_seq=start, tree_root=tree.root().hex(),
                                     sealed_at=base + timedelta(seconds=height))
        previous = header.hash()
        blocks.append((height, height, previous, header.previous_hash, header.merkle_root, header.tx_count, start,
                       header.tree_root, header.sealed_at))
    nodes = [(pack(k), h) for k, h in perfect_nodes(leaves).items()]
    return txs, blocks, nodes


async def load_million(n: int, block_size: int) -> None:
    await connections.get("default").execute_script(
        "TRUNCATE ledger_transaction, ledger_block, ledger_node, ledger_lock")
    start = time.perf_counter()
    txs, blocks, nodes = _generate(n, block_size)
    _line(f"generate {n:,} transactions (not a goal)", f"{time.perf_counter() - start:10.2f} s")
    start = time.perf_counter()
    async with connections.get("default").acquire_connection() as conn:
        await conn.copy_records_to_table("ledger_transaction", records=txs, columns=[
            "id", "tx_hash", "tx_type", "payload", "initiator_id", "initiator_name", "status", "created_at", "salt",
            "source_type", "source_id", "scope_bank_id", "scope_product_id", "seq", "block_height"])
        await conn.copy_records_to_table("ledger_block", records=blocks, columns=[
            "id", "height", "block_hash", "previous_hash", "merkle_root", "tx_count", "first_seq", "tree_root",
            "sealed_at"])
        await conn.copy_records_to_table("ledger_node", records=nodes, columns=["key", "hash"])
        await conn.execute("SELECT setval(pg_get_serial_sequence('ledger_transaction', 'id'), $1)", n)
        await conn.execute("ANALYZE ledger_transaction; ANALYZE ledger_block; ANALYZE ledger_node")
    _line(f"COPY {n:,} transactions, {len(blocks):,} blocks, {len(nodes):,} nodes",
          f"{time.perf_counter() - start:10.2f} s")


async def bench_verify(n: int) -> None:
    start = time.perf_counter()
    report = await verify.verify()
    elapsed = time.perf_counter() - start
    assert report.ok and report.transactions == n, report
    _line(f"verify {n:,} transactions (goal ≤ 5 s)", f"{elapsed:10.2f} s")


async def bench_proofs(n: int, calls: int) -> None:
    rng = random.Random(6962)
    hashes = [str(h) for h in await _sample_hashes(rng, n, calls)]
    samples = []
    for h in hashes:
        start = time.perf_counter_ns()
        await proofs.inclusion_proof(h)
        samples.append((time.perf_counter_ns() - start) / 1e6)
    _line(f"inclusion proof at {n:,} (goal ≤ 5 ms), {calls} calls",
          f"p50 {statistics.median(samples):.2f} ms, p95 {percentile(samples, 95):.2f} ms")
    samples = []
    for _ in range(calls):
        m = rng.randrange(1, n)
        start = time.perf_counter_ns()
        await proofs.consistency_proof(m)
        samples.append((time.perf_counter_ns() - start) / 1e6)
    _line(f"consistency proof at {n:,}, {calls} calls",
          f"p50 {statistics.median(samples):.2f} ms, p95 {percentile(samples, 95):.2f} ms")


async def _sample_hashes(rng: random.Random, n: int, calls: int) -> list[str]:
    seqs = ",".join(str(rng.randrange(n)) for _ in range(calls))
    _, rows = await connections.get("default").execute_query(
        f"SELECT tx_hash FROM ledger_transaction WHERE seq IN ({seqs})")
    return [r[0] for r in rows]


async def main(args: argparse.Namespace) -> None:
    name = f"lendline_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.replace("postgresql://", "postgres://", 1).rsplit("/", 1)[0] + "/" + name
    try:
        await init_db(url)
        await Tortoise.generate_schemas()
        print(f"PostgreSQL, {os.cpu_count()} CPU(s)")
        await bench_append(args.single, args.batches, args.batch)
        await load_million(args.transactions, args.block_size)
        await bench_verify(args.transactions)
        await bench_proofs(args.transactions, args.calls)
    finally:
        await close_db()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--block-size", type=int, default=100)
    parser.add_argument("--single", type=int, default=2_000)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--calls", type=int, default=500)
    asyncio.run(main(parser.parse_args()))
