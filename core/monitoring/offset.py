"""Diversion offset coefficient (资金用途异化偏移系数) per day, for the home-page trend chart (F-MON-5).

Definition (the seed only names the chart; this is the platform's documented definition):

    coefficient(d) = cumulative diverted loan funds up to and including day d
                     ÷ cumulative disbursed loan funds up to and including day d

i.e. "what share of all the loan money we have disbursed has been diverted so far". It is 0 while
nothing has been disbursed (no base), so the chart never divides by zero. Cumulative totals were
chosen over a per-day ratio because a day's diversions are usually paid with money disbursed on
earlier days; a per-day ratio would jump around (and exceed 1) without meaning anything.

Input is one ``DailyLoanFunds`` per day *with activity*: the loan-funded parts of payments judged as
violations that day (``diverted``, from ``tracing``/``thresholds``) and the loan principal disbursed
that day (``disbursed``). Several entries for the same day are added up; order does not matter.
The output has one point per calendar day from ``start`` to ``end``: a day without data adds
nothing, so it carries the previous value. Coefficients are rounded half-up to ``places`` (default
6). A value above 1 can only come from inconsistent input (diversions of loans not in the base) and
is reported as is rather than hidden by clamping.

For a chart that starts mid-history, pass ``opening_diverted``/``opening_disbursed``: the totals
before ``start``; data dated before ``start`` is also folded into the opening totals.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

__all__ = ["DailyLoanFunds", "OffsetPoint", "offset_coefficients"]

_ZERO = Decimal("0.00")
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class DailyLoanFunds:
    """Loan funds diverted and disbursed on one day (both ≥ 0)."""

    day: date
    diverted: Decimal
    disbursed: Decimal

    def __post_init__(self) -> None:
        for label, value in (("diverted", self.diverted), ("disbursed", self.disbursed)):
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise ValueError(f"{label} on {self.day} must be a non-negative Decimal, got {value!r}")


@dataclass(frozen=True, slots=True)
class OffsetPoint:
    """One chart point; the cumulative totals are included so a tooltip can show the base."""

    day: date
    coefficient: Decimal
    diverted_to_date: Decimal
    disbursed_to_date: Decimal


def offset_coefficients(
    data: Iterable[DailyLoanFunds],
    start: date | None = None,
    end: date | None = None,
    *,
    places: int = 6,
    opening_diverted: Decimal = _ZERO,
    opening_disbursed: Decimal = _ZERO,
) -> list[OffsetPoint]:
    """Daily coefficient points from ``start`` to ``end`` inclusive (defaults: first/last data day).

    Returns ``[]`` when there is no data and no explicit range.
    """
    if not 0 <= places <= 12:
        raise ValueError("places must be within 0..12")
    per_day: dict[date, tuple[Decimal, Decimal]] = {}
    for item in data:
        diverted, disbursed = per_day.get(item.day, (_ZERO, _ZERO))
        per_day[item.day] = (diverted + item.diverted, disbursed + item.disbursed)
    if start is None:
        start = min(per_day, default=end)
    if end is None:
        end = max(per_day, default=start)
    if start is None or end is None:
        return []
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    quantum = Decimal(1).scaleb(-places)
    diverted_total = opening_diverted
    disbursed_total = opening_disbursed
    for day, (diverted, disbursed) in per_day.items():
        if day < start:
            diverted_total += diverted
            disbursed_total += disbursed
    points: list[OffsetPoint] = []
    day = start
    coefficient = Decimal(0).quantize(quantum)
    while day <= end:
        if day in per_day:
            diverted, disbursed = per_day[day]
            diverted_total += diverted
            disbursed_total += disbursed
        if disbursed_total > 0:
            coefficient = (diverted_total / disbursed_total).quantize(quantum, rounding=ROUND_HALF_UP)
        points.append(OffsetPoint(day, coefficient, diverted_total, disbursed_total))
        day += _ONE_DAY
    return points
