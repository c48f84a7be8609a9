"""Banks, products, disbursed loans and detector hosts for the ingestion tests.

Rows are created directly with the models: these tests are about fund control, and the order,
product and disbursement flows are tested elsewhere.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from tortoise.transactions import in_transaction

from core.accounts.models import Role, User
from core.actor import Actor
from core.loans.models import Customer, Loan, LoanStatus
from core.orgs.models import AssistInstitution, Bank, BankProduct, BankProductType
from core.products.models import BusinessMode, PaymentType, Product, ProductFunder, ProductType, TermUnitChoice
from permissions import policy
from permissions.policy import policy_store
from permissions.scope import DataPolicy
from plugins.runtime import plugin_runtime
from plugins.testkit.hosts import host_from_dict
from tests.support import make_user

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Asia/Shanghai
DETECTORS = {"plugins": {"category_detector": {}, "name_list_detector": {}}}


@dataclass
class World:
    bank: Bank
    product: Product
    channel: AssistInstitution


_n = [0]


async def make_world(mark: str, channel: AssistInstitution | None = None) -> World:
    bank = await Bank.create(code=f"{mark}01"[:20], short_name=f"{mark}银行"[:20], full_name=f"{mark} Bank",
                             email=f"{mark.lower()}@bank.test", service_phone="95500")
    credit = await BankProduct.create(bank=bank, name=f"{mark}贷", type=BankProductType.MULTI,
                                      repayment_method="EQUAL_INSTALLMENT")
    if channel is None:
        channel = await AssistInstitution.create(name=f"{mark}流量", number=f"{mark}X1"[:20])
    product = await Product.create(
        code=f"{mark}-P1", name=f"{mark}消费贷", business_mode=BusinessMode.SELF_OPERATED, type=ProductType.MULTI,
        repayment_method="EQUAL_INSTALLMENT", amount_min=Decimal("1000.00"), amount_max=Decimal("200000.00"),
        term_unit=TermUnitChoice.MONTH, term_min=3, term_max=36, payment_type=PaymentType.PRIVATE)
    await ProductFunder.create(product=product, bank=bank, bank_product=credit, share=Decimal("100"))
    return World(bank, product, channel)


async def make_loan(world: World, amount: str = "10000.00", *, customer_no: str | None = None,
                    account: str = "", status: LoanStatus = LoanStatus.DISBURSED, mark: str = "") -> Loan:
    _n[0] += 1
    n = _n[0]
    customer_no = customer_no or f"C{n:05d}"
    customer = await Customer.get_or_none(customer_no=customer_no)
    if customer is None:
        customer = await Customer.create(customer_no=customer_no, name=f"{mark}客户{n}"[:50],
                                         id_number=f"1101011990{n:08d}"[:18], phone=f"1380000{n:04d}")
    return await Loan.create(
        order_no=f"{mark}L{n:06d}"[:32], channel_order_no=f"{mark}CH{n}", idempotency_key=f"k:{mark}{n}",
        customer=customer, product=world.product, channel=world.channel, status=status, amount=Decimal(amount),
        term=12, term_unit="month", repayment_method="EQUAL_INSTALLMENT", applied_at=T0 - timedelta(days=3),
        disbursed_at=T0 - timedelta(days=1) if status is not LoanStatus.APPROVED else None,
        disbursement_date=date(2026, 3, 1), disbursement_account=account,
        principal_outstanding=Decimal(amount))


def tx(loan: Loan, serial: str, direction: str, amount: str, minutes: int = 0, **over: Any) -> dict[str, Any]:
    """One GraphQL-shaped input row for `loan`'s borrower (account ACC-<customer no.>)."""
    customer_no = loan.customer.customer_no
    row = {"orderNo": loan.order_no, "serialNo": serial, "customerNo": customer_no,
           "accountNo": f"ACC-{customer_no}", "occurredAt": T0 + timedelta(minutes=minutes),
           "direction": direction, "amount": amount}
    return row | over


async def actor_for(user: User) -> Actor:
    await user.fetch_related("roles")
    keys = tuple(sorted(r.key for r in user.roles if r.enabled))
    store = policy_store()
    await store.refresh()
    return Actor(user.id, user.account, user.name, keys, frozenset(store.nodes_for(list(keys))),
                 scope=store.scope_for(keys))


async def bank_user(account: str, bank: Bank, key: str) -> User:
    """A user with every page and only `bank`'s data."""
    async with in_transaction():
        role = await Role.create(name=f"{key}角色", key=key, enabled=True)
        await policy.set_role_pages(role.key, None)
        await policy.set_role_data(role.key, DataPolicy(bank_ids=frozenset({bank.id}),
                                                        auto_bank_ids=frozenset({bank.id})))
    await policy_store().refresh()
    return await make_user(account, [key], account[:10])


@contextlib.asynccontextmanager
async def detectors(extra: tuple[Any, ...] = (), config: dict[str, Any] | None = None) -> AsyncIterator[Any]:
    """The built-in detector plugins running as this process's host."""
    host = host_from_dict(config or DETECTORS, extra=extra, entry_points=False)
    async with plugin_runtime(host) as running:
        yield running
