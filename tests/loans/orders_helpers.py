"""Banks, products, plans and applications the order tests share.

Products are created directly with the models (the product review flow has its own tests); each
gets a funding plan in force today so admission can consume quota.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

from tortoise.transactions import in_transaction

from core import clock
from core.accounts.models import Role
from core.actor import Actor
from core.loans.admission import Application
from core.orgs.models import AssistInstitution, Bank
from core.products.models import (
    BusinessMode,
    FundingPlan,
    FundingPlanChannel,
    PaymentType,
    Product,
    ProductChannel,
    ProductFunder,
    ProductType,
    TermUnitChoice,
)
from core.risk.idnumber import check_char
from permissions import policy
from permissions.policy import policy_store
from permissions.scope import DataPolicy
from tests.support import make_user

_seq = itertools.count(1)


def id_number(n: int | None = None, birth: str = "19900307", region: str = "110105") -> str:
    """A valid 18-character resident ID number (distinct for distinct `n`)."""
    seq = f"{(n if n is not None else next(_seq)) % 1000:03d}"
    first17 = region + birth + seq
    return first17 + check_char(first17)


async def make_bank(code: str, mark: str = "") -> Bank:
    return await Bank.create(code=code, short_name=f"{mark}银行{code}"[:20], full_name=f"{mark}{code} Bank Co., Ltd.",
                             email=f"{code.lower()}@bank.test", service_phone="95588")


async def make_channel(number: str, name: str | None = None) -> AssistInstitution:
    return await AssistInstitution.create(name=name or f"流量{number}", number=number)


async def make_product(code: str, funders: list[tuple[Bank, str]], channels: list[AssistInstitution], *,
                       risk: bool = False, term_unit: TermUnitChoice = TermUnitChoice.MONTH, term_min: int = 3,
                       term_max: int = 36, amount_min: str = "1000.00", amount_max: str = "200000.00",
                       plan_orders: int = 1000, plan_amount: str = "100000000.00", name: str | None = None,
                       deduction_key: str = "") -> Product:
    product = await Product.create(
        code=code, name=name or f"产品{code}", business_mode=BusinessMode.JOINT if len(funders) > 1 else
        BusinessMode.SELF_OPERATED, type=ProductType.SINGLE if term_unit == TermUnitChoice.DAY else ProductType.MULTI,
        repayment_method="BULLET" if term_unit == TermUnitChoice.DAY else "EQUAL_INSTALLMENT",
        amount_min=Decimal(amount_min), amount_max=Decimal(amount_max), term_unit=term_unit, term_min=term_min,
        term_max=term_max, spread_bp=150, payment_type=PaymentType.PRIVATE, risk_event_enabled=risk,
        risk_scene_key="admission_scene" if risk else "", deduction_event_enabled=bool(deduction_key),
        deduction_event_key=deduction_key, deduction_send_sms=True if deduction_key else None)
    for i, (bank, share) in enumerate(funders):
        await ProductFunder.create(product=product, bank=bank, share=Decimal(share), position=i)
        await FundingPlan.create(product=product, bank=bank, effective_from=clock.business_today() - timedelta(days=1),
                                 max_orders=plan_orders, max_amount=Decimal(plan_amount))
    for ch in channels:
        await ProductChannel.create(product=product, institution=ch)
    return product


async def limit_channel(product: Product, bank: Bank, channel: AssistInstitution, orders: int, amount: str) -> None:
    plan = await FundingPlan.filter(product_id=product.id, bank_id=bank.id).order_by("-id").first()
    assert plan is not None
    await FundingPlanChannel.create(plan=plan, institution=channel, max_orders=orders, max_amount=Decimal(amount))


def application(product: Product, channel: AssistInstitution, **over: Any) -> Application:
    n = next(_seq)
    base = Application(idempotency_key=f"key-{n}", channel_id=channel.id, channel_order_no=f"CH-{n}",
                       product_id=product.id, name="张小三", id_number=id_number(n), phone="13812345678",
                       amount="10000.00", term=12,
                       term_unit="day" if product.term_unit == TermUnitChoice.DAY else "month")
    return replace(base, **over)


async def actor_for(account: str) -> Actor:
    from core.accounts.models import User
    from tests.products.helpers import actor_of

    return await actor_of(await User.get(account=account))


async def scoped_user(account: str, role_key: str, banks: list[Bank], pages: set[str] | None = None) -> Actor:
    """A user whose role sees only `banks` (auto-including their products), with `pages` (None: all)."""
    async with in_transaction():
        role = await Role.create(name=role_key[:20], key=role_key, enabled=True)
        await policy.set_role_pages(role.key, pages)
        ids = frozenset(b.id for b in banks)
        await policy.set_role_data(role.key, DataPolicy(bank_ids=ids, auto_bank_ids=ids))
    await policy_store().refresh()
    await make_user(account, [role_key], account[:10])
    return await actor_for(account)


class SqlCounter:
    """Counts SQL statements sent through the default connection's client class (context manager)."""

    METHODS = ("execute_insert", "execute_many", "execute_query", "execute_query_dict",
               "execute_query_dict_with_affected", "execute_script")

    def __init__(self) -> None:
        self.count = 0
        self._saved: list[tuple[type, str, Any]] = []

    def __enter__(self) -> SqlCounter:
        from tortoise import connections

        cls = type(connections.get("default"))
        for name in self.METHODS:
            original = getattr(cls, name)

            def wrapper(*args: Any, __original: Any = original, **kwargs: Any) -> Any:
                self.count += 1
                return __original(*args, **kwargs)

            self._saved.append((cls, name, cls.__dict__.get(name)))
            setattr(cls, name, wrapper)
        return self

    def __exit__(self, *exc: object) -> None:
        for cls, name, original in reversed(self._saved):
            if original is None:
                delattr(cls, name)
            else:
                setattr(cls, name, original)


async def add_schedule(loan_ids: list[int], periods: int = 36) -> None:
    """Plain installment rows for loans (the schedule's content does not matter to these tests)."""
    from datetime import date

    from core.loans.models import LoanInstallment

    rows = []
    for loan_id in loan_ids:
        for n in range(1, periods + 1):
            due = date(2026 + (n // 12), n % 12 + 1, 15)
            rows.append(LoanInstallment(loan_id=loan_id, number=n, start_date=due - timedelta(days=30), due_date=due,
                                        principal=Decimal("100.00"), interest=Decimal("3.21")))
    await LoanInstallment.bulk_create(rows, batch_size=1000)
