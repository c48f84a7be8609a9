"""A small lending world for contract, disbursement and schedule tests, built directly with the models.

Approved loans are created here (Customer + Loan approved + LoanFunder) rather than through
admission, which is another part's code: these tests are about what happens after approval.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from core import clock
from core.actor import Actor
from core.contracts import templates
from core.contracts.models import ContractTemplate
from core.contracts.render import TemplateClass
from core.loans.models import Customer, Loan, LoanFunder, LoanStatus
from core.loans.money import split_by_shares
from core.orgs.models import AssistInstitution, Bank, MarginAccount, PaymentPlatform
from core.payments.models import AccountPurpose, ProviderAccount
from core.products.models import (
    BusinessMode,
    LprRate,
    LprTerm,
    PaymentType,
    Product,
    ProductFunder,
    ProductType,
    TermUnitChoice,
)
from permissions.scope import EVERYTHING
from permissions.tree import NODE_KEYS
from plugins.runtime import using_host
from plugins.testkit import running_host

ADMIN = Actor(user_id=0, account="tester", name="测试管理员", role_keys=("admin",), permissions=frozenset(NODE_KEYS),
              scope=EVERYTHING)

LOAN_CONTRACT = """<h1>个人借款合同</h1>
<p>合同编号：{{ order_no }}</p>
<p>借款人：{{ borrower_name }}，身份证号：{{ borrower_id_number }}</p>
<p>贷款人：{{ funder_name }}（邮箱 {{ funder_email }}，客服电话 {{ funder_phone }}）</p>
<p>借款金额：人民币 {{ amount | money }} 元（大写：{{ amount | cn_money_upper }}）</p>
<p>借款期限：{{ term }} {% if term_unit == "month" %}个月{% else %}天{% endif %}</p>
<p>利率：LPR {{ lpr_base_rate | rate }} + {{ spread_bp }} 个基点 = 年化 {{ final_rate | rate }}</p>
<table>{% for row in schedule %}
<tr><td>{{ row.period }}</td><td>{{ row.due_date | date }}</td><td>{{ row.principal | money }}</td>
<td>{{ row.interest | money }}</td><td>{{ row.total | money }}</td></tr>{% endfor %}
</table>
<p>签约日期：{{ signing_date | date("cn") }}</p>
"""
AUTHORISATION = ("<p>征信授权书：本人 {{ borrower_name }}（{{ borrower_id_masked }}）"
                 "授权 {{ funder_name }} 查询征信。</p>")
NOTICE = "<p>温馨提示：借款 {{ amount | money }} 元，年化利率 {{ final_rate | rate }}。</p>"

_seq = itertools.count(1)


@dataclass
class World:
    lead: Bank
    partner: Bank
    platform: PaymentPlatform
    channel: AssistInstitution
    margin: MarginAccount
    lead_account: ProviderAccount


async def make_bank(code: str, name: str) -> Bank:
    return await Bank.create(code=code, short_name=name[:20], full_name=f"{name}股份有限公司",
                             email=f"loans@{code.lower()}.com.cn", service_phone="400-800-1234",
                             address="北京市西城区金融大街1号")


async def make_world(margin_balance: str = "1000000.00", lpr: str = "3.4500") -> World:
    lead = await make_bank("LDB", "领航银行")
    partner = await make_bank("PTB", "合作银行")
    platform = await PaymentPlatform.create(name="沙箱支付", identifier="sandbox")
    channel = await AssistInstitution.create(name="流量平台甲", number="TP-A01")
    margin = await MarginAccount.create(project="领航-消费贷", bank=lead, account_bank="领航银行总行",
                                        account_no="MG-0001", balance=Decimal(margin_balance), leverage=Decimal(10),
                                        warning_line=Decimal("0.1"))
    account = await ProviderAccount.create(bank=lead, payment_platform=platform, purpose=AccountPurpose.DISBURSEMENT,
                                           account_no="DISB-001", name="领航放款户")
    await ProviderAccount.create(bank=partner, payment_platform=platform, purpose=AccountPurpose.DISBURSEMENT,
                                 account_no="DISB-002", name="合作放款户")
    await LprRate.create(term=LprTerm.ONE_YEAR, rate=Decimal(lpr), effective_from=clock.business_today()
                         - timedelta(days=40))
    return World(lead, partner, platform, channel, margin, account)


async def make_product(world: World, *, code: str = "P-DISB", shares: Sequence[tuple[Bank, str]] | None = None,
                       check_margin: bool = False, method: str = "EQUAL_INSTALLMENT", unit: str = "month",
                       disbursement_event: bool = False) -> Product:
    product = await Product.create(
        code=code, name=f"{code}消费贷", business_mode=BusinessMode.SELF_OPERATED if not shares or len(shares) == 1
        else BusinessMode.JOINT, type=ProductType.MULTI if unit == "month" else ProductType.SINGLE,
        repayment_method=method, amount_min=Decimal("100.00"), amount_max=Decimal("500000.00"),
        term_unit=TermUnitChoice(unit), term_min=1, term_max=36, spread_bp=150, payment_type=PaymentType.PRIVATE,
        payment_platform=world.platform, margin_account=world.margin, check_margin=check_margin,
        disbursement_event_enabled=disbursement_event)
    for position, (bank, share) in enumerate(shares or [(world.lead, "100")]):
        await ProductFunder.create(product=product, bank=bank, share=Decimal(share), position=position)
    return product


async def approved_loan(world: World, product: Product, *, amount: str = "12000.00", term: int = 12,
                        unit: str = "MONTH", method: str | None = None, mark: str = "") -> Loan:
    n = next(_seq)
    customer = await Customer.create(customer_no=f"C{mark}{n:06d}", name=f"张{mark}三{n}",
                                     id_number=f"1101051990{n:07d}X"[:18], phone=f"1380000{n:04d}")
    now = clock.now()
    loan = await Loan.create(
        order_no=f"ORD{mark}{n:06d}", channel_order_no=f"CH{mark}{n:06d}", idempotency_key=f"tp:{mark}{n}",
        customer=customer, product=product, channel=world.channel, status=LoanStatus.APPROVED,
        amount=Decimal(amount), term=term, term_unit=unit, repayment_method=method or product.repayment_method,
        spread_bp=product.spread_bp, lpr_term="1Y", disbursement_account=f"BORROWER-{mark}{n}", applied_at=now,
        approved_at=now)
    funders = await ProductFunder.filter(product=product).order_by("position").select_related("bank")
    shares = {str(f.bank_id): Decimal(f.share) / 100 for f in funders}  # type: ignore[attr-defined]
    parts = split_by_shares(Decimal(amount), shares, remainder_to=str(funders[0].bank_id))  # type: ignore[attr-defined]
    for f in funders:
        await LoanFunder.create(loan=loan, bank_id=f.bank_id, share=f.share,  # type: ignore[attr-defined]
                                amount=parts[str(f.bank_id)], position=f.position)  # type: ignore[attr-defined]
    return loan


async def standard_templates(actor: Actor = ADMIN) -> list[ContractTemplate]:
    return [
        await templates.create(actor, EVERYTHING, templates.TemplateInput(
            key="loan_contract", name="个人借款合同", template_class=TemplateClass.LOAN_CONTRACT,
            source=LOAN_CONTRACT)),
        await templates.create(actor, EVERYTHING, templates.TemplateInput(
            key="credit_authorisation", name="征信授权书", template_class=TemplateClass.DISPLAY_AND_SIGN,
            source=AUTHORISATION)),
        await templates.create(actor, EVERYTHING, templates.TemplateInput(
            key="rate_notice", name="利率提示", template_class=TemplateClass.DISPLAY_ONLY, source=NOTICE)),
    ]


def sandbox_config(**settings: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"identifier": "sandbox",
                            "balances": {"DISB-001": "10000000.00", "DISB-002": "10000000.00"}}
    return {"plugins": {"sandbox_pay": base | settings, "sandbox_sms": {}}, "timeouts": {"payment": 1}}


@asynccontextmanager
async def sandbox(**settings: Any) -> AsyncIterator[Any]:
    """A started host with the sandbox provider installed as this process's host; yields the host."""
    async with running_host(sandbox_config(**settings)) as (host, _incidents):
        with using_host(host):
            yield host


async def balance(host: Any, account: str) -> Decimal:
    return (await host.balance("sandbox", account)).available
