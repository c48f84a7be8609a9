"""The daily overdue batch over active loans on PostgreSQL (issue 7 goal: ≤ 10 minutes for 1M loans).

Builds LOANS active monthly loans (12 installments each, so 12×LOANS installment rows) with a
realistic spread of disbursement dates; OVERDUE_SHARE of them have stopped paying (their earlier
installments are unpaid), the rest have paid everything due. Then runs `run_overdue` for one
business date — overdue marking, penalty spans, loan state transitions, collection-case refresh —
and a second time for the same date (the idempotent rerun), and the next day (a typical night:
penalty for the loans already overdue, a few new ones). Extrapolates linearly to 1M loans.

Run: .venv/bin/python bench/bench_overdue.py [--url postgres://...] [--loans 100000] [--overdue-share 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import asyncpg

os.environ.setdefault("LENDLINE_ENV", "test")
DAY = date(2026, 11, 20)


async def _setup(url: str, loans: int, share: float) -> None:
    from dataclasses import replace

    from tortoise import Tortoise

    from core.config import Settings, override_settings
    from core.db import init_db
    from core.loans.models import Customer, InstallmentStatus, Loan, LoanInstallment, LoanStatus
    from core.loans.schedule import RepaymentMethod, ScheduleRequest, TermUnit, build_schedule
    from core.orgs.models import AssistInstitution, Bank
    from core.products.models import BusinessMode, PaymentType, Product, ProductFunder, ProductType, TermUnitChoice

    override_settings(replace(Settings(env="test", secret_key="b" * 48), database_url=url))
    await init_db(url)
    await Tortoise.generate_schemas()
    bank = await Bank.create(code="BA", short_name="甲银行", full_name="A Bank", email="a@b.cn", service_phone="1")
    channel = await AssistInstitution.create(name="流量", number="CH1")
    product = await Product.create(
        code="P", name="消费贷", business_mode=BusinessMode.SELF_OPERATED, type=ProductType.MULTI,
        repayment_method="EQUAL_INSTALLMENT", amount_min=Decimal("100"), amount_max=Decimal("100000"),
        term_unit=TermUnitChoice.MONTH, term_min=1, term_max=36, payment_type=PaymentType.PRIVATE)
    await ProductFunder.create(product=product, bank=bank, share=Decimal("100"), position=0)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    every = max(1, round(1 / share)) if share > 0 else 0
    chunk = 10_000
    for begin in range(0, loans, chunk):
        end = min(loans, begin + chunk)
        await Customer.bulk_create([Customer(customer_no=f"C{i:010d}", name=f"客户{i}", id_number=f"{i:018d}",
                                             phone=f"138{i:08d}") for i in range(begin, end)], batch_size=5000)
        cids = await Customer.filter(customer_no__gte=f"C{begin:010d}", customer_no__lt=f"C{end:010d}").order_by(
            "id").values_list("id", flat=True)
        rows, starts = [], []
        for k, cid in enumerate(cids):
            i = begin + k
            start = DAY - timedelta(days=30 + (i % 300))  # disbursed 1-11 months ago
            starts.append(start)
            rows.append(Loan(order_no=f"LN{i:010d}", channel_order_no=f"O{i}", idempotency_key=f"k{i}",
                             customer_id=cid, product_id=product.id, channel_id=channel.id,
                             status=LoanStatus.DISBURSED, amount=Decimal("12000.00"), term=12, term_unit="MONTH",
                             repayment_method="EQUAL_INSTALLMENT", annual_rate=Decimal("0.0435"), applied_at=now,
                             disbursed_at=now, disbursement_date=start, principal_outstanding=Decimal("12000.00")))
        await Loan.bulk_create(rows, batch_size=5000)
        ids = await Loan.filter(order_no__gte=f"LN{begin:010d}", order_no__lt=f"LN{end:010d}").order_by(
            "id").values_list("id", flat=True)
        insts = []
        for k, (lid, start) in enumerate(zip(ids, starts, strict=True)):
            defaulter = every and (begin + k) % every == 0
            schedule = build_schedule(ScheduleRequest(Decimal("12000.00"), Decimal("0.0435"), 12, TermUnit.MONTH,
                                                      RepaymentMethod.EQUAL_INSTALLMENT, start))
            previous = start
            for inst in schedule.installments:
                paid = inst.due_date < DAY and not defaulter
                insts.append(LoanInstallment(
                    loan_id=lid, number=inst.number, start_date=previous, due_date=inst.due_date,
                    principal=inst.principal, interest=inst.interest,
                    paid_principal=inst.principal if paid else Decimal(0),
                    paid_interest=inst.interest if paid else Decimal(0),
                    status=InstallmentStatus.PAID if paid else InstallmentStatus.PENDING))
                previous = inst.due_date
        await LoanInstallment.bulk_create(insts, batch_size=5000)
    await Tortoise.get_connection("default").execute_script("ANALYZE")


async def main(admin_url: str, loans: int, share: float) -> None:
    from tortoise import Tortoise

    from core.loans.models import InstallmentStatus, LoanInstallment
    from core.loans.overdue import run_overdue

    name = f"lendline_bench_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin_url.replace("postgres://", "postgresql://", 1))
    await conn.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    try:
        t = time.perf_counter()
        await _setup(url, loans, share)
        rows = await LoanInstallment.all().count()
        print(f"setup: {loans:,} active loans, {rows:,} installments in {time.perf_counter() - t:.0f}s")
        for label, day in (("first night (marks everything overdue)", DAY), ("rerun of the same date", DAY),
                           ("next night", DAY + timedelta(days=1))):
            t = time.perf_counter()
            report = await run_overdue(day)
            elapsed = time.perf_counter() - t
            print(f"{label}: {elapsed:.1f}s — {report.installments:,} installments accrued, "
                  f"{report.newly_overdue:,} newly overdue, {report.loans_overdue:,} loans → overdue, "
                  f"cases {report.cases}; extrapolated to 1M loans: {elapsed * 1_000_000 / loans / 60:.1f} min")
        overdue = await LoanInstallment.filter(status=InstallmentStatus.OVERDUE).count()
        print(f"overdue installments now: {overdue:,}")
    finally:
        await Tortoise.close_connections()
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--loans", type=int, default=100_000)
    parser.add_argument("--overdue-share", type=float, default=0.05)
    args = parser.parse_args()
    asyncio.run(main(args.url, args.loans, args.overdue_share))
