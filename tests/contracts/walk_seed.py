"""Rows of the contracts and disbursement part for the scope walk (tests/scope/test_scope_walk.py).

One product-specific contract template (two versions), and a signed loan of the bank's product with
its frozen contract and ledger entry. Every text field carries `mark`.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

from tortoise.transactions import in_transaction

from core import clock
from core.actor import SYSTEM
from core.contracts.models import Contract, ContractTemplate, ContractTemplateVersion
from core.contracts.render import TemplateClass, TemplateFormat
from core.ledger import service as ledger
from core.loans.models import Customer, Loan, LoanFunder, LoanStatus, Payment, PaymentKind, PaymentStatus


async def seed_contracts(mark: str, bank: Any, product: Any, channel: Any, people: dict[str, Any]
                         ) -> dict[str, list[int]]:
    now = clock.now()
    digits = str(int(hashlib.sha256(mark.encode()).hexdigest(), 16))[:10]
    template = await ContractTemplate.create(key=f"{mark.lower()}_contract", name=f"{mark}借款合同",
                                             template_class=TemplateClass.LOAN_CONTRACT, product=product,
                                             current_version=2)
    sources = [f"<p>{mark} v1 {{{{ borrower_name }}}}</p>", f"<p>{mark} v2 {{{{ borrower_name }}}}</p>"]
    versions = [await ContractTemplateVersion.create(
        template=template, version=n, source=src, source_sha256=hashlib.sha256(src.encode()).hexdigest(),
        note=f"{mark} version {n}") for n, src in enumerate(sources, start=1)]
    customer = await Customer.create(customer_no=f"{mark}CT001", name=f"{mark}借款人",
                                     id_number=f"11010519{digits}", phone="13800009999")
    loan = await Loan.create(
        order_no=f"{mark}-ORD-C1", channel_order_no=f"{mark}-CH-C1", idempotency_key=f"{mark}:contracts",
        customer=customer, product=product, channel=channel, status=LoanStatus.DISBURSING, amount=Decimal("8000.00"),
        term=6, term_unit="MONTH", repayment_method="EQUAL_INSTALLMENT", spread_bp=150,
        disbursement_account=f"{mark}-BORROWER", payment_provider=f"{mark}pay", reject_reason=f"{mark} none",
        applied_at=now, approved_at=now, signed_at=now, lpr_rate=Decimal("3.4500"), annual_rate=Decimal("0.0495"))
    await LoanFunder.create(loan=loan, bank=bank, share=Decimal("100"), amount=Decimal("8000.00"))
    text = f"<p>{mark} v2 {mark}借款人 11010519{digits}</p>"
    async with in_transaction():
        tx = await ledger.append("contract.signed", {"contractNo": f"{mark}-ORD-C1-contract", "mark": mark},
                                 initiator=SYSTEM, source=("Loan", loan.id), scope_bank_id=bank.id,
                                 scope_product_id=product.id)
        contract = await Contract.create(
            contract_no=f"{mark}-ORD-C1-contract", loan=loan, product=product, bank=bank, template=template,
            template_version=2, template_key=template.key, template_name=template.name,
            template_class=TemplateClass.LOAN_CONTRACT, markup=TemplateFormat.HTML, text=text,
            sha256=hashlib.sha256(text.encode()).hexdigest(), requires_signature=True, lpr_rate=Decimal("3.4500"),
            spread_bp=150, annual_rate=Decimal("0.0495"), ledger_tx_hash=tx.tx_hash, signed_at=now)
    payment = await Payment.create(
        kind=PaymentKind.DISBURSEMENT, loan=loan, product=product, idempotency_key=f"disb:{mark}-ORD-C1",
        provider=f"{mark}pay", debit_account=f"{mark}-DISB", credit_account=f"{mark}-BORROWER",
        amount=Decimal("8000.00"), status=PaymentStatus.UNKNOWN, failure_reason=f"{mark} no answer",
        business_date=clock.business_today(), requested_at=now)
    return {"ContractTemplate": [template.id], "ContractTemplateVersion": [v.id for v in versions],
            "LoanContract": [contract.id], "Loan": [loan.id], "Payment": [payment.id]}
