"""Diversion offset coefficient: cumulative diverted ÷ cumulative disbursed, per calendar day."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from core.monitoring.offset import DailyLoanFunds, offset_coefficients

D = Decimal


def day(n: int) -> date:
    return date(2024, 2, n)


def coefficients(points: list) -> list[tuple[date, Decimal]]:
    return [(p.day, p.coefficient) for p in points]


def test_cumulative_definition_with_carry_forward() -> None:
    """Day 1: 1,000 disbursed -> 0. Day 2: 100 diverted -> 100/1000. Day 3: no data -> carries 0.1.
    Day 4: 1,000 more disbursed, 50 diverted -> 150/2000 = 0.075."""
    data = [
        DailyLoanFunds(day(1), D("0"), D("1000")),
        DailyLoanFunds(day(2), D("100"), D("0")),
        DailyLoanFunds(day(4), D("50"), D("1000")),
    ]
    points = offset_coefficients(data)
    assert coefficients(points) == [
        (day(1), D("0.000000")),
        (day(2), D("0.100000")),
        (day(3), D("0.100000")),
        (day(4), D("0.075000")),
    ]
    assert (points[-1].diverted_to_date, points[-1].disbursed_to_date) == (D("150"), D("2000"))


def test_no_base_is_zero_and_range_extends_with_zeros_and_carries() -> None:
    data = [DailyLoanFunds(day(3), D("10"), D("0")), DailyLoanFunds(day(4), D("0"), D("40"))]
    assert coefficients(offset_coefficients(data, start=day(1), end=day(6))) == [
        (day(1), D("0.000000")),
        (day(2), D("0.000000")),
        (day(3), D("0.000000")),  # diverted but nothing disbursed yet: no base -> 0
        (day(4), D("0.250000")),
        (day(5), D("0.250000")),
        (day(6), D("0.250000")),
    ]


def test_duplicates_are_summed_and_order_does_not_matter() -> None:
    data = [
        DailyLoanFunds(day(2), D("1"), D("0")),
        DailyLoanFunds(day(1), D("0"), D("3")),
        DailyLoanFunds(day(2), D("1"), D("3")),
    ]
    assert coefficients(offset_coefficients(data)) == [(day(1), D("0.000000")), (day(2), D("0.333333"))]


def test_places_and_half_up_rounding() -> None:
    data = [DailyLoanFunds(day(1), D("2"), D("3")), DailyLoanFunds(day(2), D("0.0001"), D("0"))]
    assert coefficients(offset_coefficients(data, places=4)) == [(day(1), D("0.6667")), (day(2), D("0.6667"))]
    data = [DailyLoanFunds(day(1), D("1"), D("8"))]  # 0.125 -> 0.13 (half-up, not half-even 0.12)
    assert offset_coefficients(data, places=2)[0].coefficient == D("0.13")


def test_opening_totals_and_data_before_start() -> None:
    data = [DailyLoanFunds(day(1), D("100"), D("0")), DailyLoanFunds(day(5), D("0"), D("1000"))]
    points = offset_coefficients(data, start=day(3), end=day(5), opening_diverted=D("0"), opening_disbursed=D("1000"))
    assert coefficients(points) == [
        (day(3), D("0.100000")),
        (day(4), D("0.100000")),
        (day(5), D("0.050000")),
    ]


def test_empty_and_invalid() -> None:
    assert offset_coefficients([]) == []
    assert coefficients(offset_coefficients([], start=day(1), end=day(2))) == [
        (day(1), D("0.000000")),
        (day(2), D("0.000000")),
    ]
    with pytest.raises(ValueError):
        offset_coefficients([], start=day(2), end=day(1))
    with pytest.raises(ValueError):
        DailyLoanFunds(day(1), D("-1"), D("0"))
