"""Hand-computed tracing cases for both methods (F-MON-2)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from core.monitoring.tracing import (
    Direction,
    FundTracer,
    Method,
    Source,
    TraceResult,
    TracingState,
    Transaction,
    allocate,
    trace,
)

D = Decimal
T0 = datetime(2024, 3, 1, 9, 0)


class Feed:
    """Builds a time-ordered transaction list, one minute apart."""

    def __init__(self) -> None:
        self.txs: list[Transaction] = []

    def _t(self) -> datetime:
        return T0 + timedelta(minutes=len(self.txs))

    def loan(self, order_no: str, amount: str) -> Feed:
        sn = f"in{len(self.txs)}"
        self.txs.append(Transaction(sn, self._t(), Direction.IN, D(amount), Source.LOAN, order_no))
        return self

    def own(self, amount: str) -> Feed:
        self.txs.append(Transaction(f"in{len(self.txs)}", self._t(), Direction.IN, D(amount)))
        return self

    def out(self, amount: str, excluded: bool = False) -> Feed:
        sn = f"out{len(self.txs)}"
        self.txs.append(Transaction(sn, self._t(), Direction.OUT, D(amount), excluded=excluded))
        return self


def run(feed: Feed, method: Method = Method.PRO_RATA) -> list[TraceResult]:
    results, _ = trace(feed.txs, method)
    return results


# --- worked example (brief): three deposits of 10, 20 spent -----------------------------------------


def test_worked_example_three_loans_pro_rata() -> None:
    """Three loans of 10 each, 20 spent: exact share 6.666… each -> 6.67, 6.67, 6.67 = 20.01; the
    largest pool absorbs -0.01 (three-way tie -> the last pool, L3) -> parts 6.67/6.67/6.66 and the
    sources keep 3.33/3.33/3.34, which sums to the remaining 10."""
    (r,) = run(Feed().loan("L1", "10").loan("L2", "10").loan("L3", "10").out("20"))
    assert r.loan_parts == {"L1": D("6.67"), "L2": D("6.67"), "L3": D("6.66")}
    assert r.loan_part == D("20.00") and r.own_part == D("0.00")
    assert r.loan_balances_after == {"L1": D("3.33"), "L2": D("3.33"), "L3": D("3.34")}
    assert r.balance_after == D("10.00")


def test_worked_example_one_loan_two_own_deposits_pro_rata() -> None:
    """Loan 10 + own 10 + own 10, 20 spent: loan share 1/3 -> 6.666… -> 6.67, own 13.333… -> 13.33
    (sum 20.00, no adjustment). Left: loan 3.33, own 6.67."""
    (r,) = run(Feed().loan("L1", "10").own("10").own("10").out("20"))
    assert (r.loan_part, r.own_part) == (D("6.67"), D("13.33"))
    assert r.loan_balances_after == {"L1": D("3.33")}
    assert r.own_balance_after == D("6.67")
    assert r.fund_structure() == ("33%", "67%")
    assert r.fund_source() == (D("-6.67"), D("-13.33"))
    assert r.loan_share == D("0.333500") and r.own_share == D("0.666500")


def test_worked_example_fifo() -> None:
    """FIFO: the 20 takes the loan lot (earliest) and the first own lot; the last own lot remains."""
    (r,) = run(Feed().loan("L1", "10").own("10").own("10").out("20"), Method.FIFO)
    assert (r.loan_part, r.own_part) == (D("10.00"), D("10.00"))
    assert r.loan_balances_after == {"L1": D("0.00")} and r.own_balance_after == D("10.00")
    (r,) = run(Feed().own("10").own("10").loan("L1", "10").out("20"), Method.FIFO)
    assert (r.loan_part, r.own_part) == (D("0.00"), D("20.00"))
    assert r.loan_balances_after == {"L1": D("10.00")}


def test_worked_example_three_loans_fifo() -> None:
    (r,) = run(Feed().loan("L1", "10").loan("L2", "10").loan("L3", "10").out("20"), Method.FIFO)
    assert r.loan_parts == {"L1": D("10.00"), "L2": D("10.00")}
    assert r.loan_balances_after == {"L1": D("0.00"), "L2": D("0.00"), "L3": D("10.00")}


# --- seed 000 display columns -----------------------------------------------------------------------


def test_seed_fund_structure_and_source_two_loans_and_own() -> None:
    """Seed row: 资金结构 30% 20% 50%, 资金来源 as signed amounts."""
    (r,) = run(Feed().loan("A", "3000").loan("B", "2000").own("5000").out("10000"))
    assert r.fund_structure(per_loan=True) == ("30%", "20%", "50%")
    assert r.fund_source(per_loan=True) == (D("-3000.00"), D("-2000.00"), D("-5000.00"))
    assert r.fund_structure() == ("50%", "50%")
    comps = r.components(per_loan=True)
    assert [(c.source, c.order_no, c.share) for c in comps] == [
        (Source.LOAN, "A", D("0.300000")),
        (Source.LOAN, "B", D("0.200000")),
        (Source.OWN, None, D("0.500000")),
    ]


def test_fund_structure_30_70_and_places() -> None:
    (r,) = run(Feed().loan("L", "3000").own("7000").out("1000"))
    assert (r.loan_part, r.own_part) == (D("300.00"), D("700.00"))
    assert r.fund_structure() == ("30%", "70%")
    assert r.fund_structure(places=2) == ("30.00%", "70.00%")
    assert r.fund_source() == (D("-300.00"), D("-700.00"))


def test_fund_source_zero_is_not_negative_zero() -> None:
    (r,) = run(Feed().own("100").out("10"))
    assert r.fund_source() == (D("0.00"), D("-10.00"))
    assert str(r.fund_source()[0]) == "0.00"
    assert r.fund_structure() == ("0%", "100%")


def test_display_percentages_always_sum_to_100() -> None:
    (r,) = run(Feed().loan("L1", "10").loan("L2", "10").loan("L3", "10").out("30"))
    shares = r.fund_structure(per_loan=True)
    assert sum(D(s.rstrip("%")) for s in shares) == 100


# --- running share (pro-rata) -----------------------------------------------------------------------


def test_pro_rata_running_share_is_diluted_by_own_inflows() -> None:
    """Loan 100, spend 50 (all loan), own 150 arrives -> pools 50/150 -> spend 100 = 25 loan + 75 own."""
    r1, r2 = run(Feed().loan("L", "100").out("50").own("150").out("100"))
    assert (r1.loan_part, r1.own_part) == (D("50.00"), D("0.00"))
    assert (r2.loan_part, r2.own_part) == (D("25.00"), D("75.00"))
    assert r2.loan_balances_after == {"L": D("25.00")} and r2.own_balance_after == D("75.00")


def test_pro_rata_multiple_loans_same_loan_twice() -> None:
    """Two disbursements of the same order accumulate in one pool; a second loan gets its own pool."""
    (r,) = run(Feed().loan("L1", "100").loan("L1", "100").loan("L2", "200").own("400").out("400"))
    assert r.loan_parts == {"L1": D("100.00"), "L2": D("100.00")}
    assert r.own_part == D("200.00")


def test_pro_rata_tiny_payment_goes_to_tie_breaking_pool() -> None:
    """0.01 over three pools of 10: every exact share (0.0033) rounds to 0; the last pool absorbs 0.01."""
    (r,) = run(Feed().loan("L1", "10").loan("L2", "10").own("10").out("0.01"))
    assert r.loan_parts == {} and r.own_part == D("0.01")


def test_pro_rata_rounding_tie_between_loan_and_own_goes_to_own() -> None:
    """Loan 5, own 5, pay 0.01: both exact shares are 0.005 -> 0.01 each (sum 0.02); own absorbs -0.01."""
    (r,) = run(Feed().loan("L", "5").own("5").out("0.01"))
    assert (r.loan_part, r.own_part) == (D("0.01"), D("0.00"))


# --- overdraft --------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", list(Method))
def test_overdraft_uncovered_part_is_own_and_not_repaid_later(method: Method) -> None:
    r1, r2 = run(Feed().loan("L", "100").own("50").out("200").own("30").out("10"), method)
    assert (r1.loan_part, r1.own_part, r1.uncovered) == (D("100.00"), D("100.00"), D("50.00"))
    assert r1.balance_after == D("0.00")
    assert (r2.loan_part, r2.own_part, r2.uncovered) == (D("0.00"), D("10.00"), D("0.00"))
    assert r2.own_balance_after == D("20.00")


@pytest.mark.parametrize("method", list(Method))
def test_overdraft_on_empty_account(method: Method) -> None:
    tracer = FundTracer(method)
    (r,) = tracer.trace(Feed().out("5").txs)
    assert (r.own_part, r.uncovered, r.balance_after) == (D("5.00"), D("5.00"), D("0.00"))
    assert tracer.state.uncovered_total == D("5.00")


def test_payment_of_exactly_the_balance_is_not_overdraft() -> None:
    (r,) = run(Feed().loan("L", "70").own("30").out("100"))
    assert (r.loan_part, r.own_part, r.uncovered) == (D("70.00"), D("30.00"), D("0.00"))


# --- FIFO lot order ---------------------------------------------------------------------------------


def test_fifo_lot_order_across_loans_and_own() -> None:
    """Lots: L1 100, own 50, L2 100. Pay 120 -> L1 100 + own 20. Pay 100 -> own 30 + L2 70."""
    r1, r2 = run(Feed().loan("L1", "100").own("50").loan("L2", "100").out("120").out("100"), Method.FIFO)
    assert r1.loan_parts == {"L1": D("100.00")} and r1.own_part == D("20.00")
    assert r2.loan_parts == {"L2": D("70.00")} and r2.own_part == D("30.00")
    assert r2.loan_balances_after == {"L1": D("0.00"), "L2": D("30.00")}
    assert r2.own_balance_after == D("0.00")


def test_fifo_inflow_after_partial_spend_queues_behind() -> None:
    """A loan arriving after own money is only used once the older own lot is exhausted."""
    r1, r2 = run(Feed().own("100").out("60").loan("L", "500").own("10").out("60"), Method.FIFO)
    assert r1.own_part == D("60.00")
    assert (r2.own_part, r2.loan_parts) == (D("40.00"), {"L": D("20.00")})
    assert r2.loan_balances_after == {"L": D("480.00")} and r2.own_balance_after == D("10.00")


# --- flags, validation, state ----------------------------------------------------------------------


def test_excluded_repayment_still_consumes_funds() -> None:
    r1, r2 = run(Feed().loan("L", "100").out("40", excluded=True).out("60"))
    assert r1.excluded and r1.loan_part == D("40.00")
    assert not r2.excluded and r2.loan_part == D("60.00") and r2.balance_after == D("0.00")


def test_transaction_validation() -> None:
    with pytest.raises(TypeError):
        Transaction("s", T0, Direction.IN, 10.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cents"):
        Transaction("s", T0, Direction.IN, D("1.005"))
    with pytest.raises(ValueError, match="> 0"):
        Transaction("s", T0, Direction.OUT, D("0"))
    with pytest.raises(ValueError, match="order_no"):
        Transaction("s", T0, Direction.IN, D("1"), Source.LOAN)
    with pytest.raises(ValueError, match="source LOAN"):
        Transaction("s", T0, Direction.OUT, D("1"), Source.LOAN, "L")
    tx = Transaction("s", T0, "IN", D("7"), "LOAN", "L")  # type: ignore[arg-type]
    assert tx.direction is Direction.IN and tx.source is Source.LOAN and str(tx.amount) == "7.00"


def test_time_order_is_enforced_across_batches() -> None:
    tracer = FundTracer()
    tracer.apply(Transaction("a", T0, Direction.IN, D("1")))
    resumed = FundTracer.resume(TracingState.from_dict(tracer.state.to_dict()))
    with pytest.raises(ValueError, match="earlier"):
        resumed.apply(Transaction("b", T0 - timedelta(seconds=1), Direction.OUT, D("1")))
    assert resumed.apply(Transaction("c", T0, Direction.OUT, D("1"))) is not None


@pytest.mark.parametrize("method", list(Method))
def test_opening_balance_split(method: Method) -> None:
    state = TracingState.opening(method, own=D("70"), loans={"L0": D("30")})
    results, _ = trace(Feed().out("10").txs, method, state)
    if method is Method.PRO_RATA:
        assert (results[0].loan_part, results[0].own_part) == (D("3.00"), D("7.00"))
    else:  # opening own funds are the older lot
        assert (results[0].loan_part, results[0].own_part) == (D("0.00"), D("10.00"))


def test_state_round_trips_through_json() -> None:
    feed = Feed().loan("L1", "100").own("50").loan("L2", "20").out("30").own("1.23")
    for method in Method:
        _, state = trace(feed.txs, method)
        data = json.loads(json.dumps(state.to_dict()))
        assert all(isinstance(v, str) for v in (data["own"], data["method"], data["last_time"]))
        assert TracingState.from_dict(data) == state


def test_state_validation() -> None:
    with pytest.raises(ValueError, match="do not add up"):
        TracingState(Method.FIFO, own=D("5"), lots=((None, D("4")),))
    with pytest.raises(ValueError, match="only used by the FIFO"):
        TracingState(Method.PRO_RATA, own=D("5"), lots=((None, D("5")),))
    with pytest.raises(ValueError, match="version"):
        TracingState.from_dict({"version": "0", "method": "FIFO"})


def test_a_version_1_state_is_still_read() -> None:
    """Version 1 kept the pools in an object (rows written before version 2 are read as stored)."""
    old = {"version": "1", "method": "PRO_RATA", "own": "6.67", "loans": {"L1": "3.33", "L0": "1.00"}, "lots": [],
           "last_time": "2026-03-02T09:00:00+08:00", "uncovered_total": "0.00"}
    state = TracingState.from_dict(old)
    assert state.loans == (("L1", D("3.33")), ("L0", D("1.00"))) and state.own == D("6.67")
    assert TracingState.from_dict(state.to_dict()) == state and state.to_dict()["version"] == "2"
    with pytest.raises(ValueError, match="malformed"):
        TracingState.from_dict(state.to_dict() | {"loans": {"L1": "3.33"}})  # version 2 lists its pools
    with pytest.raises(ValueError, match="cannot continue"):
        FundTracer(Method.FIFO, TracingState(Method.PRO_RATA))


# --- allocate ---------------------------------------------------------------------------------------


def test_allocate_clamps_and_passes_residue_on() -> None:
    """0.02 over four pools of 0.01: exact 0.005 each rounds up to 0.01 (sum 0.04); the -0.02 cannot all
    go to one pool (it would go negative), so the last two pools give 0.00 each."""
    parts = allocate(D("0.02"), [D("0.01")] * 4, D("0.04"))
    assert parts == [D("0.01"), D("0.01"), D("0.00"), D("0.00")]


def test_allocate_exact_half_cent_rounds_up() -> None:
    assert allocate(D("0.01"), [D("1"), D("3")], D("4")) == [D("0.00"), D("0.01")]  # 0.0025 / 0.0075
    assert allocate(D("1.01"), [D("1"), D("1")], D("2")) == [D("0.51"), D("0.50")]  # 0.505 each
