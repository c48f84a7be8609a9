"""Repayment schedules (SPEC F-LOAN-3, F-LOAN-7): hand-checked examples and properties.

Interest expectations are computed with ``fractions.Fraction`` (exact rationals) and rounded half up,
independently of the implementation's Decimal tricks.
"""

from __future__ import annotations

import calendar
import itertools
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, Inexact, localcontext
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.loans.money import CENT
from core.loans.schedule import (
    Installment,
    RepaymentMethod,
    Schedule,
    ScheduleRequest,
    TermUnit,
    add_months,
    build_schedule,
    monthly_rate,
)

D = Decimal
EI = RepaymentMethod.EQUAL_INSTALLMENT
EP = RepaymentMethod.EQUAL_PRINCIPAL
IF = RepaymentMethod.INTEREST_FIRST
BULLET = RepaymentMethod.BULLET
MONTH = TermUnit.MONTH
DAY = TermUnit.DAY


def request(
    principal: str,
    rate: str,
    term: int,
    method: RepaymentMethod = EI,
    unit: TermUnit = MONTH,
    start: date = date(2024, 1, 15),
    day_count: int = 360,
) -> ScheduleRequest:
    return ScheduleRequest(D(principal), D(rate), term, unit, method, start, day_count)


def half_up(value: Fraction) -> Decimal:
    """Exact rational -> cents, half up (values here are non-negative)."""
    cents = (value * 100 * 2 + 1) // 2
    return D(cents).scaleb(-2)


def reference_add_months(start: date, k: int) -> date:
    """Independent month arithmetic: last day of the target month via 'first of next month - 1'."""
    index = start.year * 12 + start.month - 1 + k
    year, month = divmod(index, 12)
    month += 1
    next_first = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    last = (next_first - timedelta(days=1)).day
    return date(year, month, min(start.day, last))


# ----------------------------------------------------------------------------- hand-checked


def test_equal_installment_10000_at_12_percent_over_12_months() -> None:
    schedule = build_schedule(request("10000", "0.12", 12, EI, start=date(2024, 1, 31)))
    rows = schedule.installments
    assert len(rows) == 12
    assert rows[0] == Installment(
        number=1,
        due_date=date(2024, 2, 29),
        principal=D("788.49"),
        interest=D("100.00"),
        total=D("888.49"),
        remaining_principal=D("9211.51"),
    )
    assert (rows[1].principal, rows[1].interest, rows[1].remaining_principal) == (
        D("796.37"),
        D("92.12"),
        D("8415.14"),
    )
    assert all(row.total == D("888.49") for row in rows[:-1])
    assert rows[-1] == Installment(12, date(2025, 1, 31), D("879.67"), D("8.80"), D("888.47"), D("0.00"))
    assert schedule.total_principal == D("10000.00")
    assert schedule.total_interest == D("661.86")
    assert schedule.total == D("10661.86")
    assert str(rows[0].fee) == "0.00"


def test_equal_principal_12000_over_12_months() -> None:
    schedule = build_schedule(request("12000", "0.12", 12, EP))
    rows = schedule.installments
    assert [row.principal for row in rows] == [D("1000.00")] * 12
    assert [row.interest for row in rows] == [D(10 * k) for k in range(12, 0, -1)]
    assert rows[0].total == D("1120.00")
    assert rows[-1].total == D("1010.00")
    assert [row.remaining_principal for row in rows] == [D(1000 * k) for k in range(11, -1, -1)]
    assert schedule.total_interest == D("780.00")
    assert schedule.total == D("12780.00")


def test_equal_principal_last_absorbs_rounding() -> None:
    rows = build_schedule(request("100", "0", 3, EP)).installments
    assert [row.principal for row in rows] == [D("33.33"), D("33.33"), D("33.34")]
    rows = build_schedule(request("100", "0", 6, EP)).installments  # 16.666.. rounds up to 16.67
    assert [row.principal for row in rows] == [D("16.67")] * 5 + [D("16.65")]


