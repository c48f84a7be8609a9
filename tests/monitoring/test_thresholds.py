"""Diversion-rule thresholds: inclusive at each bound, just below fails (F-MON-3)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from core.monitoring.thresholds import DiversionRule, evaluate, evaluate_trace, is_violation
from core.monitoring.tracing import Direction, Source, Transaction, trace

D = Decimal
BOND = DiversionRule("LS", "债市", D("200"), D("0.05"))  # seed: 200 and 5 %
STOCK = DiversionRule("GS", "股市", D("100"), D("0.01"))  # seed: 100 and 1 %


@pytest.mark.parametrize(
    ("loan_part", "expected"),
    [(D("200.00"), True), (D("199.99"), False), (D("200.01"), True)],
)
def test_amount_threshold_inclusive(loan_part: Decimal, expected: bool) -> None:
    """Principal 1,000: the share bound (5 % = 50) is passed by all, so the amount decides."""
    assert is_violation(BOND, loan_part, D("1000")) is expected
    ev = evaluate(BOND, loan_part, D("1000"))
    assert ev.violation is expected and ev.amount_reached is expected and ev.share_reached


@pytest.mark.parametrize(
    ("loan_part", "expected"),
    [(D("500.00"), True), (D("499.99"), False), (D("500.01"), True)],
)
def test_share_threshold_inclusive(loan_part: Decimal, expected: bool) -> None:
    """Principal 10,000: 5 % = 500 while the amount bound (200) is passed by all, so the share decides."""
    assert is_violation(BOND, loan_part, D("10000")) is expected
    ev = evaluate(BOND, loan_part, D("10000"))
    assert ev.violation is expected and ev.share_reached is expected and ev.amount_reached


def test_reason_text_violation() -> None:
    ev = evaluate(BOND, D("2000"), D("10000"))
    assert ev.reason == "loan funds 2,000.00 ≥ 200.00 and 20.00% of loan ≥ 5.00%: violation of LS (债市)"
    assert ev.loan_share == D("0.200000")


def test_reason_text_below_share_is_truncated_not_rounded() -> None:
    """4.9999 % must not print as "5.00% < 5.00%"."""
    ev = evaluate(BOND, D("499.99"), D("10000"))
    assert ev.reason == "loan funds 499.99 ≥ 200.00 and 4.99% of loan < 5.00%: below threshold"


def test_reason_text_below_amount() -> None:
    ev = evaluate(STOCK, D("99.99"), D("1000"))
    assert ev.reason == "loan funds 99.99 < 100.00 and 9.99% of loan ≥ 1.00%: below threshold"


def test_reason_shows_precise_thresholds() -> None:
    rule = DiversionRule("X", "x", D("0"), D("0.0125"))
    ev = evaluate(rule, D("12.49"), D("1000"))
    assert not ev.violation and "1.24% of loan < 1.25%" in ev.reason
    assert is_violation(rule, D("12.50"), D("1000"))


def test_zero_loan_part_is_never_a_violation() -> None:
    rule = DiversionRule("Z", "zero", D("0"), D("0"))
    assert not is_violation(rule, D("0"), D("1000"))
    assert evaluate(rule, D("0"), D("1000")).reason.endswith("no loan funds used")
    assert is_violation(rule, D("0.01"), D("1000"))


def test_invalid_inputs() -> None:
    with pytest.raises(ValueError):
        DiversionRule("A", "a", D("-1"), D("0.01"))
    with pytest.raises(ValueError):
        DiversionRule("A", "a", D("1"), D("1.5"))
    with pytest.raises(TypeError):
        DiversionRule("A", "a", 1.0, D("0.01"))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        is_violation(BOND, D("1"), D("0"))
    with pytest.raises(ValueError):
        evaluate(BOND, D("-1"), D("10"))


def test_evaluate_trace_judges_each_loan_on_its_own() -> None:
    """A 1,000 payment funded 600 by A (principal 10,000: 6 %) and 300 by B (principal 100,000: 0.3 %):
    A violates the bond rule, B does not (parts of different loans are not added up)."""
    t = datetime(2024, 1, 1)
    txs = [
        Transaction("a", t, Direction.IN, D("6000"), Source.LOAN, "A"),
        Transaction("b", t, Direction.IN, D("3000"), Source.LOAN, "B"),
        Transaction("c", t, Direction.IN, D("1000")),
        Transaction("p", t, Direction.OUT, D("1000")),
        Transaction("r", t, Direction.OUT, D("1000"), excluded=True),
    ]
    results, _ = trace(txs)
    evs = evaluate_trace(BOND, results[0], {"A": D("10000"), "B": D("100000")})
    assert [(e.order_no, e.serial_no, e.loan_part, e.violation) for e in evs] == [
        ("A", "p", D("600.00"), True),
        ("B", "p", D("300.00"), False),
    ]
    assert evaluate_trace(BOND, results[1], {"A": D("10000"), "B": D("100000")}) == []
    with pytest.raises(KeyError):
        evaluate_trace(BOND, results[0], {"A": D("10000")})
