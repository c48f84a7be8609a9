"""Joint lending (F-PROD-1): each funder's part of every installment of a schedule. Pure, Decimal.

The two reconciliations a funder needs, both exact to the cent:
1. per installment, the funders' parts sum to the installment's principal (and interest);
2. over the schedule, a funder's principal parts sum to its share of the loan (`LoanFunder.amount`,
   itself from `split_by_shares`, remainder to the lead funder) — always, or the split is refused
   with ValueError rather than returned wrong — and its interest parts to its share of the
   schedule's total interest (rounded half up; the lead funder takes the remainder). The interest
   total is exact whenever the last installment's interest can absorb the catch-up (any real loan);
   on toy loans whose every installment carries a few cents of interest it may be a cent or two off,
   the lead funder holding the difference — the per-installment sums stay exact regardless.

Rounding each installment separately cannot give (2): the cents lost per period add up. So the split
is **cumulative**: a non-lead funder's parts up to installment k are `round(weight × cumulative
amount up to k)`, and its part of installment k is the difference from the previous cumulative. Then
its parts telescope to `round(weight × total)` exactly, each part is within one cent of its exact
share, and the lead funder (position 0) takes what is left of each installment — the documented
remainder funder, as in `core.loans.money.split_by_shares`.

The principal weight of a funder is its `LoanFunder.amount / loan amount` (so the principal parts
land on its stored amount exactly); the interest weight is its configured share.

Edge case: on a tiny installment (a few cents) the other funders' upward roundings could exceed the
installment, which would hand the lead a negative part. Then the funders whose cumulative is furthest
ahead of their exact share give back a cent each (ties: funder order) — their cumulative falls behind
by that cent and is caught up on the next installment, so (1) and (2) still hold and no part is ever
negative. If the lead funder's share is so small that even its total cannot absorb the others'
roundings (a lead with 0.01% of a loan), the principal split cannot reconcile and is refused; the
property tests draw leads of at least 10%, as joint-lending leads (牵头行) hold in practice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from core.loans.money import CENT, MONEY_CONTEXT, ZERO


@dataclass(frozen=True)
class FunderWeight:
    """One funder of a loan: principal weight (amount ÷ loan amount) and interest weight (share)."""

    key: int  # bank id
    principal_weight: Decimal
    interest_weight: Decimal


def weights(amount: Decimal, funders: Sequence[tuple[int, Decimal, Decimal]]) -> list[FunderWeight]:
    """`funders` as (bank id, funder amount, share in percent), lead funder first."""
    if not funders:
        raise ValueError("a loan needs at least one funder")
    total = sum((a for _, a, _ in funders), ZERO)
    if total != amount:
        raise ValueError(f"funder amounts sum to {total}, not the loan amount {amount}")
    shares = sum((s for _, _, s in funders), Decimal(0))
    if shares != 100:
        raise ValueError(f"funder shares sum to {shares}%, not 100%")
    return [FunderWeight(k, MONEY_CONTEXT.divide(a, amount), MONEY_CONTEXT.divide(s, Decimal(100)))
            for k, a, s in funders]


def _round(x: Decimal) -> Decimal:
    return x.quantize(CENT, ROUND_HALF_UP, MONEY_CONTEXT)


def split_column(values: Sequence[Decimal], weights_: Sequence[Decimal], finals: Sequence[Decimal] | None = None
                 ) -> list[list[Decimal]]:
    """Split each of `values` (installments, >= 0) among funders; index 0 is the lead (remainder).

    Returns parts[k][f]. `finals` (optional) pins each non-lead funder's total (e.g. its stored
    principal amount); otherwise its total is round(weight × sum(values)).
    """
    n_funders = len(weights_)
    if n_funders == 1:  # a sole funder holds every installment whole
        for k, value in enumerate(values):
            if value < 0:
                raise ValueError(f"installment {k + 1} is negative ({value})")
        return [[value] for value in values]
    others = range(1, n_funders)
    multiply = MONEY_CONTEXT.multiply
    out: list[list[Decimal]] = []
    given = [ZERO] * n_funders
    cumulative = ZERO
    last = len(values) - 1
    for k, value in enumerate(values):
        if value < 0:
            raise ValueError(f"installment {k + 1} is negative ({value})")
        cumulative += value
        exact = [ZERO] + [multiply(cumulative, weights_[f]) for f in others]
        if finals is not None and k == last:
            row = [ZERO] + [finals[f] - given[f] for f in others]
        else:
            row = [ZERO] + [exact[f].quantize(CENT, ROUND_HALF_UP, MONEY_CONTEXT) - given[f] for f in others]
        for f in others:
            if row[f] < 0:
                row[f] = ZERO
        rest = value - sum(row, ZERO)
        while rest < 0:  # tiny installment: take cents back from those furthest ahead
            f = max((f for f in others if row[f] > 0), key=lambda f: (given[f] + row[f] - exact[f], -f))
            row[f] -= CENT
            rest += CENT
        row[0] = rest
        for f in others:
            given[f] += row[f]
        out.append(row)
    return out


@dataclass(frozen=True)
class FunderPart:
    installment: int  # 1-based installment number
    key: int
    principal: Decimal
    interest: Decimal


def split_rows(principals: Sequence[Decimal], interests: Sequence[Decimal], funders: Sequence[FunderWeight],
               funder_amounts: Sequence[Decimal]) -> list[tuple[int, int, Decimal, Decimal]]:
    """(installment number, funder key, principal, interest) for every funder of every installment."""
    if len(principals) != len(interests):
        raise ValueError("principals and interests must have one value per installment")
    p_parts = split_column(principals, [f.principal_weight for f in funders], finals=list(funder_amounts))
    i_parts = split_column(interests, [f.interest_weight for f in funders])
    for j in range(len(funders)):  # never hand back a split that does not reconcile
        total = sum((row[j] for row in p_parts), ZERO)
        if total != funder_amounts[j] or any(row[j] < 0 for row in p_parts) or any(row[j] < 0 for row in i_parts):
            raise ValueError(f"funder {funders[j].key}: principal parts sum to {total}, not {funder_amounts[j]}; "
                             "the schedule cannot be split to the cent with these shares")
    keys = [f.key for f in funders]
    return [(k + 1, keys[j], p_row[j], i_row[j])
            for k, (p_row, i_row) in enumerate(zip(p_parts, i_parts, strict=True)) for j in range(len(keys))]


def split_schedule(principals: Sequence[Decimal], interests: Sequence[Decimal], funders: Sequence[FunderWeight],
                   funder_amounts: Sequence[Decimal]) -> list[FunderPart]:
    """Every funder's part of every installment, installment by installment, lead funder first."""
    return [FunderPart(*row) for row in split_rows(principals, interests, funders, funder_amounts)]
