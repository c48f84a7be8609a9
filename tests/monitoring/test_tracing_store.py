"""Tracing on the database: stored results equal the pure tracer over the same history however the
history is batched, loan parts never exceed the unspent loan money, parts sum to the payment,
concurrent batches on one account do not corrupt its state, and FIFO per product."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal
from typing import Any

import pytest

from core.actor import SYSTEM
from core.monitoring.ingest import ingest
from core.monitoring.models import AccountTransaction, FundTraceState, TransactionFundPart, TxSource
from core.monitoring.tracing import Direction, FundTracer, Method, Source, TracingState, Transaction
from core.system import parameters
from core.system.models import ParameterType
from core.system.parameters import reset_parameter_cache
from tests.monitoring.ingest_helpers import detectors, make_loan, make_world, tx

pytestmark = pytest.mark.asyncio


def history(rng: random.Random, loans: list[Any]) -> list[dict[str, Any]]:
    """Disbursements of every loan, own inflows and outflows, in time order (one account)."""
    rows: list[dict[str, Any]] = []
    for i, loan in enumerate(loans):
        rows.append(tx(loans[0], f"H{rng.random():.12f}", "in", f"{loan.amount:.2f}", i * 10,
                       orderNo=loan.order_no, isDisbursement=True))
    minute = len(loans) * 10
    for _ in range(rng.randint(5, 25)):
        minute += rng.randint(0, 3)
        amount = f"{Decimal(rng.randint(1, 400_00)) / 100:.2f}"
        rows.append(tx(loans[0], f"H{rng.random():.12f}", rng.choice(["in", "out", "out"]), amount, minute))
    return rows


def expected(rows: list[dict[str, Any]], method: Method = Method.PRO_RATA) -> tuple[dict[str, Any], TracingState]:
    tracer = FundTracer(method)
    out = {}
    for r in sorted(rows, key=lambda r: r["occurredAt"]):
        loan_in = r["direction"] == "in" and r.get("isDisbursement")
        res = tracer.apply(Transaction(r["serialNo"], r["occurredAt"], Direction.IN if r["direction"] == "in"
                                       else Direction.OUT, Decimal(r["amount"]),
                                       Source.LOAN if loan_in else Source.OWN, r["orderNo"] if loan_in else None))
        if res is not None:
            out[r["serialNo"]] = res
    return out, tracer.state


@pytest.mark.parametrize("seed", range(6))
async def test_stored_tracing_equals_the_pure_tracer_however_batched(db: str, seed: int) -> None:
    rng = random.Random(seed)
    w = await make_world(f"PR{seed}")
    first = await make_loan(w, f"{rng.randint(100, 5000)}.00", customer_no=f"CP{seed}")
    loans = [first] + ([await make_loan(w, "300.00", customer_no=f"CP{seed}")] if seed % 2 else [])
    rows = history(rng, loans)
    async with detectors():
        i = 0
        while i < len(rows):
            size = rng.randint(1, 6)
            await ingest(SYSTEM, rows[i:i + size], TxSource.FEED)
            i += size
    want, state = expected(rows)
    principal = {loan.order_no: Decimal(loan.amount) for loan in loans}
    stored = {t.serial_no: t for t in await AccountTransaction.filter(direction="out")}
    parts: dict[int, list[Any]] = {}
    for p in await TransactionFundPart.all():
        parts.setdefault(p.transaction_id, []).append(p)  # type: ignore[attr-defined]
    spent = dict.fromkeys(principal, Decimal("0.00"))
    for serial, res in want.items():
        t = stored[serial]
        assert (Decimal(t.loan_part), Decimal(t.own_part)) == (res.loan_part, res.own_part)
        got = parts.get(t.id, [])
        assert sum((Decimal(p.amount) for p in got), Decimal(0)) == Decimal(t.amount)  # parts sum to the payment
        for p in got:
            if p.order_no:
                spent[p.order_no] += Decimal(p.amount)
                assert spent[p.order_no] <= principal[p.order_no]  # never more than the loan's unspent money
    saved = await FundTraceState.get(account_no=rows[0]["accountNo"])
    assert TracingState.from_dict(saved.state) == state


async def test_concurrent_batches_on_one_account_keep_its_state_consistent(db: str) -> None:
    w = await make_world("CON")
    loan = await make_loan(w, "1000.00")
    async with detectors():
        await ingest(SYSTEM, [tx(loan, "C0", "in", "1000.00", 0)], TxSource.FEED)
        batches = [[tx(loan, f"C{b}-{i}", "out" if i % 2 else "in", "7.00", 1 + b * 10 + i) for i in range(8)]
                   for b in range(4)]
        await asyncio.gather(*(ingest(SYSTEM, batch, TxSource.FEED) for batch in batches))
    rows = [tx(loan, "C0", "in", "1000.00", 0, isDisbursement=True)] + [r for b in batches for r in b]
    want, state = expected(rows)
    saved = await FundTraceState.get(account_no=rows[0]["accountNo"])
    assert TracingState.from_dict(saved.state) == state
    assert saved.version == 1 + 1 + 4
    for t in await AccountTransaction.filter(direction="out"):
        assert Decimal(t.loan_part) == want[t.serial_no].loan_part


async def test_fifo_for_products_listed_in_the_system_parameter(db: str) -> None:
    w = await make_world("FIF")
    p = await parameters.create_parameter(SYSTEM, number="MON_TRACING_FIFO_PRODUCTS", name="FIFO products",
                                          type=ParameterType.BUSINESS, value=w.product.code)
    await parameters.set_active(SYSTEM, p.id, True)
    await parameters.refresh_cache(SYSTEM)
    reset_parameter_cache()
    loan = await make_loan(w, "100.00")
    rows = [tx(loan, "F0", "in", "50.00", 0, isDisbursement=False), tx(loan, "F1", "in", "100.00", 1),
            tx(loan, "F2", "out", "60.00", 2)]
    async with detectors():
        await ingest(SYSTEM, rows, TxSource.FEED)
    f2 = await AccountTransaction.get(serial_no="F2")
    assert (Decimal(f2.loan_part), Decimal(f2.own_part)) == (Decimal("10.00"), Decimal("50.00"))  # oldest first
    assert (await FundTraceState.get(account_no=rows[0]["accountNo"])).method == Method.FIFO.value


async def test_concurrent_batches_opening_overlapping_new_accounts_all_land(db: str) -> None:
    w = await make_world("OVL")
    loans = [await make_loan(w, "100.00") for _ in range(6)]
    batches = [[tx(loans[(b + i) % 6], f"V{b}-{i}", "in", "1.00", b * 10 + i) for i in range(4)] for b in range(5)]
    async with detectors():
        results = await asyncio.gather(*(ingest(SYSTEM, batch, TxSource.FEED) for batch in batches))
    assert sum(r.inserted for r in results) == 20
    assert await FundTraceState.all().count() == 6
    states = {s.account_no: TracingState.from_dict(s.state) for s in await FundTraceState.all()}
    for loan in loans:
        n = sum(1 for b in batches for r in b if r["orderNo"] == loan.order_no)
        assert states[f"ACC-{loan.customer.customer_no}"].own == Decimal(n)


async def test_a_saved_state_keeps_its_pool_order_whatever_the_order_numbers(db: str) -> None:
    """Pool order breaks rounding ties; a JSON object's key order does not survive PostgreSQL's jsonb."""
    w = await make_world("PO")
    first = await make_loan(w, "50.00", customer_no="CPO", mark="ZZ")  # disbursed first, sorts last
    second = await make_loan(w, "50.00", customer_no="CPO", mark="A")  # shorter order no.: first in jsonb
    rows = [tx(first, "PO-1", "in", "50.00", 0, isDisbursement=True),
            tx(first, "PO-2", "in", "50.00", 1, orderNo=second.order_no, isDisbursement=True)]
    payment = tx(first, "PO-3", "out", "0.01", 2)
    async with detectors():
        await ingest(SYSTEM, rows, TxSource.FEED)
        await ingest(SYSTEM, [payment], TxSource.FEED)  # resumed from the saved state
    want, state = expected([*rows, payment])
    assert want["PO-3"].loan_parts == {first.order_no: Decimal("0.01")}  # the tie goes to the earlier pool
    stored = await AccountTransaction.get(serial_no="PO-3")
    parts = {p.order_no: p.amount for p in await TransactionFundPart.filter(transaction_id=stored.id)}
    assert parts == {first.order_no: Decimal("0.01")}
    saved = await FundTraceState.get(account_no=rows[0]["accountNo"])
    assert TracingState.from_dict(saved.state).loans == state.loans
