"""Rows for the fund-control view tests, created directly with the models.

Ingestion, tracing and detection are built elsewhere; these tests are about reading, so a bank, a
product, a loan, transactions (with their traced parts) and violations are inserted as the other
services would leave them. Every text carries the bank's `mark`, so scope tests can look for leaks.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from tortoise.transactions import in_transaction

from core import clock
from core.accounts.models import Role
from core.actor import Actor
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
from core.products.models import BusinessMode, PaymentType, Product, ProductFunder, ProductType, TermUnitChoice
from permissions import policy
from permissions.scope import DataPolicy
from tests.products.helpers import actor_of, set_data
from tests.support import make_user

_seq = itertools.count(1)


def D(value: str | int) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


@dataclass
class World:
    """One bank with one product, a channel, a customer and a disbursed loan."""

    mark: str
    bank: Bank
    product: Product
    channel: AssistInstitution
    customer: Customer
    loan: Loan


async def make_channel(name: str = "公共流量平台") -> AssistInstitution:
    return await AssistInstitution.create(name=name, number=f"TP{next(_seq):04d}", phone="4000000000")


async def make_bank_product(mark: str) -> tuple[Bank, Product]:
    bank = await Bank.create(code=f"{mark}01", short_name=f"{mark}银行", full_name=f"{mark} Bank Co., Ltd.",
                             email=f"service@{mark.lower()}.cn", service_phone="95500")
    product = await Product.create(
        code=f"{mark}-P1", name=f"{mark}消费贷", business_mode=BusinessMode.SELF_OPERATED, type=ProductType.MULTI,
        repayment_method="EQUAL_INSTALLMENT", amount_min=Decimal("1000.00"), amount_max=Decimal("200000.00"),
        term_unit=TermUnitChoice.MONTH, term_min=3, term_max=36, payment_type=PaymentType.PRIVATE,
        description=f"{mark} product")
    await ProductFunder.create(product=product, bank=bank, share=Decimal("100"))
    return bank, product


async def make_customer(mark: str, customer_no: str | None = None, id_number: str | None = None,
                        phone: str | None = None) -> Customer:
    n = next(_seq)
    return await Customer.create(customer_no=customer_no or f"{mark}C{n:05d}", name=f"{mark}客户{n}",
                                 id_number=id_number or f"{n:06d}{mark[:2]}".ljust(18, "0")[:18],
                                 phone=phone or f"139{n:08d}")


async def make_loan(mark: str, product: Product, channel: AssistInstitution, customer: Customer,
                    amount: str = "10000.00", disbursed: date | None = None) -> Loan:
    n = next(_seq)
    at = clock.now()
    day = disbursed or clock.business_today()
    return await Loan.create(
        order_no=f"{mark}O{n:06d}", channel_order_no=f"{mark}-CH-{n}", idempotency_key=f"{mark}:{n}",
        customer=customer, product=product, channel=channel, status=LoanStatus.DISBURSED, amount=D(amount), term=12,
        term_unit="month", repayment_method="EQUAL_INSTALLMENT", applied_at=at, disbursed_at=at,
        disbursement_date=day, disbursement_account=f"{mark}-ACC-{customer.customer_no}",
        principal_outstanding=D(amount))


async def make_world(mark: str, channel: AssistInstitution | None = None, *, loan_amount: str = "10000.00",
                     disbursed: date | None = None) -> World:
    bank, product = await make_bank_product(mark)
    channel = channel or await make_channel()
    customer = await make_customer(mark)
    loan = await make_loan(mark, product, channel, customer, loan_amount, disbursed)
    return World(mark, bank, product, channel, customer, loan)


async def make_tx(w: World, direction: TxDirection, amount: str, at: datetime, *, loan_part: str | None = None,
                  disbursement: bool = False, repayment: bool = False, balance_after: str | None = None,
                  counterparty: str | None = None, customer: Customer | None = None, loan: Loan | None = None,
                  account_no: str | None = None, category: str = "") -> AccountTransaction:
    """A transaction as ingestion + tracing store it; for an outflow with `loan_part`, the fund parts too."""
    n = next(_seq)
    cust = customer or w.customer
    ln = loan or w.loan
    tx = await AccountTransaction.create(
        serial_no=f"{w.mark}S{n:08d}", order_no=ln.order_no, loan=ln, product_id=ln.product_id,  # type: ignore[attr-defined]
        customer_no=cust.customer_no, account_no=account_no or f"{w.mark}-ACC-{cust.customer_no}", occurred_at=at,
        direction=direction, amount=D(amount), counterparty_name=counterparty or f"{w.mark}对手{n}",
        counterparty_account=f"{w.mark}-CP-{n}", counterparty_category=category, channel=f"{w.mark}网银",
        balance_after=D(balance_after) if balance_after is not None else None, is_disbursement=disbursement,
        is_repayment=repayment, source=TxSource.BATCH,
        loan_part=D(loan_part) if loan_part is not None else None,
        own_part=D(amount) - D(loan_part) if loan_part is not None else None,
        traced_at=clock.now() if loan_part is not None else None)
    if direction is TxDirection.OUT and loan_part is not None:
        lp, own = D(loan_part), D(amount) - D(loan_part)
        if lp:
            await TransactionFundPart.create(transaction=tx, loan=ln, order_no=ln.order_no, amount=lp,
                                             share=(lp / D(amount)).quantize(Decimal("0.000001")))
        if own:
            await TransactionFundPart.create(transaction=tx, loan=None, order_no="", amount=own,
                                             share=(own / D(amount)).quantize(Decimal("0.000001")))
    return tx


async def make_violation(w: World, tx: AccountTransaction | None, *, code: str = "GS", name: str = "股市",
                         kind: ViolationKind = ViolationKind.DIVERSION, amount: str | None = None,
                         loan_amount: str | None = None, detected: datetime | None = None,
                         status: ViolationStatus = ViolationStatus.OPEN, loan: Loan | None = None,
                         customer_no: str | None = None) -> Violation:
    n = next(_seq)
    ln = loan or w.loan
    amt = D(amount) if amount is not None else D(tx.amount) if tx else D("100")
    lamt = D(loan_amount) if loan_amount is not None else D(tx.loan_part or 0) if tx else amt
    at = detected or clock.now()
    return await Violation.create(
        kind=kind, type_code=code, type_name=f"{name}", transaction=tx, loan=ln, product_id=ln.product_id,  # type: ignore[attr-defined]
        order_no=ln.order_no, customer_no=customer_no or (tx.customer_no if tx else w.customer.customer_no),
        amount=amt, loan_amount=lamt, loan_share=(lamt / D(ln.amount)).quantize(Decimal("0.000001")),
        confidence=Decimal("0.9000"), detector=f"{w.mark}_detector", reason=f"{w.mark} reason {n}", status=status,
        occurred_at=tx.occurred_at if tx else at, detected_at=at, ledger_hash=f"{n:064x}",
        dedupe_key=f"{w.mark}:{n}")


async def make_early_settlement(w: World, amount: str = "5000.00", loan: Loan | None = None,
                                at: datetime | None = None) -> Repayment:
    n = next(_seq)
    ln = loan or w.loan
    paid = at or clock.now()
    return await Repayment.create(
        loan=ln, product_id=ln.product_id, channel_id=ln.channel_id,  # type: ignore[attr-defined]
        serial_no=f"{w.mark}R{n:06d}", source=RepaymentSource.DEDUCTION, kind=RepaymentKind.EARLY_SETTLEMENT,
        deduction_channel=f"{w.mark}_pay", paid_at=paid, business_date=paid.date(), amount=D(amount),
        principal=D(amount), interest=D(0), fee=D(0), penalty=D(0))


async def scoped_user(key: str, bank_ids: set[int] | None, pages: set[str] | None) -> tuple[Any, Actor]:
    """A user whose only role holds `pages` (None: every node) and sees `bank_ids` (None: every bank)."""
    async with in_transaction():
        await Role.create(name=key, key=key, enabled=True)
        await policy.set_role_pages(key, pages)
    await set_data(key, DataPolicy(all=True) if bank_ids is None else
                   DataPolicy(bank_ids=frozenset(bank_ids), auto_bank_ids=frozenset(bank_ids)))
    user = await make_user(f"u_{key}", [key])
    return user, await actor_of(user)


def days_ago(n: int, hour: int = 10) -> datetime:
    """A business-time instant `n` days before today, at `hour` o'clock."""
    from core.monitoring.views import day_start

    return day_start(clock.business_today() - timedelta(days=n)) + timedelta(hours=hour)
