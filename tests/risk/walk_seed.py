"""Risk and credit-review rows for the scope walk (tests/scope/test_scope_walk.py).

For one bank's product: a risk report, an open credit review case (assigned) and a closed one with
its review record, each on its own loan, every text field carrying `mark`. Risk scenes and rule sets
are platform configuration (no bank owns them), so none are seeded here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from core.loans.models import Customer, Loan, LoanStatus
from core.loans.review_models import CaseStatus, CreditReviewCase, CreditReviewRecord, ReviewDecision, ReviewStage
from core.orgs.models import AssistInstitution, Bank
from core.products.models import Product
from core.risk.rule_models import RiskReportRecord


async def _loan(mark: str, n: int, product: Product, channel: AssistInstitution, customer: Customer,
                status: LoanStatus) -> Loan:
    return await Loan.create(
        order_no=f"{mark}-CR{n:04d}", channel_order_no=f"{mark}-CRCH{n}", idempotency_key=f"{channel.id}:{mark}-cr{n}",
        customer=customer, product=product, channel=channel, status=status, amount=Decimal("30000.00"), term=12,
        term_unit="month", repayment_method="EQUAL_INSTALLMENT", risk_outcome="manual_review",
        reject_reason=f"{mark} reason" if status is LoanStatus.REJECTED else "", applied_at=datetime.now(UTC))


async def seed_risk(mark: str, bank: Bank, product: Product, channel: AssistInstitution,
                    people: dict[str, Any]) -> dict[str, list[int]]:
    """Returns ids by GraphQL type name (RiskReport, CreditReviewCase, CreditReviewRecord)."""
    now = datetime.now(UTC)
    reviewer = people["checker"]
    customer = await Customer.create(customer_no=f"{mark}RC0001", name=f"{mark}信审客户",
                                     id_number=f"{mark}R1101051990"[:18], phone=f"{mark}13900")
    open_loan = await _loan(mark, 1, product, channel, customer, LoanStatus.MANUAL_REVIEW)
    closed_loan = await _loan(mark, 2, product, channel, customer, LoanStatus.REJECTED)
    report = await RiskReportRecord.create(
        scene_key=f"{mark}_scene", scene_kind="credit", rule_set_version=1, loan=open_loan, product=product,
        order_no=open_loan.order_no, subject_summary={"name": f"{mark}*", "productCode": product.code,
                                                      "channel": f"{mark} channel"},
        outcome="manual_review", score=Decimal("12.5"), quota=Decimal("50000.00"), total_cost=Decimal("2.00"),
        report={"sceneKey": f"{mark}_scene", "rules": [{"name": f"{mark} rule"}]}, created_at=now)
    open_case = await CreditReviewCase.create(
        loan=open_loan, product=product, stage=ReviewStage.FIRST, status=CaseStatus.ASSIGNED, assignee=reviewer,
        assigned_at=now, opened_at=now, stage_entered_at=now)
    closed_case = await CreditReviewCase.create(
        loan=closed_loan, product=product, stage=ReviewStage.FIRST, status=CaseStatus.REJECTED, opened_at=now,
        stage_entered_at=now, closed_at=now)
    record = await CreditReviewRecord.create(
        case=closed_case, loan=closed_loan, product=product, stage=ReviewStage.FIRST, reviewer=reviewer,
        reviewer_name=f"{mark}审核员"[:40], decision=ReviewDecision.REJECT, comment=f"{mark} rejected",
        assigned_at=now - timedelta(minutes=5), decided_at=now, handling_seconds=300)
    return {"RiskReport": [report.id], "CreditReviewCase": [open_case.id, closed_case.id],
            "CreditReviewRecord": [record.id], "Loan": [open_loan.id, closed_loan.id], "Customer": [customer.id]}
