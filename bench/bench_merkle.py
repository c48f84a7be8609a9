"""Benchmark of the ledger Merkle code at one million leaves.

Run: ``python bench/bench_merkle.py [--leaves N] [--calls N]``. Not a test: it prints timings
so regressions in the hot paths (root over a full history, proof serving) are visible.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

from core.ledger.merkle import (  # after the sys.path tweak above
    DictNodeStore,
    inclusion_proof,
    leaf_hash,
    root,
    store_consistency_proof,
    store_inclusion_proof,
    store_root,
    verify_inclusion,
)

T = TypeVar("T")


def timed(label: str, func: Callable[[], T]) -> T:
    """Run ``func`` once, print its wall time, return its result."""
    start = time.perf_counter()
    result = func()
    print(f"{label:<44} {time.perf_counter() - start:8.3f} s")
    return result


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile: simple and unambiguous for a latency report."""
    ordered = sorted(samples)
    rank = max(1, round(pct / 100 * len(ordered)))
    return ordered[rank - 1]


async def latencies_us(make_call: Callable[[int], Awaitable[object]], calls: int, size: int) -> list[float]:
    """Await ``make_call(random index)`` ``calls`` times, returning per-call microseconds."""
    rng = random.Random(6962)
    samples = []
    for _ in range(calls):
        index = rng.randrange(size)
        start = time.perf_counter_ns()
        await make_call(index)
        samples.append((time.perf_counter_ns() - start) / 1000)
    return samples


def report(label: str, samples: list[float]) -> None:
    """Print p50/p99/max of a latency sample in microseconds."""
    print(
        f"{label:<44} p50 {percentile(samples, 50):7.1f} us   p99 {percentile(samples, 99):7.1f} us"
        f"   max {max(samples):7.1f} us   mean {statistics.fmean(samples):7.1f} us"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=1_000)
    args = parser.parse_args()
    n = args.leaves
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {n:,} leaves\n")

    blob = os.urandom(32 * n)
    data = [blob[i : i + 32] for i in range(0, 32 * n, 32)]
    leaves = timed("leaf hashing (SHA-256(0x00||data))", lambda: [leaf_hash(d) for d in data])
    tree_root = timed("root() over leaf hashes", lambda: root(leaves))
    store = timed("build DictNodeStore (all perfect subtrees)", lambda: DictNodeStore.from_leaf_hashes(leaves))
    print(f"{'stored nodes':<44} {len(store):,}")

    async def run_latencies() -> None:
        assert await store_root(store, n) == tree_root
        samples = await latencies_us(lambda i: store_inclusion_proof(store, i, n), args.calls, n)
        report(f"store_inclusion_proof ({args.calls} calls)", samples)
        samples = await latencies_us(lambda m: store_consistency_proof(store, m + 1, n), args.calls, n - 1)
        report(f"store_consistency_proof ({args.calls} calls)", samples)
        samples = await latencies_us(lambda i: store_root(store, i + 1), args.calls, n)
        report(f"store_root ({args.calls} calls)", samples)
        index = n // 3
        proof = await store_inclusion_proof(store, index, n)
        assert verify_inclusion(leaves[index], index, n, proof, tree_root)

    asyncio.run(run_latencies())
    index = n - 1
    timed("list inclusion_proof (one call, reference)", lambda: inclusion_proof(leaves, index))


if __name__ == "__main__":
    main()
