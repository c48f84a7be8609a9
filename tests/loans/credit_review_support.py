"""Loans waiting for manual credit review, built straight from the models (admission has its own tests)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from core import clock
from core.accounts.models import User
from core.actor import Actor
from core.loans.models import Customer, Loan, LoanStatus
from core.orgs.models import AssistInstitution, Bank
from core.products.models import (
    BusinessMode,
    PaymentType,
    Product,
    ProductChannel,
    ProductFunder,
    ProductType,
    TermUnitChoice,
)
from core.risk.idnumber import check_char
from permissions.scope import DataPolicy
from tests.products.helpers import actor_of, set_data
from tests.support import make_user

_seq = itertools.count(1)


@dataclass
class ReviewWorld:
    alpha: Bank
    zeta: Bank
    channel: AssistInstitution
    product_a: Product  # funded by alpha
    product_z: Product  # funded by zeta


async def make_bank(code: str, mark: str = "") -> Bank:
    return await Bank.create(code=code, short_name=f"{mark}{code}银行"[:20], full_name=f"{mark}{code} Bank Co., Ltd.",
                             email=f"{code.lower()}@bank.test", service_phone="95588")


async def make_product(code: str, bank: Bank, channel: AssistInstitution, name: str = "信审测试贷") -> Product:
    product = await Product.create(
        code=code, name=name, business_mode=BusinessMode.SELF_OPERATED, type=ProductType.MULTI,
        repayment_method="EQUAL_INSTALLMENT", amount_min=Decimal("1000"), amount_max=Decimal("200000"),
        term_unit=TermUnitChoice.MONTH, term_min=3, term_max=36, spread_bp=150, payment_type=PaymentType.PRIVATE,
        risk_event_enabled=True, risk_scene_key="admission")
    await ProductFunder.create(product=product, bank=bank, share=Decimal("100"), position=0)
    await ProductChannel.create(product=product, institution=channel)
    return product


async def make_review_world() -> ReviewWorld:
    alpha, zeta = await make_bank("ALPHA"), await make_bank("ZETA")
    channel = await AssistInstitution.create(name="流量信审", number="CR-001")
    return ReviewWorld(alpha, zeta, channel, await make_product("CR-A", alpha, channel),
                       await make_product("CR-Z", zeta, channel))


def id_number(n: int) -> str:
    body = f"110105199003{n % 28 + 1:02d}{n % 1000:03d}"
    return body + check_char(body)


async def manual_loan(product: Product, channel: AssistInstitution, *, mark: str = "",
                      status: LoanStatus = LoanStatus.MANUAL_REVIEW, amount: str = "30000.00") -> Loan:
    """A loan the risk engine referred to manual review (its own customer)."""
    n = next(_seq)
    customer = await Customer.create(customer_no=f"CRC{mark}{n:06d}"[:32], name=f"客户{mark}{n}"[:50],
                                     id_number=id_number(n + 500 * len(mark)), phone=f"139{n:08d}")
    return await Loan.create(
        order_no=f"CR{mark}{n:06d}"[:32], channel_order_no=f"CH{mark}{n}", idempotency_key=f"cr:{mark}:{n}",
        customer=customer, product=product, channel=channel, status=status, amount=Decimal(amount), term=12,
        term_unit="month", repayment_method="EQUAL_INSTALLMENT", risk_outcome="manual_review",
        applied_at=clock.now())


async def role_user(account: str, role_key: str, nodes: set[str], data: DataPolicy, name: str | None = None
                    ) -> tuple[User, Actor]:
    """A user with a fresh role holding `nodes` and the data policy `data`, and their Actor."""
    from tortoise.transactions import in_transaction

    from core.accounts.models import Role
    from permissions import policy

    if not await Role.filter(key=role_key).exists():
        await Role.create(key=role_key, name=role_key[:20], enabled=True)
        async with in_transaction():
            await policy.set_role_pages(role_key, set(nodes))
    await set_data(role_key, data)
    user = await make_user(account, [role_key], name)
    return user, await actor_of(user)


def bank_policy(*banks: Bank) -> DataPolicy:
    return DataPolicy(bank_ids=frozenset(b.id for b in banks), auto_bank_ids=frozenset(b.id for b in banks))


REVIEWER_NODES = {"credit_review", "credit_review.decide"}
COORDINATOR_NODES = {"credit_review", "credit_review.assign"}


def field_codes(exc: Any) -> list[tuple[str | None, str]]:
    return [(e.field, e.code.value) for e in exc.value.errors]
