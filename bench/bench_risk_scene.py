"""Risk scene evaluations per second on PostgreSQL: `core.risk.scenes.evaluate_scene` end to end.

The demo admission scene (10 rules over own data: ID validity, blacklist, age, amount, overdue
history, loans in progress, quotas, scores) runs through the plugin facade against a throwaway
database holding BORROWERS customers with one loan each (so the loan indicators count real rows),
and every evaluation stores its risk report. CONCURRENCY callers at a time, as admissions arrive.

Run: .venv/bin/python bench/bench_risk_scene.py [--url postgres://postgres@127.0.0.1:5432/postgres]
     [--borrowers 5000] [--evaluations 2000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import time
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg

os.environ.setdefault("LENDLINE_ENV", "test")


def _id(i: int) -> str:
    from core.risk.idnumber import check_char

    body = f"1101051990{(i // 1000) % 12 + 1:02d}{i % 28 + 1:02d}{i % 1000:03d}"
    return body + check_char(body)


async def _setup(url: str, borrowers: int) -> list[dict[str, object]]:
    from dataclasses import replace

    from tortoise import Tortoise

    from core.config import Settings, override_settings
    from core.db import init_db
    from core.loans.models import Customer, Loan, LoanStatus
    from core.orgs.models import AssistInstitution, Bank
    from core.products.models import BusinessMode, PaymentType, Product, ProductFunder, ProductType, TermUnitChoice
    from core.risk.demo import load_demo_risk

    override_settings(replace(Settings(env="test", secret_key="b" * 48), database_url=url))
    await init_db(url)
    await Tortoise.generate_schemas()
    bank = await Bank.create(code="BA", short_name="甲银行", full_name="A Bank", email="a@b.cn", service_phone="1")
    channel = await AssistInstitution.create(name="流量", number="CH1")
    product = await Product.create(
        code="DEMO-SELF-EI", name="消费贷", business_mode=BusinessMode.SELF_OPERATED, type=ProductType.MULTI,
        repayment_method="EQUAL_INSTALLMENT", amount_min=Decimal("100"), amount_max=Decimal("200000"),
        term_unit=TermUnitChoice.MONTH, term_min=1, term_max=36, payment_type=PaymentType.PRIVATE,
        risk_event_enabled=True, risk_scene_key="consumer_loan_admission")
    await ProductFunder.create(product=product, bank=bank, share=Decimal("100"), position=0)
    ids = list(dict.fromkeys(_id(i) for i in range(borrowers)))
    await Customer.bulk_create([Customer(customer_no=f"C{i:010d}", name=f"客户{i}", id_number=n, phone=f"138{i:08d}")
                                for i, n in enumerate(ids)], batch_size=2000)
    customers = await Customer.all().order_by("id").values_list("id", flat=True)
    now = datetime.now(UTC)
    await Loan.bulk_create([Loan(
        order_no=f"LN{i:010d}", channel_order_no=f"O{i}", idempotency_key=f"k{i}", customer_id=cid,
        product_id=product.id, channel_id=channel.id, status=LoanStatus.DISBURSED, amount=Decimal("12000.00"),
        term=12, term_unit="month", repayment_method="EQUAL_INSTALLMENT", applied_at=now)
        for i, cid in enumerate(customers)], batch_size=2000)
    await load_demo_risk()
    return [{"name": f"客户{i}", "id_number": n, "phone": f"138{i:08d}", "customer_no": f"C{i:010d}",
             "amount": Decimal("50000.00"), "term": 12, "product_code": "DEMO-SELF-EI", "channel": "CH1",
             "order_no": f"ORD{i:08d}"} for i, n in enumerate(ids)]


async def _run(subjects: list[dict[str, object]], total: int, concurrency: int) -> tuple[float, dict[str, int]]:
    from core.risk.scenes import evaluate_scene

    queue: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(subjects[i % len(subjects)])
    outcomes: dict[str, int] = {}

    async def worker() -> None:
        while True:
            try:
                subject = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            decision = await evaluate_scene("consumer_loan_admission", subject)
            outcomes[decision.outcome] = outcomes.get(decision.outcome, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, outcomes


async def main(admin_url: str, borrowers: int, evaluations: int, concurrency: int) -> None:
    from tortoise import Tortoise

    from plugins.config import config_from_dict
    from plugins.manager import create_host
    from plugins.runtime import plugin_runtime

    name = f"lendline_bench_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin_url.replace("postgres://", "postgresql://", 1))
    await conn.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0] + "/" + name + f"?minsize=1&maxsize={concurrency + 2}"
    try:
        host = create_host(config_from_dict({"plugins": {"own_data": {}}}), env={}, entry_points=False)
        async with plugin_runtime(host):
            subjects = await _setup(url, borrowers)
            await _run(subjects, 50, 4)  # warm up
            elapsed, outcomes = await _run(subjects, evaluations, concurrency)
            print(f"{evaluations} evaluations of a 10-rule scene, {concurrency} concurrent callers: "
                  f"{evaluations / elapsed:,.0f}/s ({elapsed / evaluations * 1000:.2f} ms each), outcomes {outcomes}")
            serial, _ = await _run(subjects, min(500, evaluations), 1)
            print(f"one caller at a time: {min(500, evaluations) / serial:,.0f}/s")
            print(f"machine load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    finally:
        await Tortoise.close_connections()
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--borrowers", type=int, default=5000)
    parser.add_argument("--evaluations", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(main(args.url, args.borrowers, args.evaluations, args.concurrency))
