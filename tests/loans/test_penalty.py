"""Penalty interest and collection stages (SPEC F-LOAN-5)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.loans.penalty import (
    CollectionStage,
    PenaltyBase,
    accrue_penalty,
    collection_stage,
    penalty_base,
)
from core.loans.schedule import TermUnit

D = Decimal


@pytest.mark.parametrize(
    ("base", "rate", "days", "expected"),
    [
        ("1000.00", "0.0005", 10, "5.00"),
        ("333.33", "0.0005", 3, "0.50"),  # 0.499995 rounds up
        ("1.00", "0.005", 1, "0.01"),  # exactly half a cent rounds up
        ("1.00", "0.0049", 1, "0.00"),
        ("10000.00", "0.0005", 0, "0.00"),
        ("0.00", "0.0005", 30, "0.00"),
        ("5000000.00", "0.001", 365, "1825000.00"),
    ],
)
def test_accrue_penalty(base: str, rate: str, days: int, expected: str) -> None:
    result = accrue_penalty(D(base), D(rate), days)
    assert str(result) == expected


def test_penalty_is_rounded_once_over_the_span() -> None:
    # Posting nightly increments of the running total never drifts from the span's penalty;
    # rounding each day separately would (0.0333 rounds to 0.03 each day, 0.90 over 30 days).
    base, rate = D("66.66"), D("0.0005")
    posted = D("0.00")
    for day in range(1, 31):
        posted += accrue_penalty(base, rate, day) - posted
    assert posted == accrue_penalty(base, rate, 30) == D("1.00")
    assert accrue_penalty(base, rate, 1) * 30 == D("0.90")


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((D("100.00"), D("0.0005"), -1), ValueError, "days"),
        ((D("100.00"), D("0.0005"), True), ValueError, "days"),
        ((D("100.00"), 0.0005, 1), TypeError, "float"),
        ((D("100.00"), D("-0.0005"), 1), ValueError, "daily_penalty_rate"),
        ((D("-1.00"), D("0.0005"), 1), ValueError, "overdue_base"),
        ((D("1.001"), D("0.0005"), 1), ValueError, "whole cents"),
    ],
)
def test_accrue_penalty_refuses_bad_input(args: tuple[object, ...], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        accrue_penalty(*args)  # type: ignore[arg-type]


def test_penalty_base_is_configurable() -> None:
    assert penalty_base(D("800.00"), D("88.49")) == D("800.00")
    assert penalty_base(D("800.00"), D("88.49"), PenaltyBase.PRINCIPAL_AND_INTEREST) == D("888.49")
    assert penalty_base(D("800.00"), D("88.49"), "PRINCIPAL_AND_INTEREST") == D("888.49")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="overdue_interest"):
        penalty_base(D("800.00"), D("-1.00"))


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (-30, None),
        (-3, None),
        (-2, "S0"),
        (-1, "S0"),
        (0, "S0"),
        (1, "S1"),
        (7, "S1"),
        (8, "S2"),
        (15, "S2"),
        (16, "S3"),
        (30, "S3"),
        (31, "S4"),
        (365, "S4"),
    ],
)
def test_day_product_stages(days: int, expected: str | None) -> None:
    assert collection_stage(days, TermUnit.DAY) == expected


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (-3, None),
        (-2, "M0"),
        (0, "M0"),
        (1, "M1"),
        (30, "M1"),
        (31, "M2"),
        (60, "M2"),
        (61, "M3"),
        (90, "M3"),
        (91, "M4"),
        (1000, "M4"),
    ],
)
def test_month_product_stages(days: int, expected: str | None) -> None:
    assert collection_stage(days, TermUnit.MONTH) == expected


def test_stage_options() -> None:
    assert collection_stage(-5, TermUnit.DAY, reminder_days=5) is CollectionStage.S0
    assert collection_stage(-6, TermUnit.DAY, reminder_days=5) is None
    assert collection_stage(-1, "MONTH", reminder_days=0) is None  # type: ignore[arg-type]
    assert collection_stage(0, "MONTH", reminder_days=0) is CollectionStage.M0  # type: ignore[arg-type]
    assert isinstance(collection_stage(3, TermUnit.DAY), str)
    with pytest.raises(TypeError):
        collection_stage(1.5, TermUnit.DAY)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reminder_days"):
        collection_stage(1, TermUnit.DAY, reminder_days=-1)


@given(days=st.integers(-100, 2000), unit=st.sampled_from(list(TermUnit)))
@settings(max_examples=500, database=None)
def test_stages_never_go_backwards(days: int, unit: TermUnit) -> None:
    order = [None, "S0", "S1", "S2", "S3", "S4"] if unit is TermUnit.DAY else [None, "M0", "M1", "M2", "M3", "M4"]
    assert order.index(collection_stage(days, unit)) <= order.index(collection_stage(days + 1, unit))


@given(
    base=st.integers(0, 10**9).map(lambda c: D(c).scaleb(-2)),
    rate=st.integers(0, 10_000).map(lambda x: D(x).scaleb(-7)),
    days=st.integers(0, 1000),
)
@settings(max_examples=1000, database=None)
def test_penalty_matches_exact_half_up(base: Decimal, rate: Decimal, days: int) -> None:
    exact = Fraction(base) * Fraction(rate) * days
    expected = D((exact * 200 + 1) // 2).scaleb(-2)
    assert accrue_penalty(base, rate, days) == expected
