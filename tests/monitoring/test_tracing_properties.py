"""Property tests for fund tracing: exactness, bounds, conservation, FIFO model, resumability."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from core.monitoring.tracing import (
    Direction,
    FundTracer,
    Method,
    Source,
    TraceResult,
    TracingState,
    Transaction,
    trace,
)

T0 = datetime(2024, 1, 1)
ZERO = Decimal("0.00")
LOANS = ("L1", "L2", "L3")

# An op is (kind, cents): kind 0..2 = loan disbursement of LOANS[kind], 3 = own inflow, 4/5 = outflow
# (outflows drawn twice as often so accounts are regularly drained).
ops_strategy = st.lists(
    st.tuples(st.integers(0, 5), st.integers(1, 2_000_000)),
    max_size=60,
)


def build(ops: list[tuple[int, int]]) -> list[Transaction]:
    txs = []
    for i, (kind, cents) in enumerate(ops):
        amount = Decimal(cents).scaleb(-2)
        t = T0 + timedelta(seconds=i // 2)  # pairs share a timestamp: equal times are allowed
        if kind < 3:
            txs.append(Transaction(f"t{i}", t, Direction.IN, amount, Source.LOAN, LOANS[kind]))
        elif kind == 3:
            txs.append(Transaction(f"t{i}", t, Direction.IN, amount))
        else:
            txs.append(Transaction(f"t{i}", t, Direction.OUT, amount))
    return txs


def check_invariants(txs: list[Transaction], results: list[TraceResult], final: TracingState) -> None:
    """Replays pool balances independently and checks every outflow against them."""
    loans: dict[str, Decimal] = {}
    own = ZERO
    it = iter(results)
    total_in = total_out = uncovered_total = ZERO
    for tx in txs:
        if tx.direction is Direction.IN:
            total_in += tx.amount
            if tx.source is Source.LOAN:
                assert tx.order_no is not None
                loans[tx.order_no] = loans.get(tx.order_no, ZERO) + tx.amount
            else:
                own += tx.amount
            continue
        r = next(it)
        total_out += tx.amount
        assert r.serial_no == tx.serial_no
        # parts sum exactly to the payment, and the loan part is the sum of the per-loan parts
        assert r.loan_part + r.own_part == r.amount == tx.amount
        assert sum(r.loan_parts.values(), ZERO) == r.loan_part
        # a loan never pays more than its unspent amount at that time; own likewise
        for order_no, part in r.loan_parts.items():
            assert ZERO < part <= loans[order_no]
        balance_before = own + sum(loans.values(), ZERO)
        assert r.uncovered == max(ZERO, tx.amount - balance_before)
        assert ZERO <= r.own_part - r.uncovered <= own
        # state after = state before minus parts; pools never negative
        for order_no in loans:
            loans[order_no] -= r.loan_parts.get(order_no, ZERO)
        own -= r.own_part - r.uncovered
        assert r.loan_balances_after == loans
        assert r.own_balance_after == own
        assert all(v >= 0 for v in loans.values()) and own >= 0
        uncovered_total += r.uncovered
        # every output amount is in cents
        assert all(v.as_tuple().exponent == -2 for v in (r.loan_part, r.own_part, *r.loan_parts.values()))
        # display shares add up to 100 %
        assert sum(Decimal(s.rstrip("%")) for s in r.fund_structure(per_loan=True)) == 100
    # conservation: in - out + overdraft = balance (and in - out = balance without overdraft)
    assert total_in - total_out + uncovered_total == final.balance
    assert final.uncovered_total == uncovered_total
    if uncovered_total == 0:
        assert total_in - total_out == final.balance


@settings(max_examples=300, deadline=None)
@given(ops_strategy, st.sampled_from(list(Method)))
def test_invariants(ops: list[tuple[int, int]], method: Method) -> None:
    txs = build(ops)
    results, final = trace(txs, method)
    assert len(results) == sum(1 for t in txs if t.direction is Direction.OUT)
    check_invariants(txs, results, final)


@settings(max_examples=300, deadline=None)
@given(ops_strategy)
def test_pro_rata_parts_are_close_to_exact_proportional_shares(ops: list[tuple[int, int]]) -> None:
    """Each pool's part is within one cent per pool of its exact (rational) proportional share."""
    txs = build(ops)
    results, _ = trace(txs, Method.PRO_RATA)
    pools: dict[str | None, Fraction] = {}
    it = iter(results)
    for tx in txs:
        key = tx.order_no if tx.source is Source.LOAN else None
        if tx.direction is Direction.IN:
            pools[key] = pools.get(key, Fraction(0)) + Fraction(tx.amount)
            continue
        r = next(it)
        total = sum(pools.values(), Fraction(0))
        live = [k for k, v in pools.items() if v]
        tolerance = Fraction(len(live), 100)
        for k in live:
            exact = min(pools[k], Fraction(tx.amount) * pools[k] / total)
            actual = Fraction(r.own_part - r.uncovered if k is None else r.loan_parts.get(k, ZERO))
            assert abs(actual - exact) <= tolerance
            pools[k] -= actual


def fifo_reference(txs: list[Transaction]) -> list[tuple[dict[str, Decimal], Decimal]]:
    """Straightforward FIFO over unmerged lots: [(loan parts, own part incl. overdraft)]."""
    lots: list[list] = []
    out = []
    for tx in txs:
        if tx.direction is Direction.IN:
            lots.append([tx.order_no if tx.source is Source.LOAN else None, tx.amount])
            continue
        need = tx.amount
        parts: dict[str, Decimal] = {}
        own = ZERO
        while need and lots:
            take = min(need, lots[0][1])
            if lots[0][0] is None:
                own += take
            else:
                parts[lots[0][0]] = parts.get(lots[0][0], ZERO) + take
            lots[0][1] -= take
            need -= take
            if not lots[0][1]:
                lots.pop(0)
        out.append((parts, own + need))
    return out


@settings(max_examples=300, deadline=None)
@given(ops_strategy)
def test_fifo_matches_reference_model(ops: list[tuple[int, int]]) -> None:
    txs = build(ops)
    results, _ = trace(txs, Method.FIFO)
    assert [(r.loan_parts, r.own_part) for r in results] == fifo_reference(txs)


@settings(max_examples=300, deadline=None)
@given(ops_strategy, st.sampled_from(list(Method)), st.data())
def test_persisted_state_resumes_to_identical_results(
    ops: list[tuple[int, int]], method: Method, data: st.DataObject
) -> None:
    txs = build(ops)
    full, full_state = trace(txs, method)
    cut = data.draw(st.integers(0, len(txs)), label="cut")
    first, state = trace(txs[:cut], method)
    restored = TracingState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert restored == state
    validated = TracingState(method=state.method, own=state.own, loans=state.loans, lots=state.lots,
                             last_time=state.last_time, uncovered_total=state.uncovered_total)
    assert validated == state  # the tracer's unchecked snapshot passes the state's validation
    second, resumed_state = trace(txs[cut:], method, restored)
    assert first + second == full
    assert resumed_state == full_state


@settings(max_examples=100, deadline=None)
@given(ops_strategy, st.sampled_from(list(Method)))
def test_apply_one_by_one_equals_batch(ops: list[tuple[int, int]], method: Method) -> None:
    txs = build(ops)
    tracer = FundTracer(method)
    one_by_one = [r for r in (tracer.apply(t) for t in txs) if r is not None]
    assert one_by_one == trace(txs, method)[0]
