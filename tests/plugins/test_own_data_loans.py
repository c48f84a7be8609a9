"""own_data's loan indicators (issue 5): loans in progress and overdue history, by ID number."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from core.loans.models import Customer, LoanInstallment, LoanStatus
from plugins.testkit import running_host
from plugins.types import RiskRequest, RiskSubject
from tests.loans.credit_review_support import id_number, make_review_world, manual_loan

WANTED = ("loans_in_progress", "overdue_history")


async def _installment(loan_id: int, number: int, overdue_since: date | None) -> None:
    due = date(2026, 1, 15) + timedelta(days=30 * number)
    await LoanInstallment.create(loan_id=loan_id, number=number, start_date=due - timedelta(days=30), due_date=due,
                                 principal=Decimal("1000.00"), interest=Decimal("40.00"), overdue_since=overdue_since)


async def test_loans_in_progress_and_overdue_history_count_the_borrowers_own_rows(db: str) -> None:
    world = await make_review_world()
    statuses = [LoanStatus.DISBURSING, LoanStatus.DISBURSED, LoanStatus.OVERDUE, LoanStatus.COMPENSATED,
                LoanStatus.SETTLED, LoanStatus.REJECTED, LoanStatus.MANUAL_REVIEW]
    loans = [await manual_loan(world.product_a, world.channel, status=s) for s in statuses]
    # every loan got its own customer; give them all to one borrower
    borrower = await Customer.get(id=loans[0].customer_id)  # type: ignore[attr-defined]
    for loan in loans[1:]:
        loan.customer = borrower
        await loan.save(update_fields=["customer_id"])
    await _installment(loans[2].id, 1, date(2026, 2, 16))  # the overdue loan, overdue now
    await _installment(loans[2].id, 2, None)
    await _installment(loans[4].id, 1, date(2026, 2, 20))  # settled loan, once overdue: still history
    await _installment(loans[4].id, 2, None)
    stranger = await manual_loan(world.product_a, world.channel, status=LoanStatus.OVERDUE)  # someone else
    await _installment(stranger.id, 1, date(2026, 2, 16))

    async with running_host({"plugins": {"own_data": {}}}, entry_points=False) as (host, incidents):
        def request(number: str) -> RiskRequest:
            return RiskRequest(RiskSubject("C1", id_number=number, phone="13800138000"), WANTED, scene="credit")

        mine = await host.fetch_risk("own_data", request(borrower.id_number.lower()))
        assert dict(mine.values) == {"loans_in_progress": 4, "overdue_history": 2}
        never = await host.fetch_risk("own_data", request(id_number(777)))
        assert dict(never.values) == {"loans_in_progress": 0, "overdue_history": 0}  # a fact, not missing data
        anonymous = await host.fetch_risk("own_data", request(""))
        assert dict(anonymous.values) == {"loans_in_progress": None, "overdue_history": None}
        declared = {s.name: s for s in (await host.risk_catalogue())["own_data"]}
        assert declared["loans_in_progress"].cost_per_call == 0 and declared["overdue_history"].type.value == "integer"
        assert incidents.incidents == []