def test_interest_first_pays_principal_at_the_end() -> None:
    schedule = build_schedule(request("10000", "0.12", 12, IF))
    rows = schedule.installments
    assert all(row.principal == 0 and row.interest == D("100.00") for row in rows[:-1])
    assert all(row.remaining_principal == D("10000.00") for row in rows[:-1])
    assert (rows[-1].principal, rows[-1].total, rows[-1].remaining_principal) == (
        D("10000.00"),
        D("10100.00"),
        D("0.00"),
    )
    assert schedule.total_interest == D("1200.00")


def test_bullet_month_term_is_one_installment_with_all_interest() -> None:
    schedule = build_schedule(request("10000", "0.12", 12, BULLET, start=date(2024, 2, 29)))
    assert schedule.installments == (
        Installment(1, date(2025, 2, 28), D("10000.00"), D("1200.00"), D("11200.00"), D("0.00")),
    )
    assert schedule.total == D("11200.00")


def test_bullet_of_30_days() -> None:
    start = date(2024, 1, 15)
    on_360 = build_schedule(request("10000", "0.0365", 30, BULLET, DAY, start))
    # 10000 x 0.0365 / 360 x 30 = 30.41666...
    assert on_360.installments == (
        Installment(1, date(2024, 2, 14), D("10000.00"), D("30.42"), D("10030.42"), D("0.00")),
    )
    on_365 = build_schedule(request("10000", "0.0365", 30, BULLET, DAY, start, day_count=365))
    assert on_365.installments[0].interest == D("30.00")


@pytest.mark.parametrize("method", list(RepaymentMethod))
def test_day_terms_are_single_period_for_every_method(method: RepaymentMethod) -> None:
    schedule = build_schedule(request("5000", "0.18", 7, method, DAY))
    assert len(schedule.installments) == 1
    assert schedule.installments[0].due_date == date(2024, 1, 22)
    assert schedule.installments[0].interest == D("17.50")  # 5000 x 0.18 x 7 / 360


def test_zero_rate_equal_installment() -> None:
    rows = build_schedule(request("100", "0", 3, EI)).installments
    assert [row.total for row in rows] == [D("33.33"), D("33.33"), D("33.34")]
    assert all(row.interest == 0 for row in rows)


def test_half_cent_interest_rounds_up() -> None:
    # 1.50 x 4 % / 12 = 0.005 exactly: a truncated monthly rate (0.00333...) would give 0.00.
    assert build_schedule(request("1.50", "0.04", 1, IF)).installments[0].interest == D("0.01")
    assert build_schedule(request("10.50", "0.04", 1, EP)).installments[0].interest == D("0.04")
    assert monthly_rate(D("0.04")) > Fraction(4, 1200)


def test_single_month_equal_installment() -> None:
    rows = build_schedule(request("1000", "0.12", 1, EI)).installments
    assert rows == (Installment(1, date(2024, 2, 15), D("1000.00"), D("10.00"), D("1010.00"), D("0.00")),)


def test_result_does_not_depend_on_the_callers_decimal_context() -> None:
    req = request("123456.78", "0.0437", 36, EI, start=date(2023, 5, 31))
    expected = build_schedule(req)
    with localcontext() as ctx:
        ctx.prec = 5
        ctx.rounding = ROUND_FLOOR
        ctx.traps[Inexact] = True
        assert build_schedule(req) == expected


def test_too_small_principal_is_refused_rather_than_over_repaid() -> None:
    with pytest.raises(ValueError, match="too small"):
        build_schedule(request("0.90", "0", 60, EI))
    with pytest.raises(ValueError, match="too small"):
        build_schedule(request("0.90", "0", 60, EP))


# ----------------------------------------------------------------------------- month arithmetic


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2023, 1, 31), 1, date(2023, 2, 28)),
        (date(2024, 1, 31), 2, date(2024, 3, 31)),
        (date(2024, 1, 31), 3, date(2024, 4, 30)),
        (date(2024, 8, 31), 6, date(2025, 2, 28)),
        (date(2000, 2, 29), 12, date(2001, 2, 28)),
        (date(2000, 2, 29), 48, date(2004, 2, 29)),
        (date(2100, 1, 29), 1, date(2100, 2, 28)),  # 2100 is not a leap year
        (date(2024, 12, 15), 1, date(2025, 1, 15)),
        (date(2024, 3, 31), -1, date(2024, 2, 29)),
        (date(2024, 1, 15), 0, date(2024, 1, 15)),
    ],
)
def test_add_months(start: date, months: int, expected: date) -> None:
    assert add_months(start, months) == expected


