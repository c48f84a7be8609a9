"""LPR base rates (F-PROD-6): next-day effect, the rate on a date, loan rate, reminder dates."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from core import clock
from core.actor import Actor
from core.errors import UserError
from core.oplog.models import OperationLog
from core.products import lpr
from core.products.models import LprRate, LprTerm
from tests.products.helpers import Orgs, create_product, product_data


async def test_a_saved_rate_takes_effect_the_next_day(staff: dict[str, Actor]) -> None:
    maker = staff["maker"]
    today = clock.business_today()
    await LprRate.create(term=LprTerm.ONE_YEAR, rate=Decimal("3.4500"), effective_from=today - timedelta(days=40))
    row = await lpr.save_rate(maker, "1Y", "3.1000")
    assert row.effective_from == today + timedelta(days=1)
    assert await lpr.rate_on("1Y") == Decimal("3.4500")  # today's orders keep the old rate
    assert await lpr.rate_on(LprTerm.ONE_YEAR, today + timedelta(days=1)) == Decimal("3.1000")
    assert await lpr.rate_on("1Y", today - timedelta(days=41)) is None
    assert await lpr.rate_on("5Y") is None
    # a second save the same day corrects tomorrow's rate instead of stacking another
    await lpr.save_rate(maker, LprTerm.ONE_YEAR, "3.0500")
    assert await LprRate.filter(term="1Y").count() == 2
    clock.travel(timedelta(days=1))
    assert await lpr.rate_on("1Y") == Decimal("3.0500")
    assert await OperationLog.filter(module="lpr", action="save").count() == 2
    assert [r.rate for r in await lpr.history_query(LprTerm.ONE_YEAR).order_by("-effective_from")] == [
        Decimal("3.0500"), Decimal("3.4500")]


@pytest.mark.parametrize(("term", "rate", "field", "code"), [
    ("3Y", "3.45", "term", "INVALID"),
    ("1Y", "0", "rate", "OUT_OF_RANGE"),
    ("1Y", "100", "rate", "OUT_OF_RANGE"),
    ("1Y", "3.45001", "rate", "INVALID"),
    ("1Y", None, "rate", "REQUIRED"),
])
async def test_bad_rates_are_refused(staff: dict[str, Actor], term: str, rate: str | None, field: str,
                                     code: str) -> None:
    with pytest.raises(UserError) as exc:
        await lpr.save_rate(staff["maker"], term, rate)
    assert (exc.value.errors[0].field, exc.value.code.value) == (field, code)


async def test_loan_rate_is_lpr_plus_spread(orgs: Orgs, staff: dict[str, Actor]) -> None:
    assert lpr.loan_rate(Decimal("3.45"), 150) == Decimal("4.9500")
    assert lpr.loan_rate(Decimal("3.45"), -25) == Decimal("3.2000")
    product = await create_product(staff["maker"], staff["checker"], product_data(orgs, spreadBp=155))
    with pytest.raises(UserError):
        await lpr.product_rate(product)
    await LprRate.create(term=LprTerm.ONE_YEAR, rate=Decimal("3.1000"), effective_from=clock.business_today())
    rate = await lpr.product_rate(product)
    assert (rate.base, rate.spread_bp, rate.rate) == (Decimal("3.1000"), 155, Decimal("4.6500"))


def test_reminder_is_the_20th_or_the_next_working_day() -> None:
    assert lpr.reminder_date(2024, 3) == date(2024, 3, 20)  # a Wednesday
    assert lpr.reminder_date(2024, 1) == date(2024, 1, 22)  # Saturday the 20th → Monday
    assert lpr.reminder_date(2023, 1) == date(2023, 1, 20)  # Friday
    # 2023-01-21..27 was Spring Festival; 28th/29th were make-up working days (a Saturday, a Sunday)
    assert lpr.is_working_day(date(2023, 1, 28)) and not lpr.is_working_day(date(2023, 1, 23))
    assert lpr.reminder_date(2024, 4) == date(2024, 4, 22)  # Saturday the 20th → Monday
    assert lpr.reminder_date(2021, 2) == date(2021, 2, 20)  # a Saturday, but a make-up working day
    assert lpr.reminder_date(2026, 2) == date(2026, 2, 24)  # Friday in the Spring Festival holiday
    assert lpr.next_reminder(date(2024, 1, 22)) == date(2024, 1, 22)
    assert lpr.next_reminder(date(2024, 1, 23)) == date(2024, 2, 20)
    assert lpr.next_reminder(date(2024, 12, 25)) == date(2025, 1, 20)
