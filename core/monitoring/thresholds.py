"""Diversion-rule thresholds (F-MON-3, seed 000 §3.6 规则管理).

A diversion type (异化类型: stock market, bonds, real estate, …) carries two lower bounds:
贷款资金使用金额下限 (minimum amount of loan funds used) and 贷款资金使用比例下限 (minimum share of the
loan). Once a detector has classified a payment into the type, the payment is a **violation** for a
loan when the part of the payment funded by that loan (from ``tracing.py``) reaches *both* bounds:

    loan_part >= min_loan_amount   AND   loan_part / loan_principal >= min_loan_share

Decisions documented here because they change outcomes at the edges:
    * Both comparisons are **inclusive**: a payment exactly at a threshold is a violation. The seed's
      wording is "下限" (lower limit), i.e. the limit itself is reached.
    * The share is of the loan's **principal** (the disbursed amount), not of the payment: 1 % = 0.01.
      It is compared exactly (``loan_part >= min_share * principal``), never through a rounded ratio.
    * A payment with no loan money (``loan_part == 0``) is never a violation, even with zero
      thresholds: without loan funds there is nothing diverted.
    * With several loans in one payment each loan is judged on its own part and principal
      (``evaluate_trace``); parts of different loans are not added up.
    * Evaluation is pure: whether a rule is effective, and whether a payment is excluded (e.g. a loan
      repayment), is decided by the caller; ``evaluate_trace`` skips ``excluded`` results.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from core.monitoring.tracing import CENT, SHARE_QUANTUM, TraceResult

__all__ = ["DiversionRule", "RuleEvaluation", "evaluate", "evaluate_trace", "is_violation"]

_HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class DiversionRule:
    """A diversion type's thresholds. ``min_loan_share`` is a fraction of the principal (0.01 = 1 %)."""

    code: str
    name: str
    min_loan_amount: Decimal
    min_loan_share: Decimal

    def __post_init__(self) -> None:
        for label, value in (("min_loan_amount", self.min_loan_amount), ("min_loan_share", self.min_loan_share)):
            if not isinstance(value, Decimal) or not value.is_finite():
                raise TypeError(f"{label} must be a finite Decimal, got {value!r}")
        if self.min_loan_amount < 0:
            raise ValueError("min_loan_amount cannot be negative")
        if not 0 <= self.min_loan_share <= 1:
            raise ValueError("min_loan_share is a fraction of the loan and must be within [0, 1]")
        if not self.code or not self.name:
            raise ValueError("a rule needs a code and a name")


@dataclass(frozen=True, slots=True)
class RuleEvaluation:
    """Outcome of one rule on one loan's part of one payment, with a human-readable reason."""

    rule_code: str
    loan_part: Decimal
    loan_principal: Decimal
    loan_share: Decimal
    """``loan_part / loan_principal``, 6 places half-up (for display/storage; the decision is exact)."""
    amount_reached: bool
    share_reached: bool
    violation: bool
    reason: str
    order_no: str | None = None
    serial_no: str | None = None


def _share_places(min_share: Decimal) -> int:
    """Percent decimals needed to show the threshold exactly (at least 2)."""
    exponent = (min_share * _HUNDRED).normalize().as_tuple().exponent
    return max(2, -exponent if isinstance(exponent, int) else 2)


def evaluate(
    rule: DiversionRule,
    loan_part: Decimal,
    loan_principal: Decimal,
    *,
    order_no: str | None = None,
    serial_no: str | None = None,
) -> RuleEvaluation:
    """Judge one loan's part of a payment against ``rule``.

    The reason text shows both comparisons, e.g.
    ``"loan funds 2,000.00 ≥ 200.00 and 20.00% of loan ≥ 5.00%: violation"``. The displayed share is
    truncated (not rounded) to the threshold's precision so that the printed relation always agrees
    with the exact decision (4.999 % prints as 4.99 % < 5.00 %, never as 5.00 % < 5.00 %).
    """
    if loan_part < 0:
        raise ValueError("loan_part cannot be negative")
    if loan_principal <= 0:
        raise ValueError("loan_principal must be > 0")
    amount_reached = loan_part >= rule.min_loan_amount
    share_reached = loan_part >= rule.min_loan_share * loan_principal
    violation = loan_part > 0 and amount_reached and share_reached
    places = _share_places(rule.min_loan_share)
    quantum = Decimal(1).scaleb(-places)
    shown_share = (loan_part * _HUNDRED / loan_principal).quantize(quantum, rounding=ROUND_DOWN)
    shown_min = (rule.min_loan_share * _HUNDRED).quantize(quantum)
    reason = (
        f"loan funds {loan_part.quantize(CENT):,} {'≥' if amount_reached else '<'} "
        f"{rule.min_loan_amount.quantize(CENT):,} and {shown_share}% of loan "
        f"{'≥' if share_reached else '<'} {shown_min}%"
    )
    if violation:
        reason += f": violation of {rule.code} ({rule.name})"
    elif loan_part == 0:
        reason += ": no loan funds used"
    else:
        reason += ": below threshold"
    return RuleEvaluation(
        rule_code=rule.code,
        loan_part=loan_part,
        loan_principal=loan_principal,
        loan_share=(loan_part / loan_principal).quantize(SHARE_QUANTUM),
        amount_reached=amount_reached,
        share_reached=share_reached,
        violation=violation,
        reason=reason,
        order_no=order_no,
        serial_no=serial_no,
    )


def is_violation(rule: DiversionRule, loan_part: Decimal, loan_principal: Decimal) -> bool:
    """True when ``loan_part`` reaches both thresholds of ``rule`` (inclusive; see module docstring)."""
    if loan_principal <= 0:
        raise ValueError("loan_principal must be > 0")
    return loan_part > 0 and loan_part >= rule.min_loan_amount and loan_part >= rule.min_loan_share * loan_principal


def evaluate_trace(
    rule: DiversionRule,
    result: TraceResult,
    principals: Mapping[str, Decimal],
) -> list[RuleEvaluation]:
    """Evaluate every loan that funded a traced payment (one evaluation per loan, pool order).

    Returns ``[]`` for excluded payments (e.g. loan repayments) and for payments without loan money.
    A loan missing from ``principals`` is an error: judging it against a guessed base would be wrong.
    """
    if result.excluded:
        return []
    out = []
    for order_no, part in result.loan_parts.items():
        if order_no not in principals:
            raise KeyError(f"principal of loan {order_no} is unknown")
        out.append(evaluate(rule, part, principals[order_no], order_no=order_no, serial_no=result.serial_no))
    return out
