"""Repayment schedules (还款计划, SPEC F-LOAN-3) and the loan calculator behind F-LOAN-7.

Pure functions over Decimal: no database, no I/O, no clock.  Conventions a caller must know:

* **Rates.** ``annual_rate`` is a fraction (``Decimal("0.0435")`` for 4.35 %).  The monthly rate is
  ``annual / 12`` for every month regardless of its length (the usual convention for 等额本息 /
  等额本金 in Chinese retail lending); the daily rate is ``annual / day_count`` with ``day_count`` 360
  by default (银行惯例 "年360天") or 365 when the product contract says so.
* **Rounding.** Every amount is rounded half up to the cent once, when it is computed from the exact
  value; nothing is rounded twice.  The last installment absorbs the rounding so that principal sums
  to the loan amount exactly (its total may differ from the others by a few cents).
* **Month terms.** Installment k is due ``add_months(start_date, k)``: always computed from the start
  date, clamped to the month's last day (31 Jan -> 28/29 Feb -> 31 Mar), so the day never drifts.
* **Day terms.** Day products are single-period: one installment due ``start_date + term`` days with
  interest ``principal * annual / day_count * term``.  Every method, including equal installment and
  equal principal, yields that same single installment for a day term, since with one period they
  coincide.

Performance: calculators and batch re-scheduling build many schedules, so the monthly hot loop is
kept tight (see ``bench/bench_schedule.py``): one Decimal context switch per schedule, cached due
dates and annuity factors, and ``Installment`` rows created straight from tuples.
"""

from __future__ import annotations

import calendar
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, getcontext, setcontext
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple

from core.loans.money import CENT, MONEY_CONTEXT, ZERO, is_cents, require_decimal

__all__ = [
    "DAY_COUNT_BASES",
    "Installment",
    "RepaymentMethod",
    "Schedule",
    "ScheduleRequest",
    "TermUnit",
    "add_months",
    "build_schedule",
    "monthly_rate",
]

DAY_COUNT_BASES: frozenset[int] = frozenset({360, 365})
"""Allowed day-count bases (days per year) for daily interest."""


class RepaymentMethod(StrEnum):
    """How principal and interest are spread over the installments (还款方式)."""

    EQUAL_INSTALLMENT = "EQUAL_INSTALLMENT"
    """等额本息: the same total each period (annuity); the last one absorbs rounding."""
    EQUAL_PRINCIPAL = "EQUAL_PRINCIPAL"
    """等额本金: the same principal each period, interest on the falling balance."""
    INTEREST_FIRST = "INTEREST_FIRST"
    """先息后本: interest on the full principal each period, all principal with the last."""
    BULLET = "BULLET"
    """一次性还本付息: a single installment at the end of the term, principal plus all interest."""


class TermUnit(StrEnum):
    """Unit of a loan term (期限单位)."""

    MONTH = "MONTH"
    DAY = "DAY"


class Installment(NamedTuple):
    """One row of a repayment schedule (还款计划的一期).

    A ``NamedTuple`` rather than a frozen dataclass on purpose: it is just as immutable and typed,
    but it can be created from a tuple in C.  A frozen dataclass costs 0.25-0.8 us more per row
    (its ``__init__`` goes through ``object.__setattr__`` per field), which measured took a 36-period
    schedule below the budget of half the speed of a bare Decimal loop.  Construct it with keywords;
    ``fee`` comes last because it is the only field with a default.
    ``total = principal + interest + fee``; ``remaining_principal`` is the balance after this
    installment is paid.  ``fee`` is always zero in schedules built here; it is
    carried so that products with per-period fees can reuse the row type.
    """

    number: int
    due_date: date
    principal: Decimal
    interest: Decimal
    total: Decimal
    remaining_principal: Decimal
    fee: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Schedule:
    """A full repayment schedule; ``total == total_principal + total_interest`` (fees are zero)."""

    installments: tuple[Installment, ...]
    total_principal: Decimal
    total_interest: Decimal
    total: Decimal


