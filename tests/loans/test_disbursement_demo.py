"""The contracts and disbursement demo inside `lendline demo`: templates, the orders demo's loans
signed and disbursed (one left signed for the SPA), joint loans split, and idempotence."""

from __future__ import annotations

import pytest

from core.accounts.models import User
from core.contracts.models import Contract, ContractTemplate
from core.demo import _actor, load_demo
from core.loans.disbursement_demo import load_demo_disbursements
from core.loans.models import Loan, LoanInstallment, LoanStatus, Payment, PaymentKind

pytestmark = pytest.mark.usefixtures("db")


async def test_the_demo_signs_and_disburses_the_orders_and_a_rerun_changes_nothing() -> None:
    done = await load_demo("demo1234")
    assert any("contract template demo_loan_contract" in line for line in done), done
    assert {t.template_class for t in await ContractTemplate.all()} == {"loan_contract", "display_and_sign",
                                                                        "display_only"}
    assert await Loan.filter(order_no__startswith="DEMO-D").count() == 0  # the orders demo's loans were used
    orders = Loan.filter(order_no__startswith="LN")
    disbursed = await orders.filter(status=LoanStatus.DISBURSED).count()
    assert disbursed >= 2, done
    assert await orders.filter(status=LoanStatus.CONTRACT_SIGNED).count() == 1  # one left for the SPA
    assert await Payment.filter(kind=PaymentKind.DISBURSEMENT, status="succeeded",
                                loan__order_no__startswith="LN").count() == disbursed
    contract = await Contract.filter(template_key="demo_loan_contract").first()
    assert contract is not None and "个人借款合同" in contract.text and "LPR" in contract.text
    joint = await orders.filter(product__code="DEMO-JOINT-IF", status=LoanStatus.DISBURSED).first()
    assert joint is not None  # the joint product's loans are paid out and split between both funders
    banks = set(await LoanInstallment.filter(loan_id=joint.id).values_list("funder_parts__bank_id", flat=True))
    assert len(banks) == 2

    counts = (await Contract.all().count(), await Payment.all().count(),
              await Loan.filter(status=LoanStatus.DISBURSED).count())
    maker = await _actor(await User.get(account="maker1"))
    admin = await _actor(await User.get(account="admin"))
    assert await load_demo_disbursements(maker, admin) == []
    assert (await Contract.all().count(), await Payment.all().count(),
            await Loan.filter(status=LoanStatus.DISBURSED).count()) == counts
