"""AML and fund-concentration rules: positive and negative cases at every edge."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from core.monitoring.aml import (
    AmlRule,
    AmlTransaction,
    ConcentrationParams,
    LargeCashParams,
    RapidInOutParams,
    fund_concentration,
    large_cash,
    rapid_in_out,
)
from core.monitoring.tracing import Direction

D = Decimal
T0 = datetime(2024, 5, 6, 9, 0)
IN, OUT = Direction.IN, Direction.OUT


def tx(
    sn: str,
    minutes: float,
    direction: Direction,
    amount: str,
    channel: str = "TRANSFER",
    counterparty: str | None = None,
) -> AmlTransaction:
    return AmlTransaction(sn, T0 + timedelta(minutes=minutes), direction, D(amount), channel, counterparty)


# --- large cash -------------------------------------------------------------------------------------

CASH = LargeCashParams(single_threshold=D("50000"), daily_threshold=D("50000"))


def test_large_cash_single_at_threshold_hits() -> None:
    (hit,) = large_cash([tx("a", 0, IN, "50000", "CASH")], CASH)
    assert hit.rule is AmlRule.LARGE_CASH_SINGLE and hit.transaction_ids == ("a",)
    assert hit.reason == "cash deposit 50,000.00 ≥ 50,000.00"


def test_large_cash_single_just_below_threshold_misses() -> None:
    assert large_cash([tx("a", 0, OUT, "49999.99", "CASH")], CASH) == []


def test_large_cash_ignores_non_cash_channels_and_matches_case_insensitively() -> None:
    assert large_cash([tx("a", 0, IN, "90000", "TRANSFER")], CASH) == []
    assert len(large_cash([tx("a", 0, IN, "90000", "cash")], CASH)) == 1


def test_large_cash_daily_total_at_threshold_hits() -> None:
    txs = [tx("a", 0, IN, "30000", "CASH"), tx("b", 60, IN, "20000", "CASH")]
    (hit,) = large_cash(txs, CASH)
    assert hit.rule is AmlRule.LARGE_CASH_DAILY and hit.transaction_ids == ("a", "b")
    assert hit.amount == D("50000")
    assert hit.reason == "cash deposits on 2024-05-06 total 50,000.00 ≥ 50,000.00 (2 transactions)"


def test_large_cash_daily_total_just_below_misses() -> None:
    txs = [tx("a", 0, IN, "30000", "CASH"), tx("b", 60, IN, "19999.99", "CASH")]
    assert large_cash(txs, CASH) == []


def test_large_cash_days_and_directions_are_separate_unless_combined() -> None:
    txs = [tx("a", 0, IN, "30000", "CASH"), tx("b", 60, OUT, "20000", "CASH")]
    assert large_cash(txs, CASH) == []
    combined = LargeCashParams(D("50000"), D("50000"), combine_directions=True)
    (hit,) = large_cash(txs, combined)
    assert hit.transaction_ids == ("a", "b") and hit.reason.startswith("cash transactions on")
    next_day = [tx("a", 0, IN, "30000", "CASH"), tx("b", 24 * 60, IN, "20000", "CASH")]
    assert large_cash(next_day, CASH) == []


def test_large_cash_single_is_not_reported_again_as_daily_but_groups_are() -> None:
    assert [h.rule for h in large_cash([tx("a", 0, IN, "60000", "CASH")], CASH)] == [AmlRule.LARGE_CASH_SINGLE]
    hits = large_cash([tx("a", 0, IN, "60000", "CASH"), tx("b", 5, IN, "1", "CASH")], CASH)
    assert [h.rule for h in hits] == [AmlRule.LARGE_CASH_SINGLE, AmlRule.LARGE_CASH_DAILY]


# --- rapid in-out -----------------------------------------------------------------------------------

RAPID = RapidInOutParams(window=timedelta(hours=24), ratio=D("0.9"), min_amount=D("10000"))


def test_rapid_in_out_at_window_end_and_ratio_hits() -> None:
    txs = [tx("in", 0, IN, "10000"), tx("o1", 60, OUT, "4000"), tx("o2", 24 * 60, OUT, "5000")]
    (hit,) = rapid_in_out(txs, RAPID)
    assert hit.rule is AmlRule.RAPID_IN_OUT and hit.transaction_ids == ("in", "o1", "o2")
    assert hit.amount == D("9000") and hit.time == T0 + timedelta(hours=24)
    assert "totalling 9,000.00 ≥ 90%" in hit.reason


def test_rapid_in_out_just_after_window_misses() -> None:
    txs = [tx("in", 0, IN, "10000"), tx("o1", 60, OUT, "4000"), tx("o2", 24 * 60 + 1 / 60, OUT, "5000")]
    assert rapid_in_out(txs, RAPID) == []


def test_rapid_in_out_just_below_ratio_misses() -> None:
    txs = [tx("in", 0, IN, "10000"), tx("o", 10, OUT, "8999.99")]
    assert rapid_in_out(txs, RAPID) == []


def test_rapid_in_out_min_amount_edge() -> None:
    assert len(rapid_in_out([tx("in", 0, IN, "10000"), tx("o", 1, OUT, "9000")], RAPID)) == 1
    assert rapid_in_out([tx("in", 0, IN, "9999.99"), tx("o", 1, OUT, "9999.99")], RAPID) == []


def test_rapid_in_out_ignores_earlier_outflows_and_stops_at_the_crossing() -> None:
    txs = [
        tx("o0", 0, OUT, "9000"),
        tx("in", 1, IN, "10000"),
        tx("x", 2, IN, "5"),
        tx("o1", 3, OUT, "9500"),
        tx("o2", 4, OUT, "100"),
    ]
    (hit,) = rapid_in_out(txs, RAPID)
    assert hit.transaction_ids == ("in", "o1")


# --- fund concentration -----------------------------------------------------------------------------

CONC = ConcentrationParams(
    min_counterparties=3,
    small_amount_cap=D("1000"),
    collect_window=timedelta(hours=24),
    outflow_window=timedelta(hours=12),
    ratio=D("0.9"),
)


def small_inflows(*counterparties: str, amount: str = "1000", spacing: float = 60) -> list[AmlTransaction]:
    return [tx(f"i{k}", k * spacing, IN, amount, counterparty=c) for k, c in enumerate(counterparties)]


def test_concentration_hits_at_every_edge() -> None:
    """3 inflows of exactly the cap from 3 parties spread over exactly 24 h, then exactly 90 % of the
    3,000 leaves exactly 12 h after the last inflow."""
    txs = small_inflows("A", "B", "C", spacing=12 * 60)
    txs.append(tx("out", 36 * 60, OUT, "2700"))
    (hit,) = fund_concentration(txs, CONC)
    assert hit.rule is AmlRule.FUND_CONCENTRATION
    assert hit.transaction_ids == ("i0", "i1", "i2", "out")
    assert hit.reason.startswith("3 inflows ≤ 1,000.00 from 3 counterparties totalling 3,000.00")


def test_concentration_too_few_distinct_counterparties() -> None:
    txs = [*small_inflows("A", "A", "B"), tx("out", 200, OUT, "2700")]
    assert fund_concentration(txs, CONC) == []


def test_concentration_inflow_above_cap_is_not_small() -> None:
    txs = [*small_inflows("A", "B"), tx("i9", 150, IN, "1000.01", counterparty="C"), tx("out", 200, OUT, "2700")]
    assert fund_concentration(txs, CONC) == []


def test_concentration_outflow_just_below_ratio() -> None:
    txs = [*small_inflows("A", "B", "C"), tx("out", 200, OUT, "2699.99")]
    assert fund_concentration(txs, CONC) == []


def test_concentration_outflow_just_too_late() -> None:
    txs = [*small_inflows("A", "B", "C"), tx("out", 120 + 12 * 60 + 1 / 60, OUT, "2700")]
    assert fund_concentration(txs, CONC) == []


def test_concentration_inflows_spread_beyond_collect_window() -> None:
    txs = [*small_inflows("A", "B", "C", spacing=12 * 60 + 1 / 60), tx("out", 25 * 60, OUT, "2700")]
    assert fund_concentration(txs, CONC) == []


def test_concentration_ignores_inflows_without_counterparty_and_prefers_latest_cluster() -> None:
    """Old inflow from Z falls outside the 24 h window of the latest cluster; an anonymous inflow is
    ignored; the hit lists only the qualifying cluster."""
    txs = [
        tx("old", 0, IN, "500", counterparty="Z"),
        tx("anon", 30 * 60, IN, "500"),
        tx("a", 31 * 60, IN, "800", counterparty="A"),
        tx("b", 32 * 60, IN, "800", counterparty="B"),
        tx("c", 33 * 60, IN, "800", counterparty="C"),
        tx("out", 34 * 60, OUT, "2200"),
    ]
    (hit,) = fund_concentration(txs, CONC)
    assert hit.transaction_ids == ("a", "b", "c", "out")


# --- validation -------------------------------------------------------------------------------------


def test_inputs_must_be_in_time_order() -> None:
    with pytest.raises(ValueError, match="time order"):
        rapid_in_out([tx("a", 5, IN, "1"), tx("b", 0, OUT, "1")], RAPID)


def test_parameter_validation() -> None:
    with pytest.raises(ValueError):
        RapidInOutParams(timedelta(hours=1), D("1.5"), D("1"))
    with pytest.raises(ValueError):
        LargeCashParams(D("0"), D("1"))
    with pytest.raises(ValueError):
        ConcentrationParams(1, D("1"), timedelta(1), timedelta(1), D("0.5"))
    with pytest.raises(ValueError):
        AmlTransaction("a", T0, IN, D("0"))
