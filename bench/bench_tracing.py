"""Throughput of loan-fund tracing (core.monitoring.tracing); prints transactions traced per second.

Run: ``.venv/bin/python bench/bench_tracing.py [count] [loans]``. Not a test: numbers depend on the
machine. The workload is one account with random inflows (20 % loan disbursements spread over a few
loans, 30 % own inflows) and 50 % outflows, amounts 0.01..20,000.00, time-ordered.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import datetime, timedelta
from decimal import Decimal

from core.monitoring.tracing import Direction, FundTracer, Method, Source, Transaction


def workload(count: int, loans: int, seed: int = 42) -> list[Transaction]:
    rng = random.Random(seed)
    t0 = datetime(2024, 1, 1)
    txs = []
    for i in range(count):
        amount = Decimal(rng.randint(1, 2_000_000)).scaleb(-2)
        t = t0 + timedelta(seconds=i)
        roll = rng.random()
        if roll < 0.2:
            order_no = f"L{rng.randrange(loans)}"
            txs.append(Transaction(f"t{i}", t, Direction.IN, amount, Source.LOAN, order_no))
        elif roll < 0.5:
            txs.append(Transaction(f"t{i}", t, Direction.IN, amount))
        else:
            txs.append(Transaction(f"t{i}", t, Direction.OUT, amount))
    return txs


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    loans = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    txs = workload(count, loans)
    print(f"{count:,} transactions, {loans} loan(s), Python {sys.version.split()[0]}")
    for method in Method:
        best = float("inf")
        for _ in range(3):
            tracer = FundTracer(method)
            start = time.perf_counter()
            results = tracer.trace(txs)
            best = min(best, time.perf_counter() - start)
        print(f"{method.value:>8}: {count / best:>12,.0f} tx/s  ({best:.3f} s, {len(results):,} outflows traced)")


if __name__ == "__main__":
    main()