@dataclass(frozen=True, slots=True)
class ScheduleRequest:
    """Inputs of a schedule, validated on construction so ``build_schedule`` never sees bad data.

    ``principal`` must already be whole cents (it is normalised to two decimals, ``10000`` becomes
    ``10000.00``); ``annual_rate`` is a fraction in [0, 1) -- a value of 1 or more is refused because
    it almost always means a percentage was passed (12 instead of 0.12).  ``start_date`` is the
    disbursement (value) date; ``day_count`` is the daily-interest basis, 360 or 365, used for day
    terms only (month terms use ``annual_rate / 12`` whatever the month's length).
    """

    principal: Decimal
    annual_rate: Decimal
    term: int
    unit: TermUnit
    method: RepaymentMethod
    start_date: date
    day_count: int = 360

    def __post_init__(self) -> None:
        principal = require_decimal(self.principal, "principal")
        if not is_cents(principal) or principal <= 0:
            raise ValueError(f"principal {principal} must be a positive amount in whole cents")
        rate = require_decimal(self.annual_rate, "annual_rate")
        if not rate.is_finite() or rate < 0 or rate >= 1:
            raise ValueError(f"annual_rate {rate} must be a fraction in [0, 1), e.g. Decimal('0.0435')")
        if isinstance(self.term, bool) or not isinstance(self.term, int) or self.term < 1:
            raise ValueError(f"term {self.term!r} must be a positive integer")
        if isinstance(self.start_date, datetime) or not isinstance(self.start_date, date):
            raise TypeError(f"start_date must be a datetime.date (got {type(self.start_date).__name__})")
        if self.day_count not in DAY_COUNT_BASES:
            raise ValueError(f"day_count {self.day_count!r} must be one of {sorted(DAY_COUNT_BASES)}")
        object.__setattr__(self, "principal", principal.quantize(CENT, ROUND_HALF_UP, MONEY_CONTEXT))
        object.__setattr__(self, "annual_rate", rate)
        if type(self.unit) is not TermUnit:  # accept the plain string values too
            object.__setattr__(self, "unit", TermUnit(self.unit))
        if type(self.method) is not RepaymentMethod:
            object.__setattr__(self, "method", RepaymentMethod(self.method))


def add_months(d: date, months: int) -> date:
    """``d`` moved by ``months`` calendar months, clamped to the last day of the target month.

    31 Jan + 1 month = 28 Feb (29 in leap years); 31 Jan + 2 months = 31 Mar.  Schedules always add
    k months to the *start* date rather than one month to the previous due date, which would drift
    (31 Jan -> 28 Feb -> 28 Mar).  ``months`` may be negative.
    """
    years, month0 = divmod(d.month - 1 + months, 12)
    year = d.year + years
    month = month0 + 1
    day = d.day
    if day > 28:
        last = calendar.monthrange(year, month)[1]
        if day > last:
            day = last
    return date(year, month, day)


_DAYS_IN_MONTH = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@lru_cache(maxsize=1024)
def _monthly_due_dates(start: date, n: int) -> tuple[date, ...]:
    """``tuple(add_months(start, k) for k in 1..n)``, computed without per-call overhead.

    Same rule as :func:`add_months` (the day is always the start date's day, clamped), but walks the
    month counter instead of calling ``calendar.monthrange``.  Cached because calculators and batch
    jobs build many schedules from the same few start dates; tests check it against ``add_months``.
    """
    year, month, day = start.year, start.month, start.day
    dues: list[date] = []
    for _ in range(n):
        month += 1
        if month == 13:
            month = 1
            year += 1
        if day > 28:
            last = _DAYS_IN_MONTH[month]
            if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
                last = 29
            dues.append(date(year, month, min(day, last)))
        else:
            dues.append(date(year, month, day))
    return tuple(dues)


_CEILING_CONTEXT = MONEY_CONTEXT.copy()
_CEILING_CONTEXT.rounding = ROUND_CEILING


def monthly_rate(annual_rate: Decimal) -> Decimal:
    """``annual_rate / 12``, rounded *up* at the 40th significant digit when it does not terminate.

    Why up: period interest is ``to_cents(balance * monthly_rate)``.  When the exact interest lies
    exactly on a half cent (4 % a year on 1.50 is 0.005 a month) a rate truncated to 40 digits would
    give 0.004999... and round down; a rate rounded up stays on or above the tie and rounds up, as
    half-up on the exact value requires.  The excess (< 1e-40 relative) can never push a non-tie
    across a cent boundary, so the result equals half-up rounding of the exact rational interest.
    """
    return _CEILING_CONTEXT.divide(annual_rate, 12)


@lru_cache(maxsize=1024)
def _monthly_terms(annual_rate: Decimal, n: int) -> tuple[Decimal, Decimal]:
    """(monthly rate, annuity factor ``r(1+r)^n / ((1+r)^n - 1)``), cached per (annual rate, term).

    Products have a handful of rates and terms, so the power and divisions are done once each; the
    annuity factor is the payment per unit of principal (zero when the rate is zero: unused then).
    """
    rate = monthly_rate(annual_rate)
    if not rate:
        return rate, ZERO
    growth = MONEY_CONTEXT.power(1 + rate, n)
    return rate, MONEY_CONTEXT.divide(MONEY_CONTEXT.multiply(rate, growth), growth - 1)


def _overdrawn(principal: Decimal, term: int) -> ValueError:
    return ValueError(
        f"principal {principal} is too small to amortise over {term} periods at the cent: "
        "rounding would repay more than was lent"
    )


_new_row = tuple.__new__  # Installment(...) without NamedTuple.__new__'s Python-level call


