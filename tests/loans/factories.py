"""Disbursed loans built straight from the models, for repayment, overdue and collection tests.

Why not through admission and disbursement: those are other use cases with their own tests; here a
loan must simply be in a known repaying state with a schedule (from `build_schedule`), its funders
and each funder's part of every installment, written by the disbursement's own
`persist_schedule` — exactly what a disbursement leaves behind.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from core.loans.models import (
    Customer,
    Loan,
    LoanFunder,
    LoanInstallment,
    LoanStatus,
)
from core.loans.money import split_by_shares
from core.loans.schedule import RepaymentMethod, ScheduleRequest, TermUnit, build_schedule
from core.loans.schedules import Funder, LoanSchedule, persist_schedule
from core.orgs.models import AssistInstitution, Bank, EnhancementInstitution, EnhancementType, PaymentPlatform
from core.payments.models import AccountPurpose, ProviderAccount
from core.products.models import (
    BusinessMode,
    PaymentType,
    Product,
    ProductChannel,
    ProductFunder,
    ProductType,
    TermUnitChoice,
)

_seq = itertools.count(1)


@dataclass
class World:
    """Banks, a channel, a payment platform with repayment accounts and one product."""

    banks: list[Bank]
    channel: AssistInstitution
    platform: PaymentPlatform
    product: Product
    shares: list[Decimal]


async def make_bank(code: str, mark: str = "") -> Bank:
    return await Bank.create(code=code, short_name=f"{mark or code}银行"[:20], full_name=f"{mark}{code} Bank Co., Ltd.",
                             email=f"{code.lower()}@bank.test", service_phone="95588")


async def make_world(mark: str = "T", *, shares: list[str] | None = None, unit: TermUnit = TermUnit.MONTH,
                     platform_identifier: str = "sandbox", **product_fields: Any) -> World:
    """A product funded by len(shares) banks (percent shares, first is the lead), channel, platform."""
    n = next(_seq)
    share_values = [Decimal(s) for s in (shares or ["100"])]
    banks = [await make_bank(f"{mark[:8]}{n}B{i}", mark) for i in range(len(share_values))]
    channel = await AssistInstitution.create(name=f"{mark}流量{n}", number=f"{mark[:8]}CH{n}")
    platform = await PaymentPlatform.get_or_none(identifier=platform_identifier)
    if platform is None:
        platform = await PaymentPlatform.create(name=f"{mark}支付{n}", identifier=platform_identifier)
    if "enhancement_institution" not in product_fields and product_fields.get("compensation_enabled"):
        product_fields["enhancement_institution"] = await EnhancementInstitution.create(
            name=f"{mark}担保{n}", type=EnhancementType.GUARANTEE)
    product = await Product.create(
        code=f"{mark[:10]}-P{n}", name=f"{mark}消费贷{n}",
        business_mode=BusinessMode.JOINT if len(banks) > 1 else BusinessMode.SELF_OPERATED,
        type=ProductType.MULTI if unit is TermUnit.MONTH else ProductType.SINGLE,
        repayment_method="EQUAL_INSTALLMENT", amount_min=Decimal("100.00"), amount_max=Decimal("500000.00"),
        term_unit=TermUnitChoice.MONTH if unit is TermUnit.MONTH else TermUnitChoice.DAY, term_min=1, term_max=360,
        payment_type=PaymentType.PRIVATE, payment_platform=platform, **product_fields)
    for position, (bank, share) in enumerate(zip(banks, share_values, strict=True)):
        await ProductFunder.create(product=product, bank=bank, share=share, position=position)
        await ProviderAccount.create(bank=bank, payment_platform=platform, purpose=AccountPurpose.REPAYMENT,
                                     account_no=f"REPAY-{bank.code}", name=f"{bank.code}还款户")
    await ProductChannel.create(product=product, institution=channel)
    return World(banks, channel, platform, product, share_values)


async def make_loan(world: World, *, amount: str = "12000.00", term: int = 12, rate: str = "0.0435",
                    start: date = date(2026, 1, 15), method: RepaymentMethod = RepaymentMethod.EQUAL_INSTALLMENT,
                    unit: TermUnit = TermUnit.MONTH, mark: str = "", status: LoanStatus = LoanStatus.DISBURSED,
                    account: str | None = None) -> Loan:
    """A disbursed loan with its schedule, funders and per-funder installment parts."""
    n = next(_seq)
    principal = Decimal(amount)
    schedule = build_schedule(ScheduleRequest(principal, Decimal(rate), term, unit, method, start))
    id_number = f"1101011990{n:08d}"[:18]
    customer = await Customer.create(customer_no=f"C{mark[:8]}{n:010d}", name=f"{mark}客户{n}",
                                     id_number=id_number, phone=f"138{n:08d}"[-11:])
    order_no = f"LN{mark[:8]}{n:08d}"
    loan = await Loan.create(
        order_no=order_no, channel_order_no=f"CH-{mark}{n}", idempotency_key=f"idem-{mark}{n}",
        customer=customer, product=world.product, channel=world.channel, status=status, amount=principal,
        term=term, term_unit=unit.value, repayment_method=method.value, annual_rate=Decimal(rate),
        lpr_rate=Decimal("3.4500"), payment_provider=world.platform.identifier,
        disbursement_account=account or f"BORROWER-{order_no}", applied_at=datetime(2026, 1, 10, tzinfo=UTC),
        disbursed_at=datetime.combine(start, datetime.min.time(), tzinfo=UTC), disbursement_date=start,
        maturity_date=schedule.installments[-1].due_date, principal_outstanding=principal)
    shares = {str(b.id): s / 100 for b, s in zip(world.banks, world.shares, strict=True)}
    lead = str(world.banks[0].id)
    funder_amounts = split_by_shares(principal, shares, lead)
    for position, bank in enumerate(world.banks):
        await LoanFunder.create(loan=loan, bank=bank, share=world.shares[position],
                                amount=funder_amounts[str(bank.id)], position=position)
    await persist_schedule(LoanSchedule(loan.id, principal, start, schedule, [
        Funder(bank.id, funder_amounts[str(bank.id)], world.shares[position])
        for position, bank in enumerate(world.banks)]))
    return loan


async def installments(loan: Loan) -> list[LoanInstallment]:
    return list(await LoanInstallment.filter(loan_id=loan.id).order_by("number"))


async def bank_scope(*bank_ids: int, role_key: str = "loans_scope_probe") -> Any:
    """The data scope of a role that sees these banks and all their products (auto), as requests build it."""
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


async def bank_user(account: str, bank_ids: set[int], nodes: set[str]) -> Any:
    """An enabled user whose only role holds `nodes` and sees `bank_ids` with all their products."""
    from tortoise.transactions import in_transaction

    from core.accounts.models import Role
    from permissions import policy
    from permissions.policy import policy_store
    from permissions.scope import DataPolicy
    from tests.support import make_user

    async with in_transaction():
        role = await Role.create(name=account[:20], key=account, enabled=True)
        await policy.set_role_pages(role.key, nodes)
        await policy.set_role_data(role.key, DataPolicy(bank_ids=frozenset(bank_ids),
                                                        auto_bank_ids=frozenset(bank_ids)))
    await policy_store().refresh()
    return await make_user(account, [account], account[:10])
