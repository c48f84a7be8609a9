"""Benchmark of transaction ingestion on PostgreSQL: validated + traced + classified + stored per second.

Run: ``python bench/bench_ingest.py [--accounts 2000] [--batches 20] [--batch 1000] [--single 500]
[--processes 2[,4]] [--phases] [--profile]``. Not a test: it creates a throwaway database
(``LENDLINE_BENCH_PG``, default the local test server), prints its figures and drops the database.
Goals (issue 8): ≥ 10,000 transactions/s in batches, single-transaction latency p99 ≤ 35 ms.

Workload: one product, ``accounts`` borrowers each with a disbursed loan of 20,000.00 whose
disbursement is ingested first (not timed). Then batches of random transactions over random accounts
in time order: 40 % inflows (own funds), 60 % outflows of which ~5 % go to a securities broker or a
real-estate developer (category codes / name lists the built-in detectors know), so tracing,
classification by both built-in detector plugins, threshold checks, AML window rules, violations,
their ledger entries and outbox events are all on the path. Every call is a full `ingest` (one
database transaction each), as the GraphQL mutation runs it minus HTTP.

Figures besides throughput: the client's CPU time per batch (``time.process_time``: what this
process spent, so it can be compared between runs on a machine shared with other work, where wall
time is noisy), the CPU PostgreSQL spent per batch (read from ``/proc``: the server runs on this
machine), and with ``--processes N[,M…]`` (default 2) the combined throughput of N processes
ingesting batches at once on disjoint accounts, as N API workers would: on a 2-CPU machine where
the client and PostgreSQL share the CPUs it shows how much of one process's time was waiting
rather than computing. Rounds after the first run on a database that has just absorbed the earlier
rounds' rows (autovacuum and checkpoints then compete for the CPUs): compare a figure with one from
a separate run, not with the round before it.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import multiprocessing
import os
import pstats
import random
import secrets
import statistics
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

import asyncpg
from tortoise import Tortoise

from core.actor import SYSTEM
from core.config import current_settings, override_settings
from core.db import close_db, init_db
from core.heap import freeze_startup_heap
from core.loans.models import Customer, Loan, LoanStatus
from core.monitoring.ingest import ingest
from core.monitoring.models import AccountTransaction, TxSource, Violation
from core.monitoring.rules import load_default_rules
from core.orgs.models import AssistInstitution, Bank, BankProduct, BankProductType
from core.products.models import BusinessMode, PaymentType, Product, ProductFunder, ProductType, TermUnitChoice
from plugins.runtime import plugin_runtime
from plugins.testkit.hosts import host_from_dict
from workers.registry import load_builtin_jobs

ADMIN_URL = os.environ.get("LENDLINE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
PRINCIPAL = "20000.00"


def _line(label: str, value: str) -> None:
    print(f"{label:<56} {value}")


def postgres_cpu() -> float:
    """CPU seconds used so far by this machine's PostgreSQL processes (backends and background workers).

    The server runs on the same machine in this benchmark, so its share of the CPUs is read from
    ``/proc``; a backend that exits between two readings (an autovacuum worker) is not counted.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, rest = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:].split()
        if name.startswith("postgres"):
            total += int(rest[11]) + int(rest[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total / ticks


GC_PAUSES = [0.0, 0.0]  # start of the running collection, seconds spent in collections


def _gc_timer(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        GC_PAUSES[0] = time.perf_counter()
    else:
        GC_PAUSES[1] += time.perf_counter() - GC_PAUSES[0]


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[max(1, round(pct / 100 * len(ordered))) - 1]


async def setup(accounts: int) -> list[tuple[str, str]]:
    bank = await Bank.create(code="BENCH", short_name="压测银行", full_name="Bench Bank", email="b@b.test",
                             service_phone="95500")
    credit = await BankProduct.create(bank=bank, name="压测贷", type=BankProductType.MULTI,
                                      repayment_method="EQUAL_INSTALLMENT")
    channel = await AssistInstitution.create(name="压测流量", number="BX1")
    product = await Product.create(
        code="BENCH-P", name="压测消费贷", business_mode=BusinessMode.SELF_OPERATED, type=ProductType.MULTI,
        repayment_method="EQUAL_INSTALLMENT", amount_min=Decimal("1000.00"), amount_max=Decimal("200000.00"),
        term_unit=TermUnitChoice.MONTH, term_min=3, term_max=36, payment_type=PaymentType.PRIVATE)
    await ProductFunder.create(product=product, bank=bank, bank_product=credit, share=Decimal("100"))
    await Customer.bulk_create([Customer(customer_no=f"BC{i:06d}", name=f"客户{i}", id_number=f"B{i:017d}",
                                         phone=f"139{i:08d}") for i in range(accounts)])
    customers = dict(await Customer.all().values_list("customer_no", "id"))
    await Loan.bulk_create([Loan(
        order_no=f"BL{i:06d}", channel_order_no=f"BCH{i}", idempotency_key=f"bench:{i}",
        customer_id=customers[f"BC{i:06d}"], product=product, channel=channel, status=LoanStatus.DISBURSED,
        amount=Decimal(PRINCIPAL), term=12, term_unit="month", repayment_method="EQUAL_INSTALLMENT",
        applied_at=T0 - timedelta(days=2), disbursed_at=T0 - timedelta(days=1),
        principal_outstanding=Decimal(PRINCIPAL))
        for i in range(accounts)], batch_size=1000)
    await load_default_rules()
    load_builtin_jobs()  # a running API worker has imported them; not a cost of the first timed batch
    freeze_startup_heap()  # as the API worker's start-up does
    return [(f"BL{i:06d}", f"BC{i:06d}") for i in range(accounts)]


def make_row(rng: random.Random, n: int, who: tuple[str, str], when: datetime) -> dict[str, Any]:
    order_no, customer_no = who
    row: dict[str, Any] = {"orderNo": order_no, "serialNo": f"S{n:09d}", "customerNo": customer_no,
                           "accountNo": f"A-{customer_no}", "occurredAt": when,
                           "amount": f"{Decimal(rng.randint(100, 50_000)) / 100:.2f}", "channel": "网银"}
    roll = rng.random()
    if roll < 0.4:
        row |= {"direction": "in", "counterpartyName": "工资代发", "isDisbursement": False}
    else:
        row |= {"direction": "out", "counterpartyName": "超市消费", "counterpartyCategory": "5411"}
        if roll > 0.97:
            row |= {"counterpartyName": "某证券公司", "counterpartyCategory": "SEC_BROKER"}
        elif roll > 0.94:
            row |= {"counterpartyName": "万科地产", "counterpartyCategory": ""}
    return row


PHASES: dict[str, tuple[float, float]] = {}  # label -> (wall seconds, this process's CPU seconds)


def time_phases() -> None:
    """Wrap the ingestion steps to add up where a batch's time goes (``--phases``)."""
    from core.monitoring import detection as det
    from core.monitoring import ingest as ing
    from core.monitoring import tracing_store as ts

    def wrap(module: Any, name: str, label: str) -> None:
        inner = getattr(module, name)

        def add(t: float, cpu: float) -> None:
            wall, spent = PHASES.get(label, (0.0, 0.0))
            PHASES[label] = (wall + time.perf_counter() - t, spent + time.process_time() - cpu)

        async def timed(*a: Any, **kw: Any) -> Any:
            t, cpu = time.perf_counter(), time.process_time()
            try:
                return await inner(*a, **kw)
            finally:
                add(t, cpu)

        def timed_sync(*a: Any, **kw: Any) -> Any:
            t, cpu = time.perf_counter(), time.process_time()
            try:
                return inner(*a, **kw)
            finally:
                add(t, cpu)

        setattr(module, name, timed if asyncio.iscoroutinefunction(inner) else timed_sync)

    for module, name, label in ((ing, "validate", "validate: shape (no database)"),
                                (ing, "_resolve", "validate: loans, duplicates, recognition"),
                                (det, "classify_all", "classify (detector plugins)"),
                                (ts, "lock_states", "lock tracing states"), (ts, "trace", "trace"),
                                (ing, "_insert", "insert transactions"), (ts, "insert_parts", "insert fund parts"),
                                (ts, "save_states", "save tracing states"),
                                (det, "aml_candidates", "AML window rules"),
                                (det, "store_violations", "violations + ledger + outbox"),
                                (ing, "_log", "operation log"), (ing, "_store", "store (whole transaction)")):
        wrap(module, name, label)


async def run(args: argparse.Namespace) -> None:
    if args.phases:
        time_phases()
    who = await setup(args.accounts)
    rng = random.Random(7)
    host = host_from_dict({"plugins": {name: {} for name in args.detectors.split(",") if name}}, entry_points=False)
    async with plugin_runtime(host):
        start = time.perf_counter()
        for i in range(0, len(who), 1000):
            await ingest(SYSTEM, [{"orderNo": o, "serialNo": f"D{o}", "customerNo": c, "accountNo": f"A-{c}",
                                   "occurredAt": T0, "direction": "in", "amount": PRINCIPAL, "isDisbursement": True}
                                  for o, c in who[i:i + 1000]], TxSource.FEED)
        _line(f"setup: {len(who):,} disbursements ingested", f"{len(who) / (time.perf_counter() - start):10,.0f} tx/s")
        PHASES.clear()  # the phases are those of the timed batches only, not of the setup's disbursements
        n = 0
        when = T0 + timedelta(minutes=1)
        batches = []
        for _ in range(args.batches):
            rows = []
            for _ in range(args.batch):
                when += timedelta(seconds=1)
                rows.append(make_row(rng, n, rng.choice(who), when))
                n += 1
            batches.append(rows)
        profiler = cProfile.Profile() if args.profile else None
        violations_before = await Violation.all().count()
        gc.callbacks.append(_gc_timer)
        GC_PAUSES[1] = 0.0
        start = time.perf_counter()
        cpu_start, server_start = time.process_time(), postgres_cpu()
        per_batch = []
        for rows in batches:
            t = time.perf_counter()
            if profiler:
                profiler.enable()
            await ingest(SYSTEM, rows, TxSource.BATCH)
            if profiler:
                profiler.disable()
            per_batch.append(time.perf_counter() - t)
        elapsed = time.perf_counter() - start
        cpu, server = time.process_time() - cpu_start, postgres_cpu() - server_start
        gc.callbacks.remove(_gc_timer)
        total = args.batches * args.batch
        violations = await Violation.all().count() - violations_before
        _line(f"batches of {args.batch:,} ({total:,} transactions, {violations} violations)",
              f"{total / elapsed:10,.0f} tx/s")
        if args.phases:
            _line("  phase (ms per batch)", "   wall /  client CPU")
            for label, (wall, spent) in PHASES.items():
                _line(f"    {label}", f"{wall / args.batches * 1000:7.1f} / {spent / args.batches * 1000:7.1f}")
            PHASES.clear()
        _line("  per batch median / max", f"{statistics.median(per_batch) * 1000:7.1f} / "
              f"{max(per_batch) * 1000:.1f} ms")
        _line("  client CPU per batch (this process)", f"{cpu / args.batches * 1000:7.1f} ms")
        _line("    of which garbage collection", f"{GC_PAUSES[1] / args.batches * 1000:7.1f} ms")
        _line("  PostgreSQL CPU per batch (all its processes)", f"{server / args.batches * 1000:7.1f} ms")
        samples = []
        for _ in range(args.single):
            when += timedelta(seconds=1)
            row = make_row(rng, n, rng.choice(who), when)
            n += 1
            t = time.perf_counter()
            await ingest(SYSTEM, [row], TxSource.BATCH)
            samples.append((time.perf_counter() - t) * 1000)
        if samples:  # --single 0 skips them
            _line(f"single transaction ({args.single:,} calls) p50 / p99",
                  f"{percentile(samples, 50):7.2f} / {percentile(samples, 99):.2f} ms")
        for k, processes in enumerate(args.processes):
            if processes > 1:  # disjoint serial numbers, and later times (no re-tracing) in each round
                await concurrent(args, processes, who, n + k * 100_000_000,
                                 when + timedelta(seconds=k * (args.batches * args.batch + 1)))
        _line("stored transactions", f"{await AccountTransaction.all().count():10,}")
        if profiler:
            pstats.Stats(profiler).sort_stats(args.sort).print_stats(40)


async def _worker_main(args: argparse.Namespace, url: str, who: list[tuple[str, str]], first: int, when: datetime,
                       ready: Any, go: Any, results: Any, finish: Any) -> None:
    """One of the `concurrent` processes: its own connection and plugin host, its own accounts."""
    override_settings(replace(current_settings(), database_url=url))
    await init_db(url)
    load_builtin_jobs()
    freeze_startup_heap()
    rng = random.Random(first)
    batches = []
    for b in range(args.batches):
        rows = []
        for i in range(args.batch):
            when += timedelta(seconds=1)
            rows.append(make_row(rng, first + b * args.batch + i, rng.choice(who), when))
        batches.append(rows)
    host = host_from_dict({"plugins": {name: {} for name in args.detectors.split(",") if name}}, entry_points=False)
    try:
        async with plugin_runtime(host):
            ready.set()
            go.wait()
            start, cpu = time.perf_counter(), time.process_time()
            for rows in batches:
                await ingest(SYSTEM, rows, TxSource.BATCH)
            results.put((len(batches) * args.batch, time.perf_counter() - start, time.process_time() - cpu))
            finish.wait()  # keep the connections (and their backends' CPU figures) until the parent has read them
    finally:
        await close_db()


def _worker(args: argparse.Namespace, url: str, who: list[tuple[str, str]], first: int, when: datetime, ready: Any,
            go: Any, results: Any, finish: Any) -> None:
    asyncio.run(_worker_main(args, url, who, first, when, ready, go, results, finish))


async def concurrent(args: argparse.Namespace, processes: int, who: list[tuple[str, str]], n: int,
                     when: datetime) -> None:
    """`processes` processes ingest ``--batches`` batches each at once, on disjoint accounts."""
    ctx = multiprocessing.get_context("spawn")
    go, finish, results = ctx.Event(), ctx.Event(), ctx.Queue()
    procs, readies = [], []
    for k in range(processes):
        ready = ctx.Event()
        proc = ctx.Process(target=_worker, args=(args, current_settings().database_url, who[k::processes],
                                                 n + (k + 1) * 10_000_000, when, ready, go, results, finish))
        proc.start()
        procs.append(proc)
        readies.append(ready)
    for ready in readies:
        await asyncio.to_thread(ready.wait)
    start, server_start = time.perf_counter(), postgres_cpu()
    go.set()
    got = [await asyncio.to_thread(results.get) for _ in procs]
    elapsed, server = time.perf_counter() - start, postgres_cpu() - server_start
    finish.set()
    for proc in procs:
        proc.join()
    total = sum(t for t, _, _ in got)
    _line(f"{processes} processes at once, batches of {args.batch:,} ({total:,} transactions)",
          f"{total / elapsed:10,.0f} tx/s")
    _line("  client CPU per batch, each process", " / ".join(f"{c / args.batches * 1000:.1f}" for _, _, c in got)
          + " ms")
    _line("  PostgreSQL CPU per batch", f"{server / (total / args.batch) * 1000:7.1f} ms")


async def main(args: argparse.Namespace) -> None:
    name = f"lendline_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.replace("postgresql://", "postgres://", 1).rsplit("/", 1)[0] + "/" + name
    try:
        override_settings(replace(current_settings(), database_url=url))
        await init_db(url)
        await Tortoise.generate_schemas()
        print(f"PostgreSQL, {os.cpu_count()} CPU(s), Python {sys.version.split()[0]}, detectors: "
              f"{args.detectors or 'none'}")
        await run(args)
    finally:
        await close_db()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=2_000)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--single", type=int, default=500)
    parser.add_argument("--processes", type=lambda text: [int(x) for x in text.split(",")], default=[2],
                        help="then ingest with this many processes at once, one round per number (1: skip)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--phases", action="store_true", help="print where a batch's time goes")
    parser.add_argument("--sort", default="cumulative", help="pstats sort key for --profile")
    parser.add_argument("--detectors", default="category_detector,name_list_detector",
                        help="comma-separated detector plugins to enable (empty: none)")
    asyncio.run(main(parser.parse_args()))
