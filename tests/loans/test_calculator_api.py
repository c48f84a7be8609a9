"""calculateSchedule over GraphQL: the loan calculator (F-LOAN-7), no order created, errors name the argument."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from core import clock
from core.loans.models import Loan
from core.loans.schedule import RepaymentMethod, ScheduleRequest, TermUnit, build_schedule
from core.products.models import LprRate, LprTerm
from tests.support import Api

Q = """query($amount: String!, $term: Int!, $unit: ProductTermUnit!, $method: RepaymentMethod!,
             $annualRate: String, $spreadBp: Int, $startDate: Date, $dayCount: Int) {
  calculateSchedule(amount: $amount, term: $term, unit: $unit, method: $method, annualRate: $annualRate,
                    spreadBp: $spreadBp, startDate: $startDate, dayCount: $dayCount) {
    annualRate lprRate spreadBp totalPrincipal totalInterest total
    installments { number dueDate principal interest total remainingPrincipal }
  }
}"""


def args(**over: Any) -> dict[str, Any]:
    base = {"amount": "10000.00", "term": 12, "unit": "MONTH", "method": "EQUAL_INSTALLMENT", "annualRate": "0.12",
            "startDate": "2024-01-31"}
    return base | over


async def test_equal_installment_quote_matches_the_schedule_module(api: Api, people: dict[str, Any]) -> None:
    token = await api.login("viewer1")
    body = await api(Q, args(), token)
    assert "errors" not in body, body
    quote = body["data"]["calculateSchedule"]
    expected = build_schedule(ScheduleRequest(Decimal("10000.00"), Decimal("0.12"), 12, TermUnit.MONTH,
                                              RepaymentMethod.EQUAL_INSTALLMENT, date(2024, 1, 31)))
    rows = quote["installments"]
    assert len(rows) == 12 and rows[0]["dueDate"] == "2024-02-29" and rows[1]["dueDate"] == "2024-03-31"
    assert [Decimal(r["principal"]) for r in rows] == [i.principal for i in expected.installments]
    assert Decimal(rows[0]["total"]) == Decimal("888.49")
    assert Decimal(quote["totalPrincipal"]) == Decimal("10000.00")
    assert Decimal(quote["totalInterest"]) == expected.total_interest
    assert await Loan.all().count() == 0  # a calculator creates no order


async def test_spread_over_the_lpr_in_force_on_the_start_date(api: Api, people: dict[str, Any]) -> None:
    today = clock.business_today()
    await LprRate.create(term=LprTerm.ONE_YEAR, rate=Decimal("3.4500"), effective_from=today - timedelta(days=30))
    await LprRate.create(term=LprTerm.ONE_YEAR, rate=Decimal("3.1000"), effective_from=today + timedelta(days=1))
    token = await api.login("viewer1")
    body = await api(Q, args(annualRate=None, spreadBp=150, startDate=today.isoformat(), method="BULLET",
                             term=30, unit="DAY"), token)
    quote = body["data"]["calculateSchedule"]
    assert Decimal(quote["lprRate"]) == Decimal("3.45") and Decimal(quote["annualRate"]) == Decimal("0.0495")
    assert len(quote["installments"]) == 1
    assert Decimal(quote["totalInterest"]) == Decimal("41.25")  # 10000 × 4.95% × 30 / 360
    later = await api(Q, args(annualRate=None, spreadBp=150, startDate=(today + timedelta(days=1)).isoformat()),
                      token)
    assert Decimal(later["data"]["calculateSchedule"]["annualRate"]) == Decimal("0.046")


@pytest.mark.parametrize(("over", "field", "code"), [
    ({"amount": "abc"}, "amount", "INVALID"),
    ({"amount": "100.005"}, "amount", "INVALID"),
    ({"amount": "-5"}, "amount", "OUT_OF_RANGE"),
    ({"term": 0}, "term", "OUT_OF_RANGE"),
    ({"term": 361}, "term", "OUT_OF_RANGE"),
    ({"annualRate": "4.35"}, "annualRate", "OUT_OF_RANGE"),
    ({"annualRate": None}, "annualRate", "REQUIRED"),
    ({"spreadBp": 100}, "annualRate", "REQUIRED"),
    ({"annualRate": None, "spreadBp": 100}, "startDate", "INVALID_STATE"),
    ({"dayCount": 300}, "dayCount", "INVALID"),
    ({"amount": "0.90", "term": 60, "method": "EQUAL_PRINCIPAL", "annualRate": "0"}, "amount", "OUT_OF_RANGE"),
])
async def test_bad_input_names_the_argument(api: Api, people: dict[str, Any], over: dict[str, Any], field: str,
                                            code: str) -> None:
    token = await api.login("viewer1")
    body = await api(Q, args(**over), token)
    assert body["data"] is None
    ext = body["errors"][0]["extensions"]
    assert (ext["field"], ext["code"]) == (field, code), body["errors"][0]


async def test_the_calculator_needs_its_page(api: Api, people: dict[str, Any]) -> None:
    body = await api(Q, args())
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    from core.accounts.models import Role
    from tests.support import make_user

    await Role.create(name="无计算器", key="no_calc", enabled=True)
    await make_user("nocalc", ["no_calc"])
    body = await api(Q, args(), await api.login("nocalc"))
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
