"""The repayments demo: one loan repaid on schedule, one settled early, one overdue in collection;
running it twice changes nothing."""

from __future__ import annotations

from core.loans.collection_models import CollectionCase, CollectionRecord, CollectionStatus
from core.loans.models import InstallmentStatus, Loan, LoanInstallment, LoanStatus, Repayment
from core.loans.repayment_demo import load_demo_repayments
from tests.loans.factories import make_world


async def test_demo_repayments_are_idempotent(db):
    await make_world("DEMO")
    first = await load_demo_repayments()
    assert any("early settlement" in line for line in first) and any("collection case" in line for line in first)
    counts = (await Repayment.all().count(), await CollectionRecord.all().count(), await LoanInstallment.filter(
        status=InstallmentStatus.OVERDUE).count())
    assert await load_demo_repayments() == []
    assert (await Repayment.all().count(), await CollectionRecord.all().count(), await LoanInstallment.filter(
        status=InstallmentStatus.OVERDUE).count()) == counts
    punctual, settled, overdue = [await Loan.get(order_no=f"DEMO-RP-{n}") for n in (1, 2, 3)]
    assert punctual.status is LoanStatus.DISBURSED and await Repayment.filter(loan_id=punctual.id).count() >= 3
    assert settled.status is LoanStatus.SETTLED
    assert overdue.status is LoanStatus.OVERDUE
    case = await CollectionCase.get(loan_id=overdue.id, status=CollectionStatus.OPEN)
    assert case.stage.startswith("M") and await CollectionRecord.filter(case_id=case.id).count() == 1


async def test_demo_without_products_does_nothing(db):
    assert await load_demo_repayments() == []
