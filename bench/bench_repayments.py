"""Repayments posted per second on PostgreSQL (issue 7 goal: ≥ 1,000/s).

Builds LOANS joint-lending loans (two funders, 12 monthly installments each) straight into a
throwaway database, then posts REPAYMENTS repayments through `core.loans.repayment.post_repayment`
— the full use case: loan row lock, allocation, installments (version-checked), repayment + lines +
funder parts, loan update, collection-case check, operation log, outbox event — with CONCURRENCY
callers at a time (each on a different loan, as deductions and callbacks arrive in production).

Run: .venv/bin/python bench/bench_repayments.py [--url postgres://postgres@127.0.0.1:5432/postgres]
     [--loans 2000] [--repayments 6000] [--concurrency 16] [--processes 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import asyncpg

os.environ.setdefault("LENDLINE_ENV", "test")


async def _setup(url: str, loans: int) -> list[tuple[int, list[Decimal]]]:
    from dataclasses import replace

    from tortoise import Tortoise

    from core.config import Settings, override_settings
    from core.db import init_db
    from core.loans.models import Customer, Loan, LoanFunder, LoanInstallment, LoanStatus
    from core.loans.schedule import RepaymentMethod, ScheduleRequest, TermUnit, build_schedule
    from core.orgs.models import AssistInstitution, Bank, PaymentPlatform
    from core.products.models import BusinessMode, PaymentType, Product, ProductFunder, ProductType, TermUnitChoice

    override_settings(replace(Settings(env="test", secret_key="b" * 48), database_url=url))
    await init_db(url)
    await Tortoise.generate_schemas()
    a = await Bank.create(code="BA", short_name="甲银行", full_name="A Bank", email="a@b.cn", service_phone="1")
    b = await Bank.create(code="BB", short_name="乙银行", full_name="B Bank", email="b@b.cn", service_phone="1")
    channel = await AssistInstitution.create(name="流量", number="CH1")
    platform = await PaymentPlatform.create(name="沙箱", identifier="sandbox")
    product = await Product.create(
        code="JOINT", name="联合贷", business_mode=BusinessMode.JOINT, type=ProductType.MULTI,
        repayment_method="EQUAL_INSTALLMENT", amount_min=Decimal("100"), amount_max=Decimal("100000"),
        term_unit=TermUnitChoice.MONTH, term_min=1, term_max=36, payment_type=PaymentType.PRIVATE,
        payment_platform=platform)
    await ProductFunder.create(product=product, bank=a, share=Decimal("70"), position=0)
    await ProductFunder.create(product=product, bank=b, share=Decimal("30"), position=1)
    start = date(2026, 1, 15)
    schedule = build_schedule(ScheduleRequest(Decimal("12000.00"), Decimal("0.0435"), 12, TermUnit.MONTH,
                                              RepaymentMethod.EQUAL_INSTALLMENT, start))
    await Customer.bulk_create([Customer(customer_no=f"C{i:010d}", name=f"客户{i}", id_number=f"{i:018d}",
                                         phone=f"138{i:08d}") for i in range(loans)], batch_size=2000)
    customers = await Customer.all().order_by("id").values_list("id", flat=True)
    now = datetime(2026, 1, 15, tzinfo=UTC)
    await Loan.bulk_create([Loan(
        order_no=f"LN{i:010d}", channel_order_no=f"O{i}", idempotency_key=f"k{i}", customer_id=cid,
        product_id=product.id, channel_id=channel.id, status=LoanStatus.DISBURSED, amount=Decimal("12000.00"),
        term=12, term_unit="MONTH", repayment_method="EQUAL_INSTALLMENT", annual_rate=Decimal("0.0435"),
        applied_at=now, disbursed_at=now, disbursement_date=start, principal_outstanding=Decimal("12000.00"),
        payment_provider="sandbox", disbursement_account=f"BORROWER-{i}") for i, cid in enumerate(customers)],
        batch_size=2000)
    loan_ids = await Loan.all().order_by("id").values_list("id", flat=True)
    await LoanFunder.bulk_create([LoanFunder(loan_id=lid, bank_id=bank, share=share, amount=amount, position=pos)
                                  for lid in loan_ids for bank, share, amount, pos in
                                  ((a.id, Decimal("70"), Decimal("8400.00"), 0),
                                   (b.id, Decimal("30"), Decimal("3600.00"), 1))], batch_size=5000)
    rows = []
    for lid in loan_ids:
        previous = start
        for inst in schedule.installments:
            rows.append(LoanInstallment(loan_id=lid, number=inst.number, start_date=previous, due_date=inst.due_date,
                                        principal=inst.principal, interest=inst.interest))
            previous = inst.due_date
    await LoanInstallment.bulk_create(rows, batch_size=5000)
    amounts = [inst.principal + inst.interest for inst in schedule.installments]
    return [(lid, amounts) for lid in loan_ids]


async def _post(work: list[tuple[int, list[Decimal]]], total: int, concurrency: int, prefix: str,
                offset: int = 0) -> tuple[float, int]:
    from core.loans.models import RepaymentSource
    from core.loans.repayment import post_repayment

    queue: asyncio.Queue[tuple[int, Decimal, str, datetime]] = asyncio.Queue()
    per_loan = max(1, total // len(work))
    n = 0
    for round_ in range(offset, offset + per_loan):
        for lid, amounts in work:
            if n >= total:
                break
            paid = datetime(2026, 2 + round_ % 11, 15, 4, tzinfo=UTC)
            queue.put_nowait((lid, amounts[round_], f"{prefix}-{lid}-{round_}", paid))
            n += 1
    done = 0

    async def worker() -> None:
        nonlocal done
        while True:
            try:
                lid, amount, serial, paid = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await post_repayment(lid, amount, serial, RepaymentSource.CALLBACK, paid)
            done += 1

    started, before = time.perf_counter(), os.times()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    after = os.times()
    _cpu[0], _cpu[1] = after.user - before.user, after.system - before.system
    return time.perf_counter() - started, done


async def _post_batches(work: list[tuple[int, list[Decimal]]], total: int, batch: int, writers: int, prefix: str,
                        first_round: int) -> tuple[float, int]:
    """Post `total` repayments through `post_repayments`, `batch` per call, `writers` calls at a time.

    A batch holds distinct loans (a daily repayment file has one line per loan and installment);
    round r pays installment r of every loan.
    """
    from core.loans.models import RepaymentSource
    from core.loans.repayment_batch import RepaymentIn, post_repayments

    items = []
    per_loan = max(1, total // len(work))
    for round_ in range(first_round, first_round + per_loan):
        for lid, amounts in work:
            if len(items) >= total:
                break
            paid = datetime(2026, 2 + round_ % 11, 15, 4, tzinfo=UTC)
            items.append(RepaymentIn(lid, amounts[round_], f"{prefix}-{lid}-{round_}", RepaymentSource.CALLBACK, paid))
    chunks = [items[i:i + batch] for i in range(0, len(items), batch)]
    # one writer per slice of the loans, so two concurrent batches never hold the same loan
    lanes: list[list[list[RepaymentIn]]] = [[] for _ in range(writers)]
    for chunk in chunks:
        for lane, part in enumerate(_split(chunk, writers)):
            lanes[lane].append(part)
    done = 0

    async def writer(mine: list[list[RepaymentIn]]) -> None:
        nonlocal done
        for part in mine:
            outcomes = await post_repayments(part)
            bad = [o.error for o in outcomes if o.error is not None]
            assert not bad, bad[:3]
            done += len(outcomes)

    started, before = time.perf_counter(), os.times()
    await asyncio.gather(*(writer(lane) for lane in lanes))
    after = os.times()
    _cpu[0], _cpu[1] = after.user - before.user, after.system - before.system
    return time.perf_counter() - started, done


def _split(chunk: list[Any], n: int) -> list[list[Any]]:
    return [chunk[i::n] for i in range(n)]


_runs = [0]
_cpu = [0.0, 0.0]  # client (this process) user and system CPU seconds of the last _post


def _child(url: str, work: list[tuple[int, list[Decimal]]], total: int, concurrency: int, prefix: str,
           out: Any) -> None:
    """One API-like process posting its share of the repayments (its own loans) on its own pool."""

    async def run() -> None:
        from dataclasses import replace

        from tortoise import Tortoise

        from core.config import Settings, override_settings
        from core.db import init_db

        override_settings(replace(Settings(env="test", secret_key="b" * 48), database_url=url))
        await init_db(url)
        try:
            await _post(work[:5], 5, 1, f"{prefix}W", offset=11)
            out.put(await _post(work, total, concurrency, prefix))
        finally:
            await Tortoise.close_connections()

    asyncio.run(run())


def _processes(url: str, work: list[tuple[int, list[Decimal]]], total: int, concurrency: int, n: int) -> None:
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    share = len(work) // n
    children = [ctx.Process(target=_child, args=(url, work[i * share:(i + 1) * share], total // n, concurrency,
                                                 f"P{i}", out)) for i in range(n)]
    started = time.perf_counter()
    for c in children:
        c.start()
    results = [out.get() for _ in children]
    for c in children:
        c.join()
    elapsed = time.perf_counter() - started
    done = sum(d for _, d in results)
    print(f"{n} processes x {concurrency} callers: {done} repayments in {elapsed:.2f}s wall (incl. start-up): "
          f"{done / elapsed:,.0f}/s; per process {[round(d / e) for e, d in results]}/s while posting")


async def main(admin_url: str, loans: int, repayments: int, concurrency: int, processes: int = 0) -> None:
    from tortoise import Tortoise

    name = f"lendline_bench_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin_url.replace("postgres://", "postgresql://", 1))
    await conn.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0] + "/" + name + f"?minsize=1&maxsize={concurrency + 2}"
    try:
        t = time.perf_counter()
        work = await _setup(url, loans)
        print(f"setup: {loans} loans x 12 installments in {time.perf_counter() - t:.1f}s")
        await _post(work[-50:], 50, 5, "WARM", offset=11)  # warm the pool (the last installments of 50 loans)
        elapsed, done = await _post(work, repayments, concurrency, "BENCH")
        print(f"posted {done} repayments with {concurrency} concurrent callers in {elapsed:.2f}s: "
              f"{done / elapsed:,.0f} repayments/s ({elapsed / done * 1000:.2f} ms each end to end; "
              f"client CPU {_cpu[0] / done * 1000:.2f} ms user + {_cpu[1] / done * 1000:.2f} ms system each)")
        print(f"machine load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        if processes > 1:
            await Tortoise.close_connections()
            _processes(url, work, repayments, concurrency, processes)
            return
        for batch, writers in ((500, 1), (1000, 1), (500, 2)):
            # the remaining installments: rounds 3.. of every loan, distinct serials per run
            elapsed, done = await _post_batches(work, 2 * len(work), batch, writers, f"B{batch}x{writers}",
                                                3 + _runs[0] * 2)
            _runs[0] += 1
            print(f"batches of {batch}, {writers} writer(s): {done} repayments in {elapsed:.2f}s: "
                  f"{done / elapsed:,.0f} repayments/s (client CPU {_cpu[0] / done * 1000:.2f} ms user + "
                  f"{_cpu[1] / done * 1000:.2f} ms system each; load {os.getloadavg()[0]:.1f})")
        rounds = max(1, repayments // len(work))
        serial, count = await _post(work[:-50], min(1000, len(work) - 50), 1, "ONE", offset=rounds)
        print(f"one caller at a time: {count / serial:,.0f} repayments/s ({serial / count * 1000:.2f} ms each)")
    finally:
        await Tortoise.close_connections()
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--loans", type=int, default=2000)
    parser.add_argument("--repayments", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--processes", type=int, default=0,
                        help="also post from N separate processes (like N API workers) after the in-process run")
    args = parser.parse_args()
    asyncio.run(main(args.url, args.loans, args.repayments, args.concurrency, args.processes))
