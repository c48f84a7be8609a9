"""Demo institutions for `lendline demo`: two banks with credit products, traffic platforms,
enhancement institutions, a topped-up margin account per bank, and the built-in payment platforms.

Idempotent: each step looks for what it would create (by code, name, project or voucher) and skips
it when present. Everything goes through the services, so the demo also exercises the validation
and leaves operation-log entries like a real installation.
"""

from __future__ import annotations

from decimal import Decimal

from core.actor import SYSTEM
from core.orgs import assist, bank_products, banks, enhancement, margins, payment_platforms
from core.orgs.models import (
    AssistInstitution,
    Bank,
    BankProduct,
    BankProductType,
    EnhancementInstitution,
    EnhancementType,
    MarginAccount,
    MarginMovement,
    PaymentPlatform,
)
from permissions.scope import EVERYTHING

BANKS = [
    banks.BankInput(code="HXB", short_name="华夏银行", full_name="华夏银行股份有限公司",
                    email="service@hxb.com.cn", service_phone="95577",
                    address="北京市东城区建国门内大街22号"),
    banks.BankInput(code="JNRCB", short_name="江南农商银行", full_name="江苏江南农村商业银行股份有限公司",
                    email="service@jnbank.com.cn", service_phone="0519-96005",
                    address="江苏省常州市武进区延政中路9号"),
]
PRODUCTS = {
    "HXB": [
        ("华夏个人消费贷", BankProductType.MULTI, "EQUAL_INSTALLMENT", "个人消费用途，12–36期等额本息"),
        ("华夏小微经营贷", BankProductType.MULTI, "INTEREST_FIRST", "小微企业主经营周转，先息后本"),
        ("华夏短期周转贷", BankProductType.SINGLE, "BULLET", "30–90天，到期一次性还本付息"),
    ],
    "JNRCB": [
        ("江南e贷", BankProductType.MULTI, "EQUAL_PRINCIPAL", "线上信用贷款，等额本金"),
        ("江南农户贷", BankProductType.SINGLE, "BULLET", "农户季节性资金需求，一次性还本付息"),
    ],
}
ASSIST = [
    assist.AssistInput(name="众享流量平台", number="AST-001", phone="400-820-1001",
                       address="上海市浦东新区世纪大道100号"),
    assist.AssistInput(name="融易借", number="AST-002", phone="400-886-2002", address="深圳市南山区科技园科苑路15号"),
    assist.AssistInput(name="快信科技", number="AST-003", phone="010-65881234", address="北京市朝阳区望京街10号"),
]
ENHANCEMENT = [
    enhancement.EnhancementInput(name="中融融资担保有限公司", type=EnhancementType.GUARANTEE, contact="王经理",
                                 phone="021-68881234", attributes="融资担保；注册资本10亿元"),
    enhancement.EnhancementInput(name="安信财产保险股份有限公司", type=EnhancementType.INSURER, contact="李经理",
                                 phone="95505", attributes="履约保证保险"),
]
MARGINS = {
    "HXB": margins.MarginAccountInput(project="华夏-众享消费贷项目", account_bank="华夏银行北京分行营业部",
                                      account_no="10250000001234567", leverage=Decimal("10"),
                                      warning_line=Decimal("0.2"), warning_amount=Decimal("500000.00")),
    "JNRCB": margins.MarginAccountInput(project="江南-融易借e贷项目", account_bank="江南农商银行常州武进支行",
                                        account_no="6228480012345678", leverage=Decimal("8"),
                                        warning_line=Decimal("0.25"), warning_amount=Decimal("200000.00")),
}
TOP_UPS = {
    "HXB": (Decimal("3000000.00"), "HXB-BZJ-20260105-001"),
    "JNRCB": (Decimal("1200000.00"), "JNRCB-BZJ-20260108-001"),
}
# Identifiers of the built-in payment-provider plugins (plugins/builtin/sandbox_pay.py, http_pay.py).
PLATFORMS = [
    payment_platforms.PaymentPlatformInput(name="沙箱支付", identifier="sandbox"),
    payment_platforms.PaymentPlatformInput(name="HTTP支付网关", identifier="http"),
]


async def load_demo_orgs() -> list[str]:
    """Create the demo institutions; returns what it did, one line each (nothing on a second run)."""
    done: list[str] = []
    by_code: dict[str, Bank] = {}
    for data in BANKS:
        bank = await Bank.get_or_none(code=data.code)
        if bank is None:
            bank = await banks.create(SYSTEM, data)
            done.append(f"bank {bank.short_name} ({bank.code})")
        by_code[bank.code] = bank
    for code, products in PRODUCTS.items():
        bank = by_code[code]
        for name, kind, method, description in products:
            if not await BankProduct.filter(bank_id=bank.id, name=name).exists():
                await bank_products.create(SYSTEM, EVERYTHING, bank.id, bank_products.BankProductInput(
                    name=name, type=kind, repayment_method=method, description=description))
                done.append(f"bank product {name} of {bank.short_name}")
    for a in ASSIST:
        if not await AssistInstitution.filter(number=a.number).exists():
            await assist.create(SYSTEM, a)
            done.append(f"lending-assist institution {a.name}")
    for e in ENHANCEMENT:
        if not await EnhancementInstitution.filter(name=e.name).exists():
            await enhancement.create(SYSTEM, e)
            done.append(f"credit-enhancement institution {e.name}")
    for code, settings in MARGINS.items():
        bank = by_code[code]
        account = await MarginAccount.get_or_none(project=settings.project)
        if account is None:
            account = await margins.create(SYSTEM, EVERYTHING, margins.MarginAccountInput(
                **{**settings.__dict__, "bank_id": bank.id}))
            done.append(f"margin account {account.project}")
        amount, voucher = TOP_UPS[code]
        if not await MarginMovement.filter(account_id=account.id, voucher_no=voucher).exists():
            await margins.top_up(SYSTEM, EVERYTHING, account.id, amount, voucher,
                                 f"https://files.lendline.example/vouchers/{voucher}.pdf", "首次预缴保证金")
            done.append(f"margin top-up {amount} on {account.project}")
    for p in PLATFORMS:
        if not await PaymentPlatform.filter(identifier=p.identifier).exists():
            await payment_platforms.create(SYSTEM, p)
            done.append(f"payment platform {p.name} ({p.identifier})")
    return done
