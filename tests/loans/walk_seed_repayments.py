"""Repayment and collection rows for the scope walk (tests/scope/test_scope_walk.py).

One repaying loan of `product` with a repayment (and its funder part), a deduction payment, an
open collection case with a stage entry and a contact record — every text field carrying `mark`,
so another bank's repayments or collection cases leaking through `repayments`, `collectionCases`,
`collectionCase`, `collectionRecords`, `collectionStats` or `earlySettlementQuote` are visible.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from core.loans.collection_models import (
    CollectionCase,
    CollectionRecord,
    CollectionStageEntry,
    CollectionStatus,
    ContactResult,
)
from core.loans.models import (
    Customer,
    Loan,
    LoanFunder,
    LoanInstallment,
    LoanStatus,
    Payment,
    PaymentKind,
    PaymentStatus,
    Repayment,
    RepaymentFunderPart,
    RepaymentKind,
    RepaymentSource,
)
from core.orgs.models import AssistInstitution, Bank
from core.products.models import Product


async def seed_repayments(mark: str, bank: Bank, product: Product, channel: AssistInstitution,
                          people: dict[str, Any]) -> dict[str, list[int]]:
    """Returns ids by GraphQL type name (Loan, Repayment, Payment, CollectionCase, CollectionRecord)."""
    now = datetime.now(UTC)
    today = date.today()
    customer = await Customer.create(customer_no=f"{mark}RC001", name=f"{mark}还款客户",
                                     id_number=f"{mark}RP110105", phone=f"{mark}13900")
    loan = await Loan.create(
        order_no=f"{mark}-RPLN01", channel_order_no=f"{mark}-RPCH01", idempotency_key=f"{channel.id}:{mark}-rpkey",
        customer=customer, product=product, channel=channel, status=LoanStatus.OVERDUE, amount=Decimal("6000.00"),
        term=6, term_unit="MONTH", repayment_method="EQUAL_INSTALLMENT", annual_rate=Decimal("0.043500"),
        payment_provider=f"{mark}_pay", disbursement_account=f"{mark}-RP6222", applied_at=now, disbursed_at=now,
        disbursement_date=today - timedelta(days=60), principal_outstanding=Decimal("5000.00"))
    await LoanFunder.create(loan=loan, bank=bank, share=Decimal("100"), amount=Decimal("6000.00"))
    for n in range(1, 7):
        due = today - timedelta(days=30) + timedelta(days=30 * (n - 1))
        await LoanInstallment.create(loan=loan, number=n, start_date=due - timedelta(days=30), due_date=due,
                                     principal=Decimal("1000.00"), interest=Decimal("21.75"),
                                     status="overdue" if due < today else "pending")
    payment = await Payment.create(kind=PaymentKind.DEDUCTION, loan=loan, product=product,
                                   idempotency_key=f"deduct:{mark}-RPLN01:1:{today:%Y%m%d}", provider=f"{mark}_pay",
                                   amount=Decimal("1021.75"), status=PaymentStatus.SUCCEEDED,
                                   provider_reference=f"{mark}-DREF", serial_no=f"{mark}-DSER",
                                   failure_reason=f"{mark} none", business_date=today, requested_at=now)
    repayment = await Repayment.create(loan=loan, product=product, channel=channel, payment=payment,
                                       serial_no=f"{mark}-DSER", source=RepaymentSource.DEDUCTION,
                                       kind=RepaymentKind.PARTIAL, deduction_channel=f"{mark}_pay", paid_at=now,
                                       business_date=today, amount=Decimal("500.00"), principal=Decimal("478.25"),
                                       interest=Decimal("21.75"), fee=Decimal(0), penalty=Decimal(0))
    await RepaymentFunderPart.create(repayment=repayment, bank=bank, principal=Decimal("478.25"),
                                     interest=Decimal("21.75"), fee=Decimal(0), penalty=Decimal(0))
    case = await CollectionCase.create(loan=loan, product=product, stage="M2", stage_entered_on=today,
                                       days_past_due=31, overdue_amount=Decimal("1543.50"),
                                       recovered_amount=Decimal("500.00"), status=CollectionStatus.OPEN,
                                       opened_on=today - timedelta(days=32), close_reason=f"{mark}-open",
                                       assignee=people["maker"], assigned_at=now)
    await CollectionStageEntry.create(case=case, loan=loan, product=product, stage="M2", entered_on=today,
                                      overdue_amount=Decimal("1543.50"), recovered_amount=Decimal("500.00"))
    record = await CollectionRecord.create(case=case, loan=loan, product=product, collector=people["maker"],
                                           collector_name=f"{mark}催收员", stage="M2", contacted_at=now,
                                           contact_result=ContactResult.PROMISED, promise_amount=Decimal("1043.50"),
                                           promise_date=today + timedelta(days=3), remark=f"{mark} promised")
    return {"Loan": [loan.id], "Repayment": [repayment.id], "Payment": [payment.id],
            "CollectionCase": [case.id], "CollectionRecord": [record.id]}
