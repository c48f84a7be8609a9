"""Loan rows for the scope walk (tests/scope/test_scope_walk.py): one order of `product` with every
nested kind the Loan type shows (customer, funder, state log, schedule, repayment, payment), every
text field carrying `mark`, so a leak of another bank's order through any query is visible."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from core.loans.models import (
    Customer,
    Loan,
    LoanEvent,
    LoanFunder,
    LoanInstallment,
    LoanStatus,
    Payment,
    PaymentKind,
    PaymentStatus,
    Repayment,
    RepaymentKind,
    RepaymentSource,
)
from core.orgs.models import AssistInstitution, Bank
from core.products.models import Product


async def seed_loans(mark: str, bank: Bank, product: Product, channel: AssistInstitution,
                     people: dict[str, Any]) -> dict[str, list[int]]:
    """Returns ids by GraphQL type name (Loan, Customer, LoanEvent, LoanInstallment, Repayment, Payment)."""
    now = datetime.now(UTC)
    customer = await Customer.create(customer_no=f"{mark}C0001", name=f"{mark}客户", id_number=f"{mark}110105199003",
                                     phone=f"{mark}13800")
    loan = await Loan.create(
        order_no=f"{mark}-LN0001", channel_order_no=f"{mark}-CH0001", idempotency_key=f"{channel.id}:{mark}-key",
        application_digest=f"{mark}digest", customer=customer, product=product, channel=channel,
        status=LoanStatus.DISBURSED, amount=Decimal("12000.00"), term=12, term_unit="MONTH",
        repayment_method="EQUAL_INSTALLMENT", allocation_strategy=f"{mark}_STRATEGY", lpr_term="1Y",
        lpr_rate=Decimal("3.1000"), annual_rate=Decimal("0.046000"), deduction_event_key=f"{mark}_deduct",
        payment_provider=f"{mark}_pay", disbursement_account=f"{mark}-6222", risk_outcome=f"{mark}-pass",
        reject_reason=f"{mark} none", applied_at=now, approved_at=now, disbursed_at=now,
        disbursement_date=date.today(), principal_outstanding=Decimal("12000.00"))
    await LoanFunder.create(loan=loan, bank=bank, share=Decimal("100"), amount=Decimal("12000.00"))
    event = await LoanEvent.create(loan=loan, from_status="disbursing", to_status="disbursed",
                                   actor_label=f"{mark}-actor", reason=f"{mark} disbursed", created_at=now)
    installment = await LoanInstallment.create(loan=loan, number=1, start_date=date.today(), due_date=date.today(),
                                               principal=Decimal("1000.00"), interest=Decimal("46.00"))
    payment = await Payment.create(kind=PaymentKind.DISBURSEMENT, loan=loan, product=product,
                                   idempotency_key=f"{mark}-disburse", provider=f"{mark}_pay",
                                   amount=Decimal("12000.00"), status=PaymentStatus.SUCCEEDED,
                                   provider_reference=f"{mark}-REF", serial_no=f"{mark}-SER",
                                   failure_reason=f"{mark} none", business_date=date.today(), requested_at=now)
    repayment = await Repayment.create(loan=loan, product=product, channel=channel, serial_no=f"{mark}-RP1",
                                       source=RepaymentSource.MANUAL, kind=RepaymentKind.REGULAR,
                                       deduction_channel=f"{mark}-offline", paid_at=now, business_date=date.today(),
                                       amount=Decimal("100.00"), principal=Decimal("100.00"), interest=Decimal(0),
                                       fee=Decimal(0), penalty=Decimal(0))
    return {"Loan": [loan.id], "Customer": [customer.id], "LoanEvent": [event.id],
            "LoanInstallment": [installment.id], "Repayment": [repayment.id], "Payment": [payment.id]}
