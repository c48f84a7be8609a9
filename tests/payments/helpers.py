"""Banks, products, loans and payments the payment tests share, created directly with the models.

Payments and repayments are written as rows (not through disbursement or repayment code, which other
tests cover), so reconciliation and re-push are tested against exactly the records we choose.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from core import clock
from core.loans.models import (
    Customer,
    Loan,
    LoanStatus,
    Payment,
    PaymentKind,
    PaymentStatus,
    Repayment,
    RepaymentKind,
    RepaymentSource,
)
from core.orgs.models import AssistInstitution, Bank, PaymentPlatform
from core.payments.models import AccountPurpose, ProviderAccount
from core.products.models import BusinessMode, PaymentType, Product, ProductFunder, ProductType, TermUnitChoice
from plugins.facade import PluginHost
from plugins.runtime import plugin_runtime
from plugins.testkit import host_from_dict

_seq = itertools.count(1)
PROVIDER = "sandbox"


@dataclass
class World:
    bank: Bank
    platform: PaymentPlatform
    product: Product
    channel: AssistInstitution


async def make_world(code: str = "BKA", mark: str = "", platform: PaymentPlatform | None = None,
                     channel: AssistInstitution | None = None) -> World:
    bank = await Bank.create(code=code, short_name=f"{mark}银行{code}"[:20], full_name=f"{mark}{code} Bank Co., Ltd.",
                             email=f"{code.lower()}@bank.test", service_phone="95588")
    if platform is None:
        platform = await PaymentPlatform.get_or_none(identifier=PROVIDER) or await PaymentPlatform.create(
            name="沙箱支付", identifier=PROVIDER)
    if channel is None:
        channel = await AssistInstitution.get_or_none(number="CH001") or await AssistInstitution.create(
            name="流量平台", number="CH001")
    product = await Product.create(
        code=f"{code}-P", name=f"{mark}产品{code}", business_mode=BusinessMode.SELF_OPERATED, type=ProductType.MULTI,
        repayment_method="EQUAL_INSTALLMENT", amount_min=Decimal("1000.00"), amount_max=Decimal("200000.00"),
        term_unit=TermUnitChoice.MONTH, term_min=3, term_max=36, payment_type=PaymentType.PRIVATE,
        payment_platform=platform)
    await ProductFunder.create(product=product, bank=bank, share=Decimal("100"), position=0)
    return World(bank, platform, product, channel)


async def make_account(world: World, account_no: str, purpose: AccountPurpose = AccountPurpose.DISBURSEMENT,
                       **kw: Any) -> ProviderAccount:
    return await ProviderAccount.create(bank=world.bank, payment_platform=world.platform, purpose=purpose,
                                        account_no=account_no, name=kw.pop("name", f"{account_no} 户"), **kw)


async def make_loan(world: World, *, mark: str = "", disbursed_on: date | None = None,
                    amount: str = "10000.00") -> Loan:
    n = next(_seq)
    customer = await Customer.create(customer_no=f"{mark}C{n:06d}", name=f"{mark}客户{n}",
                                     id_number=f"11010519900307{n:04d}"[:18], phone=f"1380000{n:04d}")
    return await Loan.create(
        order_no=f"{mark}LN{n:08d}", channel_order_no=f"{mark}CH{n:08d}", idempotency_key=f"ch:{mark}{n}",
        customer=customer, product=world.product, channel=world.channel,
        status=LoanStatus.DISBURSED if disbursed_on else LoanStatus.APPROVED, amount=Decimal(amount), term=12,
        term_unit="month", repayment_method="EQUAL_INSTALLMENT", applied_at=clock.now(),
        disbursement_date=disbursed_on, disbursed_at=clock.now() if disbursed_on else None,
        payment_provider=PROVIDER)


async def make_payment(world: World, loan: Loan, *, day: date, amount: str, key: str, serial: str | None,
                       status: PaymentStatus = PaymentStatus.SUCCEEDED,
                       kind: PaymentKind = PaymentKind.DISBURSEMENT) -> Payment:
    return await Payment.create(kind=kind, loan=loan, product=world.product, idempotency_key=key, provider=PROVIDER,
                                amount=Decimal(amount), status=status, serial_no=serial, business_date=day,
                                requested_at=clock.now(), settled_at=clock.now() if serial else None)


async def make_repayment(world: World, loan: Loan, *, day: date, amount: str, serial: str,
                         payment: Payment | None = None) -> Repayment:
    z = Decimal("0.00")
    return await Repayment.create(loan=loan, product=world.product, channel=world.channel, payment=payment,
                                  serial_no=serial, source=RepaymentSource.CALLBACK, kind=RepaymentKind.REGULAR,
                                  deduction_channel=PROVIDER, paid_at=clock.now(), business_date=day,
                                  amount=Decimal(amount), principal=Decimal(amount), interest=z, fee=z, penalty=z)


def sandbox_config(balances: dict[str, str] | None = None, **sms: Any) -> dict[str, Any]:
    return {"plugins": {"sandbox_pay": {"identifier": PROVIDER, "balances": balances or {}},
                        "sandbox_sms": dict(sms)}}


@asynccontextmanager
async def sandbox(balances: dict[str, str] | None = None, extra: Any = (), **sms: Any
                  ) -> AsyncIterator[PluginHost]:
    """The process's plugin runtime with the sandbox provider (and SMS), alerts wired as in the app."""
    config = sandbox_config(balances, **sms)
    for definition in extra:
        config["plugins"][definition.name] = {}
    host = host_from_dict(config, extra=extra, entry_points=False)
    async with plugin_runtime(host):
        yield host


async def bank_scope(*bank_ids: int, role_key: str = "pay_probe") -> Any:
    """The data scope of a role that sees these banks and all their products (auto-include)."""
    from tortoise.transactions import in_transaction

    from core.accounts.models import Role
    from permissions import policy
    from permissions.policy import policy_store
    from permissions.scope import DataPolicy

    async with in_transaction():
        if not await Role.filter(key=role_key).exists():
            await Role.create(name=role_key[:20], key=role_key, enabled=True)
        await policy.set_role_data(role_key, DataPolicy(bank_ids=frozenset(bank_ids),
                                                        auto_bank_ids=frozenset(bank_ids)))
    store = policy_store()
    await store.refresh()
    return store.scope_for([role_key])
