"""Institutions, actors and product inputs the product tests share.

Institutions are created directly with the models: the orgs services are built elsewhere, and
these tests are about products.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tortoise.transactions import in_transaction

from core.accounts.models import User
from core.actor import Actor
from core.orgs.models import (
    AssistInstitution,
    Bank,
    BankProduct,
    BankProductType,
    EnhancementInstitution,
    EnhancementType,
    MarginAccount,
    PaymentPlatform,
)
from core.products.entity import PRODUCT
from core.products.models import Product
from core.review import service as review
from core.review.models import ChangeAction
from permissions import policy
from permissions.policy import policy_store
from permissions.scope import DataPolicy


@dataclass
class Orgs:
    a: Bank
    b: Bank
    c: Bank
    x: AssistInstitution
    y: AssistInstitution
    enhancer: EnhancementInstitution
    margin_a: MarginAccount
    margin_b: MarginAccount
    bp_a: BankProduct
    bp_b: BankProduct
    platform: PaymentPlatform


async def make_bank(code: str) -> Bank:
    return await Bank.create(code=code, short_name=f"银行{code}", full_name=f"{code} Bank Co., Ltd.",
                             email=f"{code.lower()}@bank.test", service_phone="95588")


async def make_orgs() -> Orgs:
    a, b, c = await make_bank("BKA"), await make_bank("BKB"), await make_bank("BKC")
    x = await AssistInstitution.create(name="流量X", number="X001")
    y = await AssistInstitution.create(name="流量Y", number="Y001")
    enhancer = await EnhancementInstitution.create(name="担保E", type=EnhancementType.GUARANTEE)
    margin_a = await MarginAccount.create(project="项目A", bank=a, account_bank="A行", account_no="1",
                                          leverage=Decimal(10), warning_line=Decimal("0.2"))
    margin_b = await MarginAccount.create(project="项目B", bank=b, account_bank="B行", account_no="2",
                                          leverage=Decimal(10), warning_line=Decimal("0.2"))
    bp_a = await BankProduct.create(bank=a, name="A贷", type=BankProductType.MULTI,
                                    repayment_method="EQUAL_INSTALLMENT")
    bp_b = await BankProduct.create(bank=b, name="B贷", type=BankProductType.MULTI,
                                    repayment_method="EQUAL_INSTALLMENT")
    platform = await PaymentPlatform.create(name="沙箱支付", identifier="sandbox_pay")
    return Orgs(a, b, c, x, y, enhancer, margin_a, margin_b, bp_a, bp_b, platform)


def product_data(orgs: Orgs, **over: Any) -> dict[str, Any]:
    """A valid self-operated, multi-period product funded by bank A through channel X."""
    base: dict[str, Any] = {
        "code": "P001", "name": "安心贷", "businessMode": "self_operated", "type": "multi",
        "repaymentMethod": "EQUAL_INSTALLMENT", "amountMin": "1000.00", "amountMax": "200000.00",
        "termUnit": "month", "termMin": 3, "termMax": 24, "spreadBp": 150, "paymentType": "private",
        "funders": [{"bankId": orgs.a.id, "share": "100"}], "channelIds": [orgs.x.id],
    }
    return base | over


def joint_funders(orgs: Orgs, first: str = "70", second: str = "30") -> list[dict[str, Any]]:
    return [{"bankId": orgs.a.id, "share": first}, {"bankId": orgs.c.id, "share": second}]


async def actor_of(user: User) -> Actor:
    """The Actor a request by `user` would carry."""
    await user.fetch_related("roles")
    keys = tuple(sorted(r.key for r in user.roles if r.enabled))
    store = policy_store()
    await store.refresh()
    return Actor(user.id, user.account, user.name, keys, frozenset(store.nodes_for(list(keys))),
                 scope=store.scope_for(keys))


async def set_data(role_key: str, data: DataPolicy) -> None:
    async with in_transaction():
        await policy.set_role_data(role_key, data)
    await policy_store().refresh()


async def create_product(maker: Actor, checker: Actor, data: dict[str, Any]) -> Product:
    """A product that went through review (maker proposes, checker approves)."""
    change = await review.submit(maker, PRODUCT.entity_type, ChangeAction.CREATE, None, data, checker.user_id)
    change = await review.approve(checker, change.id, "ok")
    return await Product.get(id=change.entity_id)
