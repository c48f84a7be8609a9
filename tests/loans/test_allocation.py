"""Repayment allocation and early-settlement quotes (SPEC F-LOAN-4)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.loans.allocation import (
    COMPONENTS,
    AllocationResult,
    AllocationStrategy,
    OutstandingInstallment,
    SettlementPosition,
    allocate_repayment,
    early_settlement_quote,
    outstanding_from_schedule,
)
from core.loans.schedule import RepaymentMethod, Schedule, ScheduleRequest, TermUnit, build_schedule

D = Decimal
DEFAULT = AllocationStrategy.PENALTY_FEE_INTEREST_PRINCIPAL


def owed(number: int, principal: str, interest: str, fee: str = "0", penalty: str = "0") -> OutstandingInstallment:
    return OutstandingInstallment(number, D(principal), D(interest), D(fee), D(penalty))


ARREARS = [
    owed(1, "100.00", "10.00", "2.00", "5.00"),  # 117.00 in all
    owed(2, "101.00", "9.00", "2.00", "0.00"),  # 112.00
    owed(3, "102.00", "8.00", "0.00", "0.00"),  # 110.00
]


def parts(result: AllocationResult, number: int) -> tuple[Decimal, ...]:
    line = next(line for line in result.lines if line.number == number)
    return (line.penalty, line.fee, line.interest, line.principal)


# ----------------------------------------------------------------------------- allocation


def test_default_order_clears_oldest_installment_first_penalty_to_principal() -> None:
    result = allocate_repayment(ARREARS, D("50.00"))
    assert parts(result, 1) == (D("5.00"), D("2.00"), D("10.00"), D("33.00"))
    assert parts(result, 2) == (0, 0, 0, 0)
    assert result.leftover == 0
    assert not result.lines[0].settled

    result = allocate_repayment(ARREARS, D("130.00"))
    assert result.lines[0].settled
    assert parts(result, 2) == (D("0.00"), D("2.00"), D("9.00"), D("2.00"))
    assert not result.lines[1].settled
    assert result.allocated == D("130.00")


def test_component_first_takes_every_penalty_then_fees_then_interest() -> None:
    result = allocate_repayment(ARREARS, D("20.00"), AllocationStrategy.COMPONENT_FIRST)
    assert parts(result, 1) == (D("5.00"), D("2.00"), D("10.00"), D("0.00"))
    assert parts(result, 2) == (D("0.00"), D("2.00"), D("1.00"), D("0.00"))
    assert parts(result, 3) == (0, 0, 0, 0)
    assert result.component_total("interest") == D("11.00")

    result = allocate_repayment(ARREARS, D("50.00"), AllocationStrategy.COMPONENT_FIRST)
    assert result.component_total("penalty") == D("5.00")
    assert result.component_total("fee") == D("4.00")
    assert result.component_total("interest") == D("27.00")
    assert result.component_total("principal") == D("14.00")
    assert parts(result, 1)[3] == D("14.00")


def test_principal_first() -> None:
    result = allocate_repayment(ARREARS, D("105.00"), AllocationStrategy.PRINCIPAL_FIRST)
    assert parts(result, 1) == (D("0.00"), D("0.00"), D("5.00"), D("100.00"))


def test_overpayment_leaves_a_leftover() -> None:
    result = allocate_repayment(ARREARS, D("400.00"))
    assert all(line.settled for line in result.lines)
    assert result.allocated == D("339.00")
    assert result.leftover == D("61.00")


def test_zero_payment_and_empty_outstanding() -> None:
    result = allocate_repayment(ARREARS, D("0"))
    assert result.leftover == 0 and all(line.total == 0 for line in result.lines)
    result = allocate_repayment([], D("10.00"))
    assert result.lines == () and result.leftover == D("10.00")


def test_installments_are_taken_oldest_first_whatever_the_input_order() -> None:
    result = allocate_repayment(list(reversed(ARREARS)), D("117.00"))
    assert [line.number for line in result.lines] == [1, 2, 3]
    assert result.lines[0].settled and result.lines[1].total == 0


def test_strategy_accepts_its_string_value() -> None:
    result = allocate_repayment(ARREARS, D("1.00"), "PRINCIPAL_FIRST")  # type: ignore[arg-type]
    assert result.strategy is AllocationStrategy.PRINCIPAL_FIRST
    assert parts(result, 1)[3] == D("1.00")


@pytest.mark.parametrize(
    ("outstanding", "amount", "match"),
    [
        (ARREARS, D("-1.00"), "non-negative"),
        (ARREARS, D("1.001"), "whole cents"),
        ([*ARREARS, owed(2, "1", "1")], D("1.00"), "more than once"),
    ],
)
def test_allocation_refuses_bad_input(outstanding: list[OutstandingInstallment], amount: Decimal, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        allocate_repayment(outstanding, amount)


def test_outstanding_installment_validation() -> None:
    with pytest.raises(ValueError, match="principal"):
        owed(1, "-1.00", "0")
    with pytest.raises(ValueError, match="interest"):
        owed(1, "1.00", "0.001")
    with pytest.raises(ValueError, match="positive integer"):
        owed(0, "1.00", "0")
    with pytest.raises(TypeError, match="float"):
        OutstandingInstallment(1, 1.0, D(0))  # type: ignore[arg-type]


cents = st.integers(0, 100_000).map(lambda c: D(c).scaleb(-2))


@st.composite
def outstanding_lists(draw: st.DrawFn) -> list[OutstandingInstallment]:
    numbers = draw(st.lists(st.integers(1, 60), max_size=8, unique=True))
    return [OutstandingInstallment(n, draw(cents), draw(cents), draw(cents), draw(cents)) for n in numbers]


@given(
    outstanding=outstanding_lists(),
    amount=st.integers(0, 500_000).map(lambda c: D(c).scaleb(-2)),
    strategy=st.sampled_from(list(AllocationStrategy)),
)
@settings(max_examples=2000, database=None)
def test_allocation_properties(
    outstanding: list[OutstandingInstallment], amount: Decimal, strategy: AllocationStrategy
) -> None:
    result = allocate_repayment(outstanding, amount, strategy)
    assert sum((line.total for line in result.lines), D(0)) + result.leftover == amount
    assert result.leftover >= 0
    ordered = sorted(outstanding, key=lambda inst: inst.number)
    assert [line.number for line in result.lines] == [inst.number for inst in ordered]
    for inst, line in zip(ordered, result.lines, strict=True):
        for component in COMPONENTS:
            paid = getattr(line, component)
            assert 0 <= paid <= getattr(inst, component)
            assert paid.as_tuple().exponent >= -2
        assert line.settled == all(getattr(line, c) == getattr(inst, c) for c in COMPONENTS)
    if result.leftover:
        assert all(line.settled for line in result.lines)

    # Greedy in strategy order: everything before the first partly-paid slot is paid in full,
    # everything after it is untouched.
    by_number = {line.number: line for line in result.lines}
    if strategy is AllocationStrategy.COMPONENT_FIRST:
        slots = [(inst, c) for c in COMPONENTS for inst in ordered]
    else:
        within = COMPONENTS if strategy is DEFAULT else ("principal", "interest", "fee", "penalty")
        slots = [(inst, c) for inst in ordered for c in within]
    short = False
    for inst, component in slots:
        due, paid = getattr(inst, component), getattr(by_number[inst.number], component)
        if short:
            assert paid == 0
        elif paid < due:
            short = True


# ----------------------------------------------------------------------------- early settlement

START = date(2024, 1, 15)
LOAN = build_schedule(
    ScheduleRequest(D("10000"), D("0.12"), 12, TermUnit.MONTH, RepaymentMethod.EQUAL_INSTALLMENT, START)
)
# Interest by installment: 100.00, 92.12, 84.15, ...; due on the 15th of each month from February.


def unpaid_from(first: int) -> list[OutstandingInstallment]:
    return [inst for inst in outstanding_from_schedule(LOAN) if inst.number >= first]


def test_settlement_mid_period_pro_rates_the_current_interest() -> None:
    quote = early_settlement_quote(LOAN, START, date(2024, 3, 30), unpaid_from(3))
    # Period 15 Mar - 15 Apr has 31 days, 15 elapsed: 84.15 x 15 / 31 = 40.717... -> 40.72.
    assert quote.current_installment == 3
    assert quote.principal == D("8415.14")
    assert quote.interest == D("40.72")
    assert (quote.fee, quote.penalty) == (0, 0)
    assert quote.total == D("8455.86")
    assert quote.waived_interest == D("661.86") - D("100.00") - D("92.12") - D("40.72")
    assert quote.settled_installments == tuple(range(3, 13))
    assert [line.position for line in quote.lines[:2]] == [SettlementPosition.CURRENT, SettlementPosition.FUTURE]


def test_settlement_charges_arrears_in_full_and_waives_the_current_fee() -> None:
    outstanding = [
        owed(1, "788.49", "100.00", fee="1.00", penalty="5.00"),
        owed(2, "796.37", "92.12", penalty="1.20"),
        *[
            OutstandingInstallment(i.number, i.principal, i.interest, fee=D("3.00"))
            for i in outstanding_from_schedule(LOAN)[2:]
        ],
    ]
    quote = early_settlement_quote(LOAN, START, date(2024, 3, 30), outstanding)
    assert quote.principal == D("10000.00")
    assert quote.interest == D("100.00") + D("92.12") + D("40.72")
    assert quote.fee == D("1.00")
    assert quote.penalty == D("6.20")
    assert quote.waived_fee == D("30.00")
    assert quote.total == D("10240.04")
    assert [line.position for line in quote.lines[:3]] == [
        SettlementPosition.PAST_DUE,
        SettlementPosition.PAST_DUE,
        SettlementPosition.CURRENT,
    ]
    assert quote.settled_installments == tuple(range(3, 13))


def test_settlement_on_a_due_date_charges_that_periods_full_interest() -> None:
    quote = early_settlement_quote(LOAN, START, date(2024, 4, 15), unpaid_from(3))
    assert quote.current_installment == 3
    assert quote.interest == D("84.15")


def test_settlement_on_the_disbursement_date_charges_no_interest() -> None:
    quote = early_settlement_quote(LOAN, START, START)
    assert quote.current_installment == 1
    assert quote.total == quote.principal == D("10000.00")
    assert quote.waived_interest == D("661.86")


def test_interest_already_paid_on_the_current_period_is_deducted() -> None:
    rest = unpaid_from(4)
    partly = [owed(3, "804.34", "64.15"), *rest]  # 20.00 of the 84.15 already paid
    assert early_settlement_quote(LOAN, START, date(2024, 3, 30), partly).interest == D("20.72")
    mostly = [owed(3, "804.34", "34.15"), *rest]  # 50.00 paid: more than accrued, nothing more due
    quote = early_settlement_quote(LOAN, START, date(2024, 3, 30), mostly)
    assert quote.interest == 0
    assert quote.lines[0].waived_interest == D("34.15")


def test_settlement_after_the_last_due_date_is_plain_arrears() -> None:
    quote = early_settlement_quote(LOAN, START, date(2025, 3, 1), unpaid_from(11))
    assert quote.current_installment is None
    assert quote.settled_installments == ()
    assert quote.total == sum((i.total for i in LOAN.installments[10:]), D(0))


def test_settlement_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="before the loan start"):
        early_settlement_quote(LOAN, START, START - timedelta(days=1))
    with pytest.raises(ValueError, match=r"\[13\]"):
        early_settlement_quote(LOAN, START, START, [owed(13, "1.00", "0")])
    with pytest.raises(ValueError, match=r"only 100\.00 was scheduled"):
        early_settlement_quote(LOAN, START, START, [owed(1, "788.49", "100.01")])


@st.composite
def settlements(draw: st.DrawFn) -> tuple[Schedule, date, date, list[OutstandingInstallment]]:
    unit = draw(st.sampled_from(list(TermUnit)))
    start = draw(st.dates(date(2000, 1, 1), date(2080, 12, 31)))
    req = ScheduleRequest(
        principal=D(draw(st.integers(100_00, 5_000_000_00))).scaleb(-2),
        annual_rate=D(draw(st.integers(0, 3600))).scaleb(-4),
        term=draw(st.integers(1, 60) if unit is TermUnit.MONTH else st.integers(1, 365)),
        unit=unit,
        method=draw(st.sampled_from(list(RepaymentMethod))),
        start_date=start,
    )
    schedule = build_schedule(req)
    last_due = schedule.installments[-1].due_date
    settle = start + timedelta(days=draw(st.integers(0, (last_due - start).days + 40)))
    outstanding = []
    for inst in schedule.installments:
        if draw(st.booleans()):  # unpaid, possibly with arrears charges
            outstanding.append(
                OutstandingInstallment(inst.number, inst.principal, inst.interest, fee=draw(cents), penalty=draw(cents))
            )
    return schedule, start, settle, outstanding


@given(case=settlements())
@settings(max_examples=1000, deadline=None, database=None)
def test_settlement_reconciles(case: tuple[Schedule, date, date, list[OutstandingInstallment]]) -> None:
    schedule, start, settle, outstanding = case
    quote = early_settlement_quote(schedule, start, settle, outstanding)
    assert quote.total == quote.principal + quote.interest + quote.fee + quote.penalty
    assert quote.total == sum((line.total for line in quote.lines), D(0))
    for component in ("principal", "interest", "fee", "penalty", "waived_interest", "waived_fee"):
        assert getattr(quote, component) == sum((getattr(line, component) for line in quote.lines), D(0))
    assert quote.principal == sum((inst.principal for inst in outstanding), D(0))
    assert quote.penalty == sum((inst.penalty for inst in outstanding), D(0))
    assert quote.interest + quote.waived_interest == sum((inst.interest for inst in outstanding), D(0))
    assert quote.fee + quote.waived_fee == sum((inst.fee for inst in outstanding), D(0))
    for line in quote.lines:
        for value in (line.principal, line.interest, line.fee, line.penalty, line.waived_interest):
            assert value >= 0 and value.as_tuple().exponent >= -2
        if line.position is SettlementPosition.PAST_DUE:
            assert line.due_date < settle and line.waived_interest == 0 and line.waived_fee == 0
        else:
            assert line.due_date >= settle and line.fee == 0
    if quote.current_installment is None:
        assert settle > schedule.installments[-1].due_date
        assert quote.settled_installments == ()
    else:
        current = schedule.installments[quote.current_installment - 1]
        assert current.due_date >= settle
        assert quote.current_installment == 1 or schedule.installments[quote.current_installment - 2].due_date < settle
        assert quote.settled_installments == tuple(range(quote.current_installment, len(schedule.installments) + 1))
