"""Builders shared by the institution tests: actors, banks, margin accounts, scoped users."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tortoise.transactions import in_transaction

from core.accounts.models import Role
from core.actor import Actor
from core.orgs import banks, margins
from core.orgs.models import Bank, MarginAccount
from core.products.models import BusinessMode, PaymentType, Product, ProductType, TermUnitChoice
from permissions import policy
from permissions.policy import policy_store
from permissions.scope import EVERYTHING, DataPolicy, DataScope
from permissions.tree import NODE_KEYS
from tests.support import make_user

ORG_NODES = {"banks", "bank_products", "assist_orgs", "enhancement_orgs", "margins", "payment_platforms",
             *(f"{p}.{a}" for p in ("banks", "bank_products", "assist_orgs", "enhancement_orgs")
               for a in ("create", "update", "delete")),
             "margins.create", "margins.update", "margins.topup", "payment_platforms.create",
             "payment_platforms.delete"}


async def admin_actor(account: str = "orgadmin") -> Actor:
    user = await make_user(account, ["admin"], "机构管理员")
    return Actor(user.id, user.account, user.name, ("admin",), frozenset(NODE_KEYS), EVERYTHING)


async def only(*bank_ids: int, role_key: str = "scope_probe") -> DataScope:
    """The data scope of a (new) role limited to these banks, built the way requests build it."""
    async with in_transaction():
        if not await Role.filter(key=role_key).exists():
            await Role.create(name=role_key[:20], key=role_key, enabled=True)
        await policy.set_role_data(role_key, DataPolicy(bank_ids=frozenset(bank_ids)))
    store = policy_store()
    await store.refresh()
    return store.scope_for([role_key])


def bank_input(code: str, short: str, **overrides: Any) -> banks.BankInput:
    values: dict[str, Any] = {"code": code, "short_name": short, "full_name": f"{short}股份有限公司",
                              "email": f"service@{code.lower()}.com.cn", "service_phone": "400-669-5577",
                              "address": "北京市东城区建国门内大街22号"}
    values.update(overrides)
    return banks.BankInput(**values)


async def new_bank(actor: Actor, code: str = "HXB", short: str = "华夏银行") -> Bank:
    return await banks.create(actor, bank_input(code, short))


async def new_account(actor: Actor, bank: Bank, project: str = "华夏-消费贷项目", *, leverage: str = "10",
                      warning_line: str = "0.2", warning_amount: str = "0", top_up: str | None = None
                      ) -> MarginAccount:
    account = await margins.create(actor, EVERYTHING, margins.MarginAccountInput(
        project=project, bank_id=bank.id, account_bank="华夏银行北京分行", account_no="6230580000012345",
        leverage=Decimal(leverage), warning_line=Decimal(warning_line), warning_amount=Decimal(warning_amount)))
    if top_up is not None:
        await margins.top_up(actor, EVERYTHING, account.id, Decimal(top_up), f"V-{project}", "https://files.test/v.pdf")
        await account.refresh_from_db()
    return account


async def new_product(code: str = "P1", **refs: Any) -> Product:
    """A loan product row (the products domain's model) that references institutions."""
    return await Product.create(
        code=code, name=f"{code}消费贷", business_mode=BusinessMode.SELF_OPERATED, type=ProductType.MULTI,
        repayment_method="EQUAL_INSTALLMENT", amount_min=Decimal("1000.00"), amount_max=Decimal("200000.00"),
        term_unit=TermUnitChoice.MONTH, term_min=3, term_max=36, payment_type=PaymentType.PRIVATE, **refs)


async def scoped_user(account: str, role_key: str, bank_ids: set[int], nodes: set[str] | None = None) -> Any:
    """An enabled user whose only role sees `bank_ids`' data and holds the institution pages."""
    async with in_transaction():
        role = await Role.create(name=role_key[:20], key=role_key, enabled=True)
        await policy.set_role_pages(role.key, nodes if nodes is not None else ORG_NODES)
        await policy.set_role_data(role.key, DataPolicy(bank_ids=frozenset(bank_ids)))
    await policy_store().refresh()
    return await make_user(account, [role_key], account[:10])