def test_due_dates_roll_from_the_start_date_without_drift() -> None:
    rows = build_schedule(request("6000", "0.1", 6, EP, start=date(2024, 1, 31))).installments
    assert [row.due_date for row in rows] == [
        date(2024, 2, 29),
        date(2024, 3, 31),
        date(2024, 4, 30),
        date(2024, 5, 31),
        date(2024, 6, 30),
        date(2024, 7, 31),
    ]


def test_century_years_are_not_leap_years_unless_divisible_by_400() -> None:
    for start, february in [(date(2100, 1, 31), date(2100, 2, 28)), (date(2000, 1, 31), date(2000, 2, 29))]:
        rows = build_schedule(ScheduleRequest(D(200), D("0.1"), 2, MONTH, EP, start)).installments
        assert rows[0].due_date == february


@given(
    start=st.dates(date(1890, 1, 1), date(2400, 12, 31)),
    months=st.integers(-600, 600),
)
@settings(max_examples=500, database=None)
def test_add_months_matches_reference(start: date, months: int) -> None:
    assert add_months(start, months) == reference_add_months(start, months)


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"principal": 10000.0}, TypeError, "float"),
        ({"principal": D("100.001")}, ValueError, "whole cents"),
        ({"principal": D("0")}, ValueError, "positive"),
        ({"annual_rate": D("12")}, ValueError, "fraction"),
        ({"annual_rate": D("-0.01")}, ValueError, "fraction"),
        ({"annual_rate": 0.12}, TypeError, "float"),
        ({"term": 0}, ValueError, "term"),
        ({"term": True}, ValueError, "term"),
        ({"day_count": 366}, ValueError, "day_count"),
        ({"start_date": datetime(2024, 1, 1, 9, 0)}, TypeError, "datetime.date"),
        ({"unit": "WEEK"}, ValueError, "WEEK"),
    ],
)
def test_request_validation(kwargs: dict[str, object], error: type[Exception], match: str) -> None:
    base: dict[str, object] = {
        "principal": D("1000"),
        "annual_rate": D("0.1"),
        "term": 12,
        "unit": MONTH,
        "method": EI,
        "start_date": date(2024, 1, 1),
    }
    with pytest.raises(error, match=match):
        ScheduleRequest(**{**base, **kwargs})  # type: ignore[arg-type]


def test_request_normalises_principal_and_accepts_enum_values() -> None:
    req = ScheduleRequest(D("1000"), D("0.1"), 12, "MONTH", "EQUAL_PRINCIPAL", date(2024, 1, 1))  # type: ignore[arg-type]
    assert str(req.principal) == "1000.00"
    assert req.unit is MONTH
    assert req.method is EP


# ----------------------------------------------------------------------------- properties

principals = st.integers(100_00, 5_000_000_00).map(lambda cents: D(cents).scaleb(-2))
annual_rates = st.one_of(
    st.integers(0, 3600).map(lambda bp: D(bp).scaleb(-4)),  # whole basis points: 0.0435
    st.integers(0, 360_000).map(lambda x: D(x).scaleb(-6)),  # finer: 0.043725
)


def month_ends(first_year: int, last_year: int) -> st.SearchStrategy[date]:
    """Dates on the last four days of a month: the ones month arithmetic gets wrong."""
    return st.builds(
        lambda year, month, back: date(year, month, calendar.monthrange(year, month)[1] - back),
        st.integers(first_year, last_year),
        st.integers(1, 12),
        st.integers(0, 3),
    )


month_end_starts = month_ends(2000, 2080)
starts = st.one_of(st.dates(date(2000, 1, 1), date(2080, 12, 31)), month_end_starts)


