"""The GraphQL page of loans with product, banks and schedule (issue 7 benchmark).

On PostgreSQL, through the ASGI app in-process (httpx ASGITransport, real auth per request): a
joint-lending product funded by two banks, LOANS orders with 36 installments each. Prints p50/p99
latency and the SQL statements per request for pages of 10 and 50 orders, as admin and as a user
whose role sees one bank, showing the statement count does not grow with the page size (nested
lists load through per-request dataloaders, one statement per kind).

Wall-clock figures include waiting for the database and for other processes on a shared machine;
the API process's CPU time per request is printed too (steadier under load).

Run: PYTHONPATH=. .venv/bin/python bench/bench_loan_page.py  [--url postgres://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

os.environ.setdefault("LENDLINE_ARGON2_PROFILE", "cheapest")

import asyncpg
import httpx
from tortoise import Tortoise, connections

LOANS, PERIODS, RUNS = 1000, 36, 200
PASSWORD = "bench1234"
PAGE = """query($first: Int) { loans(first: $first) { totalCount
  edges { node { id orderNo status amount term customer { name idNumber phone masked } product { id code name }
                 channel { name } funders { bank { id code shortName } share amount }
                 installments { number dueDate principal interest fee penalty paidPrincipal status }
                 events { toStatus createdAt } } } } }"""


class SqlCounter:
    """Counts statements sent through the default connection's client class."""

    METHODS = ("execute_insert", "execute_many", "execute_query", "execute_query_dict",
               "execute_query_dict_with_affected", "execute_script")

    def __init__(self) -> None:
        self.count = 0
        cls = type(connections.get("default"))
        for name in self.METHODS:
            original = getattr(cls, name)

            def wrapper(*args: Any, __original: Any = original, **kwargs: Any) -> Any:
                self.count += 1
                return __original(*args, **kwargs)

            setattr(cls, name, wrapper)


