"""Overdue maths (SPEC F-LOAN-5): daily penalty interest (罚息) and collection stages (催收阶段).

Penalty for a span of overdue days is computed from the exact product and rounded once.  A nightly
job that posts penalty day by day must post ``accrue_penalty(base, rate, days_so_far) - posted`` rather
than ``accrue_penalty(base, rate, 1)`` each night: rounding every day would drift by up to half a cent
per day.  When the base changes (a partial repayment), close the span and start a new one.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from core.loans.money import CENT, MONEY_CONTEXT, is_cents, require_decimal
from core.loans.schedule import TermUnit

__all__ = [
    "DAY_STAGE_BOUNDS",
    "MONTH_STAGE_BOUNDS",
    "CollectionStage",
    "PenaltyBase",
    "accrue_penalty",
    "collection_stage",
    "penalty_base",
]


class PenaltyBase(StrEnum):
    """What overdue amount penalty interest is charged on; a product setting."""

    PRINCIPAL = "PRINCIPAL"
    """Overdue principal only (the common retail-loan contract term)."""
    PRINCIPAL_AND_INTEREST = "PRINCIPAL_AND_INTEREST"
    """Overdue principal plus overdue interest (compound penalty, 复利, where the contract allows it)."""


def penalty_base(
    overdue_principal: Decimal,
    overdue_interest: Decimal,
    base: PenaltyBase = PenaltyBase.PRINCIPAL,
) -> Decimal:
    """The amount penalty accrues on for ``base``.  Both inputs must be non-negative cents."""
    principal = _non_negative_cents(overdue_principal, "overdue_principal")
    interest = _non_negative_cents(overdue_interest, "overdue_interest")
    if PenaltyBase(base) is PenaltyBase.PRINCIPAL_AND_INTEREST:
        return principal + interest
    return principal


def accrue_penalty(overdue_base: Decimal, daily_penalty_rate: Decimal, days: int) -> Decimal:
    """Penalty for ``days`` overdue days: ``overdue_base * daily_penalty_rate * days``, to the cent.

    ``daily_penalty_rate`` is a fraction per day (``Decimal("0.0005")`` for 万分之五).  Zero days
    yields 0.00.  Rounded half up once over the whole span; see the module docstring for nightly
    posting.
    """
    base = _non_negative_cents(overdue_base, "overdue_base")
    rate = require_decimal(daily_penalty_rate, "daily_penalty_rate")
    if not rate.is_finite() or rate < 0:
        raise ValueError(f"daily_penalty_rate {rate} must be a non-negative fraction per day")
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise ValueError(f"days {days!r} must be a non-negative integer")
    exact = MONEY_CONTEXT.multiply(MONEY_CONTEXT.multiply(base, rate), days)
    return exact.quantize(CENT, ROUND_HALF_UP, MONEY_CONTEXT)


def _non_negative_cents(value: object, name: str) -> Decimal:
    amount = require_decimal(value, name)
    if not is_cents(amount) or amount < 0:
        raise ValueError(f"{name} {amount} must be a non-negative amount in whole cents")
    return amount


class CollectionStage(StrEnum):
    """Collection stages.  S-stages for day-term products, M-stages for month-term products."""

    S0 = "S0"
    S1 = "S1"
    S2 = "S2"
    S3 = "S3"
    S4 = "S4"
    M0 = "M0"
    M1 = "M1"
    M2 = "M2"
    M3 = "M3"
    M4 = "M4"


# (first day past due of the stage, stage), ascending; a stage lasts until the next one starts.
# Negative days are before the due date: stage 0 is the reminder window, not yet overdue.
DAY_STAGE_BOUNDS: tuple[tuple[int, CollectionStage], ...] = (
    (1, CollectionStage.S1),  # 1-7
    (8, CollectionStage.S2),  # 8-15
    (16, CollectionStage.S3),  # 16-30
    (31, CollectionStage.S4),  # 31+
)
MONTH_STAGE_BOUNDS: tuple[tuple[int, CollectionStage], ...] = (
    (1, CollectionStage.M1),  # 1-30: up to one month overdue
    (31, CollectionStage.M2),  # 31-60
    (61, CollectionStage.M3),  # 61-90 (90+ is the usual non-performing threshold)
    (91, CollectionStage.M4),  # 91+
)


def collection_stage(days_past_due: int, unit: TermUnit, *, reminder_days: int = 2) -> CollectionStage | None:
    """The collection stage for an installment ``days_past_due`` days past its due date.

    ``days_past_due`` is ``today - due_date`` in days: 0 on the due date, negative before it.
    Stage 0 (S0 / M0) is the reminder window, ``-reminder_days .. 0`` (SPEC: S0 is -2..0; M0 uses the
    same window so month products get the same pre-due reminder).  Then, for DAY products S1 1-7,
    S2 8-15, S3 16-30, S4 31+; for MONTH products M1 1-30, M2 31-60, M3 61-90, M4 91+ -- the
    industry's 30-day buckets.  Returns ``None`` earlier than the reminder window: nothing to do yet.
    """
    if isinstance(days_past_due, bool) or not isinstance(days_past_due, int):
        raise TypeError(f"days_past_due must be an int (got {type(days_past_due).__name__})")
    if reminder_days < 0:
        raise ValueError(f"reminder_days {reminder_days} must be >= 0")
    unit = TermUnit(unit)
    if days_past_due < -reminder_days:
        return None
    if unit is TermUnit.DAY:
        stage, bounds = CollectionStage.S0, DAY_STAGE_BOUNDS
    else:
        stage, bounds = CollectionStage.M0, MONTH_STAGE_BOUNDS
    for first_day, candidate in bounds:
        if days_past_due < first_day:
            break
        stage = candidate
    return stage
