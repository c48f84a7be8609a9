"""Money primitives and joint-lending splits (SPEC F-LOAN-3 rounding, F-PROD-1 joint lending)."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.loans.money import CENT, is_cents, split_by_shares, to_cents

D = Decimal


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.005", "0.01"),
        ("0.0049999", "0.00"),
        ("2.675", "2.68"),  # the float 2.675 would round to 2.67
        ("-0.005", "-0.01"),  # symmetric: a reversal rounds to the negated amount
        ("1234567890.125", "1234567890.13"),
        ("7", "7.00"),
    ],
)
def test_to_cents_rounds_half_up(value: str, expected: str) -> None:
    result = to_cents(D(value))
    assert result == D(expected)
    assert str(result) == expected


def test_to_cents_accepts_int_and_refuses_float() -> None:
    assert str(to_cents(5)) == "5.00"  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="float"):
        to_cents(0.1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        to_cents(True)  # type: ignore[arg-type]


def test_is_cents() -> None:
    assert is_cents(D("1.10"))
    assert is_cents(D("1.1000"))  # numerically whole cents
    assert not is_cents(D("1.001"))
    assert not is_cents(D("NaN"))


def test_split_even() -> None:
    parts = split_by_shares(D("100.00"), {"lead": D("0.5"), "b": D("0.3"), "c": D("0.2")}, "lead")
    assert parts == {"lead": D("50.00"), "b": D("30.00"), "c": D("20.00")}
    assert list(parts) == ["lead", "b", "c"]


def test_split_remainder_goes_to_the_lead_funder() -> None:
    shares = {"bank_a": D("0.34"), "bank_b": D("0.33"), "bank_c": D("0.33")}
    # 33.0033 rounds to 33.00 twice; the lead gets 100.01 - 66.00 = 34.01 (its own share is 34.0034).
    assert split_by_shares(D("100.01"), shares, "bank_a") == {
        "bank_a": D("34.01"),
        "bank_b": D("33.00"),
        "bank_c": D("33.00"),
    }
    # The remainder follows remainder_to, wherever it is in the mapping.
    assert split_by_shares(D("100.01"), shares, "bank_c") == {
        "bank_a": D("34.00"),
        "bank_b": D("33.00"),
        "bank_c": D("33.01"),
    }


def test_split_remainder_can_be_negative_for_the_lead() -> None:
    # 0.30 x 0.35 = 0.105 -> 0.11 twice; the lead absorbs the over-rounding: 0.30 - 0.22 = 0.08.
    shares = {"lead": D("0.3"), "b": D("0.35"), "c": D("0.35")}
    assert split_by_shares(D("0.30"), shares, "lead") == {"lead": D("0.08"), "b": D("0.11"), "c": D("0.11")}


def test_split_never_gives_the_lead_a_negative_part() -> None:
    # Each other funder rounds 0.016 up to 0.02 (0.06 in all) while only 0.05 is paid.
    shares = {"lead": D("0.04"), "b": D("0.32"), "c": D("0.32"), "d": D("0.32")}
    parts = split_by_shares(D("0.05"), shares, "lead")
    assert sum(parts.values()) == D("0.05")
    assert parts == {"lead": D("0.00"), "b": D("0.01"), "c": D("0.02"), "d": D("0.02")}


def test_split_single_funder_and_zero_amount() -> None:
    assert split_by_shares(D("12.34"), {"only": D("1")}, "only") == {"only": D("12.34")}
    parts = split_by_shares(D("0"), {"a": D("0.5"), "b": D("0.5")}, "a")
    assert [str(part) for part in parts.values()] == ["0.00", "0.00"]
    assert str(split_by_shares(D("100"), {"only": D("1")}, "only")["only"]) == "100.00"


@pytest.mark.parametrize(
    ("amount", "shares", "remainder_to", "error", "match"),
    [
        (D("100"), {"a": D("0.5"), "b": D("0.49")}, "a", ValueError, "sum to 0.99"),
        (D("100"), {"a": D("0.6"), "b": D("0.6")}, "a", ValueError, "sum to 1.2"),
        (D("100"), {"a": D("1"), "b": D("0")}, "a", ValueError, "share of 'b'"),
        (D("100"), {"a": D("1.5"), "b": D("-0.5")}, "a", ValueError, "share of"),
        (D("100"), {"a": D("0.5"), "b": D("0.5")}, "c", ValueError, "remainder_to 'c'"),
        (D("100"), {}, "a", ValueError, "empty"),
        (D("100.001"), {"a": D("1")}, "a", ValueError, "fractions of a cent"),
        (D("-1"), {"a": D("1")}, "a", ValueError, "negative"),
        (D("100"), {"a": 0.5, "b": D("0.5")}, "a", TypeError, "float"),
        (100.0, {"a": D("1")}, "a", TypeError, "float"),
        (
            D("100"),
            {"a": D("0.3333333333"), "b": D("0.3333333333"), "c": D("0.3333333333")},
            "a",
            ValueError,
            "not exactly 1",
        ),
    ],
)
def test_split_refuses_bad_input(
    amount: Decimal, shares: dict[str, Decimal], remainder_to: str, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        split_by_shares(amount, shares, remainder_to)


@st.composite
def share_maps(draw: st.DrawFn) -> dict[str, Decimal]:
    """1-6 funders with positive shares summing to exactly 1 (up to 6 decimals)."""
    count = draw(st.integers(1, 6))
    scale = draw(st.sampled_from([100, 10_000, 1_000_000]))
    cuts = sorted(draw(st.sets(st.integers(1, scale - 1), min_size=count - 1, max_size=count - 1)))
    bounds = [0, *cuts, scale]
    return {f"funder{i}": D(hi - lo) / scale for i, (lo, hi) in enumerate(itertools.pairwise(bounds))}


@given(
    amount=st.integers(0, 10**11).map(lambda cents: D(cents).scaleb(-2)),
    shares=share_maps(),
    data=st.data(),
)
@settings(max_examples=2000, database=None)
def test_split_properties(amount: Decimal, shares: dict[str, Decimal], data: st.DataObject) -> None:
    lead = data.draw(st.sampled_from(sorted(shares)))
    parts = split_by_shares(amount, shares, lead)
    assert list(parts) == list(shares)
    assert sum(parts.values()) == amount
    for funder, part in parts.items():
        assert part >= 0
        assert part.as_tuple().exponent == -2
        exact = amount * shares[funder]
        if funder != lead:
            assert abs(part - exact) < CENT
            if amount * shares[lead] >= D("0.005") * (len(shares) - 1):  # the usual case
                assert part == to_cents(exact)
        else:
            assert abs(part - exact) <= D("0.005") * (len(shares) - 1)
