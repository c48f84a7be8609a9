"""Money primitives shared by every loan calculation.

House rule (SPEC F-LOAN-3): money is ``decimal.Decimal``, never ``float``; every amount that is shown,
stored or paid is quantized to the cent with ROUND_HALF_UP.  All arithmetic here runs in a private
:data:`MONEY_CONTEXT` rather than the caller's thread-local context, so a caller that lowered the
precision (or changed the rounding) elsewhere cannot silently corrupt loan amounts.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import (
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)

__all__ = ["CENT", "MONEY_CONTEXT", "ZERO", "is_cents", "require_decimal", "split_by_shares", "to_cents"]

CENT = Decimal("0.01")
"""The smallest money unit; amounts are quantized to this exponent."""

ZERO = Decimal("0.00")
"""Zero money, already at cent exponent so it prints as ``0.00``."""

MONEY_CONTEXT = Context(prec=40, traps=[InvalidOperation, DivisionByZero, Overflow])
"""Arithmetic context for loan maths.

40 significant digits leave ample headroom: the largest products we form (an amount of up to 10^12
with cents times a rate with ~28 digits) stay exact or are rounded far below the cent.  Intermediate
rounding is banker's (the default) because only the final ``to_cents`` rounding is contractual.
"""


def require_decimal(value: object, name: str) -> Decimal:
    """Return ``value`` as a Decimal, refusing floats and bools outright.

    Floats are refused rather than converted because ``Decimal(0.1)`` is 0.1000000000000000055...: a
    float that reached a money calculation is a bug upstream, and converting it would hide the bug.
    ``int`` is accepted since it is exact.
    """
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    raise TypeError(f"{name} must be a decimal.Decimal (got {type(value).__name__}); floats are not money")


def to_cents(x: Decimal) -> Decimal:
    """Quantize ``x`` to the cent, rounding half up (0.005 -> 0.01, -0.005 -> -0.01).

    ROUND_HALF_UP is the banking convention the spec mandates; it is symmetric around zero, so a
    reversal (negative amount) rounds to exactly the negation of the original.
    """
    return require_decimal(x, "amount").quantize(CENT, ROUND_HALF_UP, MONEY_CONTEXT)


def is_cents(x: Decimal) -> bool:
    """True when ``x`` needs no rounding to be a money amount (at most two decimal places)."""
    return x.is_finite() and x == x.quantize(CENT, ROUND_HALF_UP, MONEY_CONTEXT)


def split_by_shares(amount: Decimal, shares: Mapping[str, Decimal], remainder_to: str) -> dict[str, Decimal]:
    """Split ``amount`` between joint-lending funders (SPEC F-PROD-1) by their configured shares.

    Each funder's part is ``amount * share`` rounded half up to the cent; the rounding remainder (a
    few cents at most) goes to ``remainder_to`` -- by convention the lead funder (牵头行), who holds
    the customer relationship and books the loan.  The parts therefore always sum to ``amount``
    exactly, which is what reconciliation with each funder needs.

    Edge case: for tiny amounts the others' upward roundings can exceed the lead's own part (e.g.
    0.05 split 4%/32%/32%/32%).  Rather than hand the lead a negative part, the excess cents are
    taken back one cent at a time from the other funders whose rounding added the most (ties: the
    order of ``shares``).  This only happens when ``amount * lead_share`` is below half a cent per
    other funder, so ordinary loans never hit it.

    The result preserves the iteration order of ``shares``.

    Raises:
        TypeError: ``amount`` or a share is not a Decimal.
        ValueError: ``amount`` is negative or has fractions of a cent; no funders; a share is not in (0, 1];
            the shares do not sum to exactly 1; ``remainder_to`` is not one of the funders.
    """
    amount = require_decimal(amount, "amount")
    if not is_cents(amount):
        raise ValueError(f"amount {amount} has fractions of a cent; quantize it with to_cents() first")
    if amount < 0:
        raise ValueError(f"amount {amount} is negative; split the absolute amount and negate the parts")
    amount = amount.quantize(CENT, ROUND_HALF_UP, MONEY_CONTEXT)  # exact; makes every part print x.xx
    if not shares:
        raise ValueError("shares is empty: at least one funder is needed")
    if remainder_to not in shares:
        raise ValueError(f"remainder_to {remainder_to!r} is not one of the funders {sorted(shares)}")
    total_share = Decimal(0)
    for funder, share in shares.items():
        share = require_decimal(share, f"share of {funder!r}")
        if not share.is_finite() or share <= 0 or share > 1:
            raise ValueError(f"share of {funder!r} is {share}; each share must be in (0, 1]")
        total_share = MONEY_CONTEXT.add(total_share, share)
    if total_share != 1:
        raise ValueError(f"shares sum to {total_share}, not exactly 1 (funders: {sorted(shares)})")

    parts: dict[str, Decimal] = {}
    excess: dict[str, Decimal] = {}  # how much half-up rounding added, per non-lead funder
    others_sum = Decimal(0)
    for funder, share in shares.items():
        if funder == remainder_to:
            continue
        exact = MONEY_CONTEXT.multiply(amount, share)
        part = exact.quantize(CENT, ROUND_HALF_UP, MONEY_CONTEXT)
        parts[funder] = part
        excess[funder] = part - exact
        others_sum += part
    lead = amount - others_sum

    # Only reachable for amounts too small to split fairly; see the docstring.
    if lead < 0:
        for funder in sorted(excess, key=lambda f: excess[f], reverse=True):
            if lead >= 0:
                break
            if parts[funder] > 0:
                parts[funder] -= CENT
                lead += CENT

    return {funder: (lead if funder == remainder_to else parts[funder]) for funder in shares}
