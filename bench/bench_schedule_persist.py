"""Schedules persisted with their installments on PostgreSQL: loans per second (goal ≥ 2,000, 36 rows each).

Run: ``python bench/bench_schedule_persist.py [--loans 20000] [--batch 500] [--funders 1 2] [--writers 1 3]``.
Not a test:
it creates a throwaway database (``LENDLINE_BENCH_PG``, default the local test server), prints its
figures and drops the database.

What is timed is what a disbursement batch (or a re-scheduling job) does per loan: build the
36-period equal-installment schedule (`core.loans.schedule.build_schedule`), split it among the
loan's funders (`core.loans.funder_split`), and write the 36 installments plus — for joint loans —
one funder part per installment and funder (`core.loans.schedules.persist_schedules`: COPY into both
tables, installment ids drawn from the sequence first), one transaction per batch. A sole funder's
loans have no part rows (the funder holds each installment whole). Loans are loaded beforehand.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import secrets
import sys
import time
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

import asyncpg
from tortoise import Tortoise, connections
from tortoise.transactions import in_transaction

from core.config import current_settings, override_settings
from core.db import close_db, init_db
from core.loans.money import split_by_shares
from core.loans.schedule import RepaymentMethod, ScheduleRequest, TermUnit, build_schedule
from core.loans.schedules import Funder, LoanSchedule, persist_schedules

ADMIN_URL = os.environ.get("LENDLINE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
START = date(2026, 1, 31)


def _line(label: str, value: str) -> None:
    print(f"{label:<60} {value}")


async def load_loans(n: int, funders: int) -> tuple[list[int], list[int]]:
    """n loans (and their customers) by COPY; returns loan ids and bank ids."""
    now = datetime.now(UTC)
    conn = connections.get("default")
    async with conn.acquire_connection() as raw:
        bank_ids = []
        for i in range(funders):
            bank_ids.append(await raw.fetchval(
                "INSERT INTO bank (code, short_name, full_name, email, service_phone, address, created_at, updated_at)"
                " VALUES ($1, $2, $3, $4, $5, '', $6, $6) RETURNING id", f"B{i}", f"银行{i}", f"银行{i}股份有限公司",
                f"b{i}@bank.cn", "95500", now))
        channel = await raw.fetchval("INSERT INTO assist_institution (name, number, phone, address, created_at, "
                                     "updated_at) VALUES ('流量', 'T1', '', '', $1, $1) RETURNING id", now)
        product = await raw.fetchval(
            "INSERT INTO product (code, name, business_mode, type, repayment_method, amount_min, amount_max, "
            "term_unit, term_min, term_max, spread_bp, lpr_term, payment_type, compensation_enabled, "
            "risk_event_enabled, risk_scene_key, disbursement_event_enabled, disbursement_callback_url, "
            "deduction_event_enabled, deduction_event_key, deduction_callback_enabled, deduction_callback_url, "
            "check_margin, description, enabled, version, last_action, created_at, updated_at) VALUES ('P', '贷', "
            "'joint', 'multi', 'EQUAL_INSTALLMENT', 100, 1000000, 'month', 1, 36, 150, '1Y', 'private', false, "
            "false, '', false, '', false, '', false, '', false, '', true, 1, '', $1, $1) RETURNING id", now)
        await raw.copy_records_to_table("customer", records=[
            (f"C{i:08d}", f"客户{i}", f"{110105199001010000 + i}", f"138{i:08d}", now, now) for i in range(n)],
            columns=["customer_no", "name", "id_number", "phone", "created_at", "updated_at"])
        customers = [r[0] for r in await raw.fetch("SELECT id FROM customer ORDER BY id")]
        await raw.copy_records_to_table("loan", records=[
            (f"O{i:08d}", f"CO{i:08d}", f"k{i}", "", cid, product, channel, "disbursed", Decimal("10000.00") + i,
             36, "MONTH", "EQUAL_INSTALLMENT", "PENALTY_FEE_INTEREST_PRINCIPAL", "1Y", 150, "", "sandbox", "", "", "",
             now, Decimal("0"), Decimal("0"), "", 1, now, now)
            for i, cid in enumerate(customers)],
            columns=["order_no", "channel_order_no", "idempotency_key", "application_digest", "customer_id",
                     "product_id", "channel_id", "status", "amount", "term", "term_unit", "repayment_method",
                     "allocation_strategy", "lpr_term", "spread_bp", "deduction_event_key", "payment_provider",
                     "disbursement_account", "risk_outcome", "reject_reason", "applied_at", "principal_outstanding",
                     "margin_frozen", "margin_reference", "version", "created_at", "updated_at"])
        loans = [r[0] for r in await raw.fetch("SELECT id FROM loan ORDER BY id")]
    return loans, bank_ids


def _funders(amount: Decimal, bank_ids: list[int]) -> list[Funder]:
    if len(bank_ids) == 1:
        return [Funder(bank_ids[0], amount, Decimal(100))]
    lead_share = Decimal(100) - Decimal(30) * (len(bank_ids) - 1) / len(bank_ids)
    shares = [lead_share] + [(Decimal(100) - lead_share) / (len(bank_ids) - 1)] * (len(bank_ids) - 1)
    shares = [s.quantize(Decimal("0.0001")) for s in shares]
    shares[0] += Decimal(100) - sum(shares)
    parts = split_by_shares(amount, {str(b): s / 100 for b, s in zip(bank_ids, shares, strict=True)},
                            remainder_to=str(bank_ids[0]))
    return [Funder(b, parts[str(b)], s) for b, s in zip(bank_ids, shares, strict=True)]


async def bench(loans: list[int], bank_ids: list[int], batch: int, writers: int) -> None:
    rate = Decimal("0.0495")
    start = time.perf_counter()
    rows = 0
    batches = [loans[offset:offset + batch] for offset in range(0, len(loans), batch)]

    async def write(mine: list[list[int]]) -> int:
        written = 0
        for chunk in mine:
            items = []
            for loan_id in chunk:
                amount = Decimal("10000.00") + loan_id
                schedule = build_schedule(ScheduleRequest(amount, rate, 36, TermUnit.MONTH,
                                                          RepaymentMethod.EQUAL_INSTALLMENT, START))
                items.append(LoanSchedule(loan_id, amount, START, schedule, _funders(amount, bank_ids)))
            async with in_transaction():
                written += await persist_schedules(items)
        return written

    # Several writers (one transaction and connection each) overlap Python's work with the server's.
    cpu = os.times()
    rows = sum(await asyncio.gather(*(write(batches[w::writers]) for w in range(writers))))
    elapsed = time.perf_counter() - start
    after = os.times()
    client = (after.user - cpu.user + after.system - cpu.system) / len(loans) * 1000
    parts = rows * len(bank_ids) if len(bank_ids) > 1 else 0
    _line(f"{len(loans):,} loans × 36, {len(bank_ids)} funder(s), batches of {batch}, {writers} writer(s)",
          f"{len(loans) / elapsed:10,.0f} loans/s")
    _line("  rows written (installments + funder parts)", f"{(rows + parts) / elapsed:10,.0f} rows/s")
    _line("  client CPU per loan (schedule maths, split, COPY text)", f"{client:10.3f} ms")
    _line("  machine load average (1 min)", f"{os.getloadavg()[0]:10.1f}")
    conn = connections.get("default")
    count = (await conn.execute_query_dict("SELECT count(*) AS n FROM loan_installment"))[0]["n"]
    part_count = (await conn.execute_query_dict("SELECT count(*) AS n FROM installment_funder_part"))[0]["n"]
    assert count == rows == 36 * len(loans) and part_count == parts, (count, rows, part_count)
    if not parts:
        return
    bad = await conn.execute_query_dict(
        "SELECT i.id FROM loan_installment i JOIN installment_funder_part p ON p.installment_id = i.id "
        "GROUP BY i.id, i.principal, i.interest HAVING sum(p.principal) <> i.principal "
        "OR sum(p.interest) <> i.interest LIMIT 1")
    assert not bad, bad
    _line("  every installment's funder parts sum to it (checked in SQL)", "ok")


async def reference(loans: list[int]) -> None:
    """The server's own ceiling on this machine now: COPY of the same installment rows, prebuilt, into a
    copy of the table (same indexes, no foreign keys), with no schedule maths and no funder parts."""
    from core.loans.models import LoanInstallment
    from core.loans.schedules import INSTALLMENT_COLUMNS, _columns, _copy_text

    columns, defaults = _columns(LoanInstallment, INSTALLMENT_COLUMNS)
    schedule = build_schedule(ScheduleRequest(Decimal("10000.00"), Decimal("0.0495"), 36, TermUnit.MONTH,
                                              RepaymentMethod.EQUAL_INSTALLMENT, START))
    rows = [(loan_id, i.number, START, i.due_date, i.principal, i.interest, i.fee)
            for loan_id in loans for i in schedule.installments]
    data = _copy_text(rows, defaults)
    conn = connections.get("default")
    await conn.execute_script("DROP TABLE IF EXISTS installment_ref; "
                              "CREATE TABLE installment_ref (LIKE loan_installment INCLUDING ALL)")
    start = time.perf_counter()
    async with conn.acquire_connection() as raw:
        await raw.copy_to_table("installment_ref", source=io.BytesIO(data), columns=columns, format="text")
    elapsed = time.perf_counter() - start
    _line(f"reference: raw COPY of {len(rows):,} prebuilt installment rows", f"{len(loans) / elapsed:10,.0f} loans/s")


async def main(args: argparse.Namespace) -> None:
    name = f"lendline_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.replace("postgresql://", "postgres://", 1).rsplit("/", 1)[0] + "/" + name
    override_settings(replace(current_settings(), database_url=url))
    try:
        await init_db(url)
        await Tortoise.generate_schemas()
        print(f"PostgreSQL, {os.cpu_count()} CPU(s)")
        for funders in args.funders:
            await connections.get("default").execute_script(
                "TRUNCATE installment_funder_part, loan_installment, loan, customer, product, assist_institution, "
                "bank RESTART IDENTITY CASCADE")
            loans, banks = await load_loans(args.loans, funders)
            for writers in args.writers:
                await connections.get("default").execute_script(
                    "TRUNCATE installment_funder_part, loan_installment RESTART IDENTITY CASCADE")
                await bench(loans, banks, args.batch, writers)
            await reference(loans)
    finally:
        await close_db()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--funders", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 3])
    asyncio.run(main(parser.parse_args()))
