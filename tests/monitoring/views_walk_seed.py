"""Fund-control view rows for the scope walk (tests/scope/test_scope_walk.py): a customer of `product`
with a disbursed loan, the disbursement and a traced payment on their account (with fund parts), a
violation on the payment, a dismissed AML violation and an early settlement — every text carrying
`mark`, so a leak through accountTransactions, fundFlowChain, violations, violationTotals,
violationAmountsByType, offsetCoefficients or blacklistSettlementQuery is visible.

No blacklist entry is created: the blacklist is platform-wide (not bank data), so its own page would
show the mark legitimately. No ExportFile either: exports are visible to their owner only.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from core.loans.models import Customer, Loan, LoanStatus, Repayment, RepaymentKind, RepaymentSource
from core.monitoring.models import (
    AccountTransaction,
    TransactionFundPart,
    TxDirection,
    TxSource,
    Violation,
    ViolationKind,
    ViolationStatus,
)
from core.orgs.models import AssistInstitution, Bank
from core.products.models import Product


async def seed_monitoring_views(mark: str, bank: Bank, product: Product, channel: AssistInstitution,
                                people: dict[str, Any]) -> dict[str, list[int]]:
    """Returns ids by GraphQL type name (AccountTransaction, Violation, Loan, Customer, Repayment)."""
    now = datetime.now(UTC)
    customer = await Customer.create(customer_no=f"{mark}MV001", name=f"{mark}监控客户",
                                     id_number=f"{mark}MV1101051990", phone=f"{mark}MV139")
    loan = await Loan.create(
        order_no=f"{mark}-MV-LN1", channel_order_no=f"{mark}-MV-CH1", idempotency_key=f"{channel.id}:{mark}-mv",
        customer=customer, product=product, channel=channel, status=LoanStatus.DISBURSED,
        amount=Decimal("20000.00"), term=12, term_unit="MONTH", repayment_method="EQUAL_INSTALLMENT",
        applied_at=now - timedelta(days=3), disbursed_at=now - timedelta(days=2),
        disbursement_date=(now - timedelta(days=2)).date(), disbursement_account=f"{mark}-MV-ACC",
        principal_outstanding=Decimal("20000.00"), reject_reason=f"{mark} none")
    common = {"order_no": loan.order_no, "loan": loan, "product": product, "customer_no": customer.customer_no,
              "account_no": f"{mark}-MV-ACC", "channel": f"{mark}网银", "source": TxSource.BATCH}
    inflow = await AccountTransaction.create(
        serial_no=f"{mark}-MV-S1", occurred_at=now - timedelta(days=2), direction=TxDirection.IN,
        amount=Decimal("20000.00"), counterparty_name=f"{mark}银行放款", counterparty_account=f"{mark}-LEND",
        counterparty_category=f"{mark}LEND", balance_after=Decimal("20000.00"), is_disbursement=True, **common)
    outflow = await AccountTransaction.create(
        serial_no=f"{mark}-MV-S2", occurred_at=now - timedelta(days=1), direction=TxDirection.OUT,
        amount=Decimal("8000.00"), counterparty_name=f"{mark}证券", counterparty_account=f"{mark}-BROKER",
        counterparty_category=f"{mark}6211", balance_after=Decimal("12000.00"), loan_part=Decimal("8000.00"),
        own_part=Decimal("0.00"), traced_at=now, **common)
    await TransactionFundPart.create(transaction=outflow, loan=loan, order_no=loan.order_no,
                                     amount=Decimal("8000.00"), share=Decimal("1"))
    diversion = await Violation.create(
        kind=ViolationKind.DIVERSION, type_code=f"{mark}GS", type_name=f"{mark}股市", transaction=outflow, loan=loan,
        product=product, order_no=loan.order_no, customer_no=customer.customer_no, amount=Decimal("8000.00"),
        loan_amount=Decimal("8000.00"), loan_share=Decimal("0.4"), confidence=Decimal("0.95"),
        detector=f"{mark}_detector", reason=f"{mark} broker account", occurred_at=outflow.occurred_at,
        detected_at=now, ledger_hash=f"{mark}hash".ljust(64, "0")[:64], dedupe_key=f"{mark}:mv:1",
        handle_comment=f"{mark} pending")
    aml = await Violation.create(
        kind=ViolationKind.AML, type_code=f"{mark}LC", type_name=f"{mark}大额现金", transaction=None, loan=loan,
        product=product, order_no=loan.order_no, customer_no=customer.customer_no, amount=Decimal("60000.00"),
        loan_amount=Decimal("0.00"), loan_share=Decimal("0"), detector=f"{mark}_aml", reason=f"{mark} cash",
        status=ViolationStatus.DISMISSED, occurred_at=now, detected_at=now, dedupe_key=f"{mark}:mv:2",
        handle_comment=f"{mark} salary")
    settled = await Repayment.create(
        loan=loan, product=product, channel=channel, serial_no=f"{mark}-MV-R1", source=RepaymentSource.DEDUCTION,
        kind=RepaymentKind.EARLY_SETTLEMENT, deduction_channel=f"{mark}_pay", paid_at=now, business_date=now.date(),
        amount=Decimal("12000.00"), principal=Decimal("12000.00"), interest=Decimal("0.00"), fee=Decimal("0.00"),
        penalty=Decimal("0.00"))
    return {"AccountTransaction": [inflow.id, outflow.id], "Violation": [diversion.id, aml.id], "Loan": [loan.id],
            "Customer": [customer.id], "Repayment": [settled.id]}