async def _setup(url: str) -> None:
    from core.accounts.roles import ensure_builtin_roles
    from core.db import init_db
    from core.loans.models import Customer, Loan, LoanEvent, LoanFunder, LoanInstallment, LoanStatus
    from core.orgs.models import AssistInstitution, Bank
    from core.products.models import (
        BusinessMode,
        PaymentType,
        Product,
        ProductChannel,
        ProductFunder,
        ProductType,
        TermUnitChoice,
    )
    from core.risk.idnumber import check_char
    from tests.support import make_user

    await init_db(url)
    await Tortoise.generate_schemas()
    await ensure_builtin_roles()
    a = await Bank.create(code="BA", short_name="甲银行", full_name="甲银行股份有限公司", email="a@a.cn",
                          service_phone="95500")
    b = await Bank.create(code="BB", short_name="乙银行", full_name="乙银行股份有限公司", email="b@b.cn",
                          service_phone="95501")
    channel = await AssistInstitution.create(name="流量平台", number="TP1")
    product = await Product.create(code="JOINT", name="联合贷", business_mode=BusinessMode.JOINT,
                                   type=ProductType.MULTI, repayment_method="EQUAL_INSTALLMENT",
                                   amount_min=Decimal("1000"), amount_max=Decimal("300000"),
                                   term_unit=TermUnitChoice.MONTH, term_min=3, term_max=36,
                                   payment_type=PaymentType.PRIVATE)
    await ProductFunder.create(product=product, bank=a, share=Decimal(70), position=0)
    await ProductFunder.create(product=product, bank=b, share=Decimal(30), position=1)
    await ProductChannel.create(product=product, institution=channel)
    now = datetime.now(UTC)
    customers = []
    for i in range(LOANS):
        first17 = f"110105{19700101 + i % 28:08d}{i % 1000:03d}"
        customers.append(Customer(customer_no=f"C{i:012d}", name="张小三", id_number=first17 + check_char(first17),
                                  phone=f"138{i:08d}"))
    await Customer.bulk_create(customers, batch_size=1000)
    cids = await Customer.all().order_by("id").values_list("id", flat=True)
    await Loan.bulk_create([Loan(order_no=f"LN{i:012d}", channel_order_no=f"CH{i}",
                                 idempotency_key=f"{channel.id}:k{i}",
                                 customer_id=cid, product_id=product.id, channel_id=channel.id,
                                 status=LoanStatus.DISBURSED, amount=Decimal("36000.00"), term=PERIODS,
                                 term_unit="MONTH", repayment_method="EQUAL_INSTALLMENT", applied_at=now,
                                 disbursement_date=date(2026, 1, 15), principal_outstanding=Decimal("36000.00"))
                            for i, cid in enumerate(cids)], batch_size=1000)
    lids = await Loan.all().order_by("id").values_list("id", flat=True)
    await LoanFunder.bulk_create([LoanFunder(loan_id=lid, bank_id=bank, share=Decimal(s), amount=Decimal(s) * 360,
                                             position=p) for lid in lids
                                  for p, (bank, s) in enumerate(((a.id, 70), (b.id, 30)))], batch_size=2000)
    await LoanEvent.bulk_create([LoanEvent(loan_id=lid, from_status=f, to_status=t, actor_label="system",
                                           created_at=now) for lid in lids
                                 for f, t in (("", "applied"), ("applied", "approved"),
                                              ("disbursing", "disbursed"))], batch_size=3000)
    rows = []
    for lid in lids:
        for n in range(1, PERIODS + 1):
            due = date(2026 + n // 12, n % 12 + 1, 15)
            rows.append(LoanInstallment(loan_id=lid, number=n, start_date=due - timedelta(days=30), due_date=due,
                                        principal=Decimal("1000.00"), interest=Decimal("130.50")))
    await LoanInstallment.bulk_create(rows, batch_size=5000)
    from tortoise.transactions import in_transaction

    from core.accounts.models import Role
    from permissions import policy
    from permissions.policy import policy_store
    from permissions.scope import DataPolicy

    async with in_transaction():
        role = await Role.create(name="甲行", key="bank_a", enabled=True)
        await policy.set_role_pages(role.key, {"loan_orders"})
        await policy.set_role_data(role.key, DataPolicy(bank_ids=frozenset({a.id}), auto_bank_ids=frozenset({a.id})))
    await policy_store().refresh()
    await make_user("benchadmin", ["admin"], "管理员", PASSWORD)
    await make_user("bankauser", ["bank_a"], "甲行用户", PASSWORD)


async def _login(client: httpx.AsyncClient, account: str) -> str:
    r = await client.post("/graphql", json={"query": "mutation($a:String!,$p:String!){login(account:$a,password:$p)"
                                            "{accessToken errors{message}}}", "variables": {"a": account,
                                                                                           "p": PASSWORD}})
    return r.json()["data"]["login"]["accessToken"]


async def _measure(client: httpx.AsyncClient, token: str, first: int, counter: SqlCounter
                   ) -> tuple[float, float, float, int]:
    headers = {"authorization": f"Bearer {token}"}
    body = {"query": PAGE, "variables": {"first": first}}
    for _ in range(5):  # warm
        r = await client.post("/graphql", json=body, headers=headers)
        data = r.json()
        assert "errors" not in data, data
        assert len(data["data"]["loans"]["edges"]) == first
        assert all(len(e["node"]["installments"]) == PERIODS for e in data["data"]["loans"]["edges"])
    before = counter.count
    await client.post("/graphql", json=body, headers=headers)
    statements = counter.count - before
    samples = []
    cpu = time.process_time()
    for _ in range(RUNS):
        t = time.perf_counter()
        await client.post("/graphql", json=body, headers=headers)
        samples.append((time.perf_counter() - t) * 1000)
    cpu_ms = (time.process_time() - cpu) / RUNS * 1000
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1], cpu_ms, statements


async def main(admin_url: str) -> None:
    from core.config import Settings, override_settings

    name = f"lendline_bench_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin_url.replace("postgres://", "postgresql://", 1))
    await conn.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    override_settings(replace(Settings(env="test", secret_key="b" * 48), database_url=url))
    try:
        t = time.perf_counter()
        await _setup(url)
        print(f"setup: {LOANS} joint loans × {PERIODS} installments, 2 funders each "
              f"({time.perf_counter() - t:.1f} s)")
        from schema.app import create_app

        app = create_app(manage_db=False)
        counter = SqlCounter()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
            for account in ("benchadmin", "bankauser"):
                token = await _login(client, account)
                for first in (10, 50):
                    p50, p99, cpu, statements = await _measure(client, token, first, counter)
                    print(f"{account:>10} page of {first:>2} loans ({first * PERIODS} installments): "
                          f"p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  API-process CPU {cpu:6.1f} ms/request  "
                          f"SQL statements/request {statements}")
    finally:
        await Tortoise.close_connections()
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="postgres://postgres@127.0.0.1:5432/postgres")
    asyncio.run(main(parser.parse_args().url))
