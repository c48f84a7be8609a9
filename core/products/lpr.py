"""LPR base rates (F-PROD-6): saving, the rate in force on a date, loan rate = LPR + spread.

A saved rate takes effect the **next business day** (seed 001: "配置保存后，次日生效"): orders
disbursed on or after that day use it, so `rate_on(term, day)` is the row with the newest
`effective_from` ≤ day. Saving twice on one day corrects tomorrow's rate (one row per term and
effective date) rather than stacking two. Rates are percent per year with four decimals
(3.4500 = 3.45 %). LPR is published by the central bank for everyone: it is not bank data, so no
data scope applies.

The configuring staff adjust the LPR on the 20th of each month, or the next working day when the
20th is not one (`reminder_date`), using the maintained `chinese_calendar` holiday calendar.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import chinese_calendar
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from core import clock
from core.actor import Actor
from core.errors import ErrorCode, ErrorCollector, UserError
from core.oplog import service as oplog
from core.products.models import LprRate, LprTerm, Product
from core.products.validation import parse_decimal

RATE = Decimal("0.0001")
REMINDER_DAY = 20


def _term(errs: ErrorCollector, value: Any) -> LprTerm | None:
    try:
        return LprTerm(getattr(value, "value", value))
    except ValueError:
        errs.add("term", ErrorCode.INVALID, "term must be 1Y or 5Y")
        return None


async def save_rate(actor: Actor, term: LprTerm | str, rate: Any, request_id: str = "") -> LprRate:
    """Save the LPR for a term; it is in force from tomorrow (business date)."""
    errs = ErrorCollector()
    which = _term(errs, term)
    value = parse_decimal(errs, "rate", rate, 4)
    if value is not None and not Decimal(0) < value < Decimal(100):
        errs.add("rate", ErrorCode.OUT_OF_RANGE, "rate is a yearly percentage above 0 and below 100, e.g. 3.45")
    errs.raise_if_any()
    assert which is not None and value is not None
    effective = clock.business_today() + timedelta(days=1)
    async with in_transaction():
        row = await LprRate.get_or_none(term=which, effective_from=effective)
        previous = str(row.rate) if row else None
        if row is None:
            row = await LprRate.create(term=which, rate=value, effective_from=effective,
                                       created_by_id=actor.user_id or None)
        else:
            await LprRate.filter(id=row.id).update(rate=value, created_by_id=actor.user_id or None)
            await row.refresh_from_db()
        await oplog.record(actor, kind=actor.kind(), module="lpr", action="save",
                           summary=f"LPR {which.value} {value}% from {effective}",
                           detail={"term": which.value, "rate": str(value), "effectiveFrom": effective.isoformat(),
                                   "replaced": previous}, request_id=request_id)
    return row


async def lpr_on(term: LprTerm | str, day: date | None = None) -> LprRate | None:
    """The LPR row in force on `day` (default today), in one query; None before the first rate."""
    return await (LprRate.filter(term=LprTerm(term), effective_from__lte=day or clock.business_today())
                  .order_by("-effective_from").first())


async def rate_on(term: LprTerm | str, day: date | None = None) -> Decimal | None:
    """The LPR (percent per year) in force on `day`."""
    row = await lpr_on(term, day)
    return Decimal(row.rate).quantize(RATE) if row else None


def history_query(term: LprTerm | None = None) -> QuerySet[LprRate]:
    return LprRate.all() if term is None else LprRate.filter(term=term)


def loan_rate(base: Decimal, spread_bp: int) -> Decimal:
    """LPR + spread in basis points, as a percent per year (4 decimals): 3.45 + 150 bp = 4.9500."""
    return (Decimal(base) + Decimal(spread_bp) / Decimal(100)).quantize(RATE)


@dataclass(frozen=True)
class ProductRate:
    """What a contract shows (F-PROD-6): the base rate, the spread, and their sum."""

    term: LprTerm
    base: Decimal
    spread_bp: int
    rate: Decimal
    lpr_effective_from: date


async def product_rate(product: Product, day: date | None = None) -> ProductRate:
    """The loan rate of an order of `product` disbursed on `day` (default today)."""
    row = await lpr_on(product.lpr_term, day)
    if row is None:
        raise UserError.of(None, ErrorCode.INVALID_STATE, f"No {product.lpr_term} LPR is in force on "
                           f"{day or clock.business_today()}; save one first")
    base = Decimal(row.rate).quantize(RATE)
    return ProductRate(LprTerm(product.lpr_term), base, product.spread_bp, loan_rate(base, product.spread_bp),
                       row.effective_from)


def is_working_day(day: date) -> bool:
    """China's working days (holidays and make-up weekends); weekdays beyond the library's years."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5


def reminder_date(year: int, month: int) -> date:
    """The month's LPR adjustment day: the 20th, or the next working day."""
    day = date(year, month, REMINDER_DAY)
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def next_reminder(today: date | None = None) -> date:
    """The next adjustment day on or after `today` (default: the business date)."""
    today = today or clock.business_today()
    this_month = reminder_date(today.year, today.month)
    if this_month >= today:
        return this_month
    year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
    return reminder_date(year, month)
