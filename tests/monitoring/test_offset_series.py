"""The diversion offset coefficient per day (资金用途异化偏移系数走势, F-MON-5) from stored rows: opening
totals, business-date bucketing, which violations count, the product filter, scope and range limits."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from core import clock
from core.errors import ErrorCode, UserError
from core.monitoring import views
from core.monitoring.models import ViolationKind, ViolationStatus
from tests.monitoring.factories import days_ago, make_channel, make_loan, make_violation, make_world, scoped_user
from tests.support import Api


@pytest.fixture
async def history(db: str) -> dict[str, object]:
    today = clock.business_today()
    channel = await make_channel()
    a = await make_world("ALPHA", channel, loan_amount="10000.00", disbursed=today - timedelta(days=10))
    loan2 = await make_loan("ALPHA", a.product, channel, a.customer, "30000.00", today - timedelta(days=3))
    await make_violation(a, None, loan_amount="500.00", detected=days_ago(9))
    await make_violation(a, None, loan_amount="1000.00", detected=days_ago(4), loan=loan2)
    await make_violation(a, None, loan_amount="9999.00", detected=days_ago(4), status=ViolationStatus.DISMISSED)
    await make_violation(a, None, loan_amount="777.00", detected=days_ago(4), kind=ViolationKind.AML,
                         code="large_cash", name="大额现金")
    # 01:00 business time is the previous day in UTC: it must count on its business date
    await make_violation(a, None, loan_amount="2000.00", detected=days_ago(1, hour=1),
                         status=ViolationStatus.CONFIRMED)
    z = await make_world("ZETA", channel, loan_amount="50000.00", disbursed=today - timedelta(days=3))
    await make_violation(z, None, loan_amount="40000.00", detected=days_ago(2))
    return {"a": a, "z": z, "today": today}


async def test_the_series_is_cumulative_per_business_day_within_scope(history: dict[str, object]) -> None:
    a, today = history["a"], history["today"]
    _, user = await scoped_user("alpha", {a.bank.id}, None)  # type: ignore[attr-defined]
    points = await views.offset_series(user.scope, None, today - timedelta(days=5), today)  # type: ignore[operator]
    assert [(p.day, str(p.coefficient), str(p.diverted_to_date), str(p.disbursed_to_date)) for p in points] == [
        (today - timedelta(days=5), "0.050000", "500.00", "10000.00"),  # type: ignore[operator]
        (today - timedelta(days=4), "0.150000", "1500.00", "10000.00"),  # type: ignore[operator]
        (today - timedelta(days=3), "0.037500", "1500.00", "40000.00"),  # type: ignore[operator]
        (today - timedelta(days=2), "0.037500", "1500.00", "40000.00"),  # type: ignore[operator]
        (today - timedelta(days=1), "0.087500", "3500.00", "40000.00"),  # type: ignore[operator]
        (today, "0.087500", "3500.00", "40000.00"),
    ]
    _, admin = await scoped_user("all", None, None)  # positive control: bank Z changes the figures
    everything = await views.offset_series(admin.scope, None, today, today)  # type: ignore[arg-type]
    assert everything[0].disbursed_to_date == Decimal("90000.00")
    assert everything[0].diverted_to_date == Decimal("43500.00")
    z = history["z"]
    hidden = await views.offset_series(user.scope, z.product.id, today, today)  # type: ignore[attr-defined,arg-type]
    missing = await views.offset_series(user.scope, 987654, today, today)  # type: ignore[arg-type]
    assert hidden == missing and hidden[0].coefficient == Decimal("0")
    own = await views.offset_series(user.scope, a.product.id, today, today)  # type: ignore[attr-defined,arg-type]
    assert own[0].coefficient == Decimal("0.087500")


async def test_the_range_defaults_to_30_days_and_is_limited(history: dict[str, object]) -> None:
    _, user = await scoped_user("all", None, None)
    points = await views.offset_series(user.scope, None)
    assert len(points) == 30 and points[-1].day == clock.business_today()
    with pytest.raises(UserError) as long:
        await views.offset_series(user.scope, None, clock.business_today() - timedelta(days=400))
    assert (long.value.errors[0].field, long.value.code) == ("from", ErrorCode.OUT_OF_RANGE)
    with pytest.raises(UserError) as backwards:
        await views.offset_series(user.scope, None, clock.business_today(), clock.business_today() - timedelta(1))
    assert backwards.value.errors[0].field == "to"


async def test_the_series_over_http(api: Api, history: dict[str, object]) -> None:
    a, today = history["a"], history["today"]
    user, _ = await scoped_user("alpha", {a.bank.id}, {"home"})  # type: ignore[attr-defined]
    body = await api("query($f: Date, $t: Date) { offsetCoefficients(from: $f, to: $t) { day coefficient "
                     "divertedToDate disbursedToDate } }",
                     {"f": str(today - timedelta(days=1)), "t": str(today)}, await api.login(user.account))  # type: ignore[operator]
    assert body["data"]["offsetCoefficients"] == [
        {"day": str(today - timedelta(days=1)), "coefficient": "0.087500", "divertedToDate": "3500.00",  # type: ignore[operator]
         "disbursedToDate": "40000.00"},
        {"day": str(today), "coefficient": "0.087500", "divertedToDate": "3500.00", "disbursedToDate": "40000.00"}]