def _equal_installment(principal: Decimal, rate: Decimal, factor: Decimal, dues: tuple[date, ...]) -> Schedule:
    """等额本息.  Like every builder, runs in a copy of MONEY_CONTEXT set by ``build_schedule``."""
    n = len(dues)
    if rate:
        payment = (principal * factor).quantize(CENT, ROUND_HALF_UP)
    else:
        payment = (principal / n).quantize(CENT, ROUND_HALF_UP)
    rows: list[Installment] = []
    append = rows.append
    remaining = principal
    for number, due in enumerate(dues[:-1], 1):
        interest = (remaining * rate).quantize(CENT, ROUND_HALF_UP)
        part = payment - interest  # >= 0: payment exceeds interest on the full principal
        remaining = remaining - part
        append(_new_row(Installment, (number, due, part, interest, payment, remaining, ZERO)))
    if remaining < 0:
        raise _overdrawn(principal, n)
    interest = (remaining * rate).quantize(CENT, ROUND_HALF_UP)
    last_total = remaining + interest
    append(_new_row(Installment, (n, dues[-1], remaining, interest, last_total, ZERO, ZERO)))
    total = payment * (n - 1) + last_total  # every total but the last is ``payment``
    return Schedule(tuple(rows), principal, total - principal, total)


def _equal_principal(principal: Decimal, rate: Decimal, _factor: Decimal, dues: tuple[date, ...]) -> Schedule:
    """等额本金: ``principal / n`` rounded each period, the last takes the remainder."""
    n = len(dues)
    part = (principal / n).quantize(CENT, ROUND_HALF_UP)
    rows: list[Installment] = []
    remaining = principal
    total_interest = ZERO
    for number, due in enumerate(dues, 1):
        interest = (remaining * rate).quantize(CENT, ROUND_HALF_UP)
        paid = part if number < n else remaining
        after = remaining - paid
        if after < 0:
            raise _overdrawn(principal, n)
        rows.append(_new_row(Installment, (number, due, paid, interest, paid + interest, after, ZERO)))
        total_interest += interest
        remaining = after
    return Schedule(tuple(rows), principal, total_interest, principal + total_interest)


def _interest_first(principal: Decimal, rate: Decimal, _factor: Decimal, dues: tuple[date, ...]) -> Schedule:
    """先息后本: the same interest every period on the full principal, principal with the last."""
    n = len(dues)
    interest = (principal * rate).quantize(CENT, ROUND_HALF_UP)
    rows = [
        _new_row(Installment, (number, due, ZERO, interest, interest, principal, ZERO))
        for number, due in enumerate(dues[:-1], 1)
    ]
    rows.append(_new_row(Installment, (n, dues[-1], principal, interest, principal + interest, ZERO, ZERO)))
    total_interest = interest * n
    return Schedule(tuple(rows), principal, total_interest, principal + total_interest)


def _single(principal: Decimal, interest: Decimal, due: date) -> Schedule:
    """A one-installment schedule (bullet loans and every day-term loan)."""
    total = principal + interest
    return Schedule((Installment(1, due, principal, interest, total, ZERO),), principal, interest, total)


class _ThreadContext(threading.local):
    """One private copy of MONEY_CONTEXT per thread (a context's flags are mutable state)."""

    def __init__(self) -> None:
        self.context = MONEY_CONTEXT.copy()


_THREAD = _ThreadContext()

_MONTHLY_BUILDERS = {
    RepaymentMethod.EQUAL_INSTALLMENT: _equal_installment,
    RepaymentMethod.EQUAL_PRINCIPAL: _equal_principal,
    RepaymentMethod.INTEREST_FIRST: _interest_first,
}


def build_schedule(req: ScheduleRequest) -> Schedule:
    """Build the repayment schedule for ``req`` (see the module docstring for the conventions).

    Guarantees: principal parts sum to ``req.principal`` exactly; no part is negative; every amount
    has two decimals; due dates strictly increase; the last ``remaining_principal`` is zero.

    Raises:
        ValueError: the principal is so small that cent rounding would over-repay it (e.g. 0.90 over
            60 months); real products have minimum amounts far above this.
    """
    principal = req.principal
    saved = getcontext()
    setcontext(_THREAD.context)  # a cheaper localcontext(MONEY_CONTEXT): this is the hot path
    try:
        if req.unit is TermUnit.DAY:
            exact = principal * req.annual_rate * req.term / req.day_count
            due = req.start_date + timedelta(days=req.term)
            return _single(principal, exact.quantize(CENT, ROUND_HALF_UP), due)
        if req.method is RepaymentMethod.BULLET:
            exact = principal * req.annual_rate * req.term / 12
            due = add_months(req.start_date, req.term)
            return _single(principal, exact.quantize(CENT, ROUND_HALF_UP), due)
        rate, factor = _monthly_terms(req.annual_rate, req.term)
        dues = _monthly_due_dates(req.start_date, req.term)
        return _MONTHLY_BUILDERS[req.method](principal, rate, factor, dues)
    finally:
        setcontext(saved)