@st.composite
def loan_requests(draw: st.DrawFn) -> ScheduleRequest:
    unit = draw(st.sampled_from(list(TermUnit)))
    term = draw(st.integers(1, 60) if unit is MONTH else st.integers(1, 365))
    return ScheduleRequest(
        principal=draw(principals),
        annual_rate=draw(annual_rates),
        term=term,
        unit=unit,
        method=draw(st.sampled_from(list(RepaymentMethod))),
        start_date=draw(starts),
        day_count=draw(st.sampled_from([360, 365])),
    )


def annuity_payment(principal: Decimal, annual_rate: Decimal, n: int) -> Decimal:
    """Closed-form annuity payment at 60 digits, independently of the implementation."""
    with localcontext() as ctx:
        ctx.prec = 60
        r = annual_rate / 12
        if r == 0:
            return principal / n
        growth = (1 + r) ** n
        return principal * r * growth / (growth - 1)


def assert_money(value: Decimal) -> None:
    assert isinstance(value, Decimal)
    assert value.is_finite()
    assert value.as_tuple().exponent >= -2, value  # at most two decimal places


def check_invariants(req: ScheduleRequest, schedule: Schedule) -> None:
    rows = schedule.installments
    principal = req.principal
    assert [row.number for row in rows] == list(range(1, len(rows) + 1))
    assert sum(row.principal for row in rows) == principal
    assert rows[-1].remaining_principal == 0
    balance = principal
    for row in rows:
        for value in (row.principal, row.interest, row.fee, row.total, row.remaining_principal):
            assert_money(value)
            assert value >= 0
        assert row.total == row.principal + row.interest + row.fee
        balance -= row.principal
        assert row.remaining_principal == balance
    dues = [row.due_date for row in rows]
    assert all(a < b for a, b in itertools.pairwise(dues))
    assert dues[0] > req.start_date
    assert schedule.total_principal == principal
    assert schedule.total_interest == sum(row.interest for row in rows)
    assert schedule.total == sum(row.total for row in rows)
    for value in (schedule.total_principal, schedule.total_interest, schedule.total):
        assert_money(value)


@given(req=loan_requests())
@settings(max_examples=3000, deadline=None, database=None)
def test_schedule_properties(req: ScheduleRequest) -> None:
    schedule = build_schedule(req)
    check_invariants(req, schedule)
    rows = schedule.installments
    p, a, n = Fraction(req.principal), Fraction(req.annual_rate), req.term

    if req.unit is DAY:
        assert rows == (
            Installment(
                1,
                req.start_date + timedelta(days=n),
                req.principal,
                half_up(p * a * n / req.day_count),
                rows[0].total,
                D("0.00"),
            ),
        )
        return
    if req.method is BULLET:
        assert len(rows) == 1
        assert rows[0].due_date == reference_add_months(req.start_date, n)
        assert rows[0].interest == half_up(p * a * n / 12)
        return

    assert len(rows) == n
    assert [row.due_date for row in rows] == [reference_add_months(req.start_date, k) for k in range(1, n + 1)]
    opening = [req.principal] + [row.remaining_principal for row in rows[:-1]]
    if req.method is IF:
        assert all(row.interest == half_up(p * a / 12) for row in rows)
        assert all(row.principal == 0 for row in rows[:-1])
        return
    # Equal installment and equal principal: interest on the opening balance, exactly rounded.
    assert [row.interest for row in rows] == [half_up(Fraction(b) * a / 12) for b in opening]
    if req.method is EP:
        part = half_up(p / n)
        assert all(row.principal == part for row in rows[:-1])
        return
    payment = rows[0].total
    assert all(row.total == payment for row in rows[:-1])
    assert abs(payment - annuity_payment(req.principal, req.annual_rate, n)) <= CENT
    if n > 1:
        assert payment == annuity_payment(req.principal, req.annual_rate, n).quantize(CENT, ROUND_HALF_UP)


@given(
    start=st.one_of(st.dates(date(1890, 1, 1), date(2400, 12, 31)), month_ends(1890, 2400)),
    n=st.integers(1, 120),
)
@settings(max_examples=500, database=None)
def test_monthly_due_dates_match_add_months(start: date, n: int) -> None:
    rows = build_schedule(ScheduleRequest(D(n * 100), D("0.1"), n, MONTH, EP, start)).installments
    assert [row.due_date for row in rows] == [add_months(start, k) for k in range(1, n + 1)]
