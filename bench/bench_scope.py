"""Data-scope overhead (issue 4): the same list query as admin and as a scoped user.

Policy of the scoped user: 1,000 banks selected × 20 checked products each (20,000 product grants).
Prints p50/p99 latency of the products list page (10 rows, newest first) and its count for both
callers, their ratio, and the SQL each issues — one statement per read, the scope as subqueries
over `data_grant`, no per-row enforcement.

Run: .venv/bin/python bench/bench_scope.py  [--url postgres://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import time
from decimal import Decimal

import asyncpg
from tortoise import Tortoise
from tortoise.transactions import in_transaction

BANKS, PRODUCTS_PER_BANK, RUNS = 1000, 20, 200


async def _setup(url: str) -> None:
    from core.db import init_db, migrate
    from core.orgs.models import Bank
    from core.products.models import BusinessMode, PaymentType, Product, ProductFunder, ProductType, TermUnitChoice
    from permissions import policy
    from permissions.scope import DataPolicy

    await migrate(url)
    await init_db(url)
    await Bank.bulk_create([Bank(code=f"B{i:04d}", short_name=f"银行{i}", full_name=f"Bank {i}", email=f"s@b{i}.cn",
                                 service_phone="95588") for i in range(BANKS)], batch_size=1000)
    banks = await Bank.all().order_by("id").values_list("id", flat=True)
    await Product.bulk_create([Product(
        code=f"P{b}-{j}", name=f"产品{b}-{j}", business_mode=BusinessMode.SELF_OPERATED, type=ProductType.MULTI,
        repayment_method="EQUAL_INSTALLMENT", amount_min=Decimal("1000"), amount_max=Decimal("50000"),
        term_unit=TermUnitChoice.MONTH, term_min=1, term_max=12, payment_type=PaymentType.PRIVATE)
        for b in banks for j in range(PRODUCTS_PER_BANK)], batch_size=1000)
    products = await Product.all().order_by("id").values_list("id", "code")
    await ProductFunder.bulk_create([ProductFunder(product_id=pid, bank_id=banks[i // PRODUCTS_PER_BANK],
                                                   share=Decimal(100)) for i, (pid, _) in enumerate(products)],
                                    batch_size=1000)
    async with in_transaction():
        await policy.set_role_data("scoped", DataPolicy(bank_ids=frozenset(banks),
                                                        product_ids=frozenset(p for p, _ in products)))
        await policy.set_role_data("admin", DataPolicy(all=True))


async def _time(label: str, scope: object) -> float:
    from core.products.models import Product

    qs = Product.filter(scope.products("id"))  # type: ignore[attr-defined]
    page = qs.order_by("-id").limit(10)
    await page  # warm
    samples = []
    for _ in range(RUNS):
        t = time.perf_counter()
        rows = await page
        total = await qs.count()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    p50, p99 = statistics.median(samples), samples[int(len(samples) * 0.99) - 1]
    print(f"{label:>7}: page of {len(rows)} + count {total}: p50 {p50:.2f} ms  p99 {p99:.2f} ms")
    print(f"         SQL: {page.sql()}")
    return p50


async def main(admin_url: str) -> None:
    from permissions.policy import policy_store

    name = f"lendline_bench_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin_url.replace("postgres://", "postgresql://", 1))
    await conn.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    try:
        t = time.perf_counter()
        await _setup(url)
        print(f"setup: {BANKS} banks × {PRODUCTS_PER_BANK} products, policy of {BANKS * PRODUCTS_PER_BANK} "
              f"product grants ({time.perf_counter() - t:.1f} s)")
        store = policy_store()
        await store.refresh()
        admin = await _time("admin", store.scope_for(["admin"]))
        scoped = await _time("scoped", store.scope_for(["scoped"]))
        print(f"ratio scoped/admin (p50): {scoped / admin:.2f}")
    finally:
        await Tortoise.close_connections()
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="postgres://postgres@127.0.0.1:5432/postgres")
    asyncio.run(main(parser.parse_args().url))
