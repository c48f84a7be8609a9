"""Demo loan products for `lendline demo`: every business mode and repayment method, funding plans,
and more than a year of LPR history.

Idempotent: a product is looked up by code, a plan by product and bank, an LPR by term and date;
what exists is left alone. Institutions come from `core/orgs/demo.py` (banks HXB and JNRCB, traffic
platforms AST-001…003, the two enhancement institutions, one margin account per bank); whatever is
missing is created here with the models so this module also works on its own.

Products are validated with every product rule. Given a maker and a checker they go through review
like any product; without them (no demo accounts yet) they are applied directly, stamped as demo
data in the operation log.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from tortoise.transactions import in_transaction

from core import clock
from core.actor import SYSTEM, Actor
from core.oplog import service as oplog
from core.oplog.models import OperatorKind
from core.orgs.models import (
    AssistInstitution,
    Bank,
    BankProduct,
    EnhancementInstitution,
    EnhancementType,
    MarginAccount,
    PaymentPlatform,
)
from core.products.entity import PRODUCT
from core.products.lpr import reminder_date
from core.products.models import FundingPlan, FundingPlanChannel, LprRate, LprTerm, Product
from core.review import service as review
from core.review.models import ChangeAction

# Published LPR changes (1Y, 5Y), effective the day after publication; unchanged months repeat them.
LPR_CHANGES = [
    (date(2023, 8, 21), Decimal("3.45"), Decimal("4.20")),
    (date(2024, 2, 21), Decimal("3.45"), Decimal("3.95")),
    (date(2024, 7, 23), Decimal("3.35"), Decimal("3.85")),
    (date(2024, 10, 22), Decimal("3.10"), Decimal("3.60")),
    (date(2025, 5, 21), Decimal("3.00"), Decimal("3.50")),
]
HISTORY_MONTHS = 15


async def _bank(code: str, name: str) -> Bank:
    return await Bank.get_or_none(code=code) or await Bank.create(
        code=code, short_name=name, full_name=f"{name}股份有限公司", email=f"service@{code.lower()}.example",
        service_phone="95500")


async def _assist(number: str, name: str) -> AssistInstitution:
    return await AssistInstitution.get_or_none(number=number) or await AssistInstitution.create(
        number=number, name=name)


async def _enhancer(name: str, kind: EnhancementType) -> EnhancementInstitution:
    return await EnhancementInstitution.get_or_none(name=name) or await EnhancementInstitution.create(
        name=name, type=kind)


async def _margin(bank: Bank) -> MarginAccount:
    return await MarginAccount.filter(bank_id=bank.id).order_by("id").first() or await MarginAccount.create(
        project=f"{bank.short_name}-演示项目", bank=bank, account_bank=bank.short_name, account_no="0000",
        leverage=Decimal("10"), warning_line=Decimal("0.2"))


async def _bank_product(bank: Bank, method: str) -> int | None:
    row = await BankProduct.filter(bank_id=bank.id, repayment_method=method).order_by("id").first()
    return row.id if row else None


async def _catalogue() -> list[dict[str, Any]]:
    hxb, jn = await _bank("HXB", "华夏银行"), await _bank("JNRCB", "江南农商银行")
    a1, a2, a3 = (await _assist("AST-001", "众享流量平台"), await _assist("AST-002", "融易借"),
                  await _assist("AST-003", "快信科技"))
    guarantor = await _enhancer("中融融资担保有限公司", EnhancementType.GUARANTEE)
    insurer = await _enhancer("安信财产保险股份有限公司", EnhancementType.INSURER)
    sandbox = await PaymentPlatform.get_or_none(identifier="sandbox")  # created by load_demo_orgs
    common = {"paymentType": "private", "lprTerm": "1Y", "description": "演示产品",
              "paymentPlatformId": sandbox.id if sandbox else None}
    return [
        common | {"code": "DEMO-SELF-EI", "name": "华夏安心分期", "businessMode": "self_operated", "type": "multi",
                  "repaymentMethod": "EQUAL_INSTALLMENT", "amountMin": "1000.00", "amountMax": "200000.00",
                  "termUnit": "month", "termMin": 3, "termMax": 36, "spreadBp": 150,
                  "funders": [{"bankId": hxb.id, "bankProductId": await _bank_product(hxb, "EQUAL_INSTALLMENT")}],
                  "channelIds": [a1.id], "checkMargin": True, "marginAccountId": (await _margin(hxb)).id,
                  "riskEventEnabled": True, "riskSceneKey": "consumer_loan_admission",
                  "deductionEventEnabled": True, "deductionEventKey": "auto_deduct", "deductionSendSms": True,
                  "deductionCallbackEnabled": True, "deductionCallbackUrl": "1"},
        common | {"code": "DEMO-ASSIST-EP", "name": "江南e贷·融易借", "businessMode": "assisted", "type": "multi",
                  "repaymentMethod": "EQUAL_PRINCIPAL", "amountMin": "5000.00", "amountMax": "100000.00",
                  "termUnit": "month", "termMin": 6, "termMax": 24, "spreadBp": 280, "assistInstitutionId": a2.id,
                  "enhancementInstitutionId": guarantor.id,
                  "funders": [{"bankId": jn.id, "bankProductId": await _bank_product(jn, "EQUAL_PRINCIPAL")}],
                  "channelIds": [a2.id], "compensationEnabled": True, "compensationBasis": "bank_due_date",
                  "compensationDays": 3, "compensationTime": "10:00"},
        common | {"code": "DEMO-JOINT-IF", "name": "华夏江南联合经营贷", "businessMode": "joint", "type": "multi",
                  "repaymentMethod": "INTEREST_FIRST", "amountMin": "10000.00", "amountMax": "300000.00",
                  "termUnit": "month", "termMin": 6, "termMax": 12, "spreadBp": 200, "paymentType": "public",
                  "enhancementInstitutionId": insurer.id,
                  "funders": [{"bankId": hxb.id, "share": "70"}, {"bankId": jn.id, "share": "30"}],
                  "channelIds": [a1.id, a3.id], "disbursementEventEnabled": True,
                  "disbursementCallbackUrl": "1"},
        common | {"code": "DEMO-SELF-BULLET", "name": "华夏短期周转", "businessMode": "self_operated",
                  "type": "single", "repaymentMethod": "BULLET", "amountMin": "500.00", "amountMax": "50000.00",
                  "termUnit": "day", "termMin": 7, "termMax": 90, "spreadBp": 100,
                  "funders": [{"bankId": hxb.id, "bankProductId": await _bank_product(hxb, "BULLET")}],
                  "channelIds": [a3.id], "disbursementEventEnabled": True, "disbursementCallbackUrl": "1"},
    ]


async def _create(data: dict[str, Any], maker: Actor | None, checker: Actor | None) -> None:
    if maker is not None and checker is not None:
        change = await review.submit(maker, PRODUCT.entity_type, ChangeAction.CREATE, None, data, checker.user_id)
        await review.approve(checker, change.id, "Demo: approved")
        return
    proposal = await PRODUCT.propose(ChangeAction.CREATE, None, data, SYSTEM)
    async with in_transaction():
        pid = await PRODUCT.apply(ChangeAction.CREATE, None, proposal.payload, None, None)
        await oplog.record(SYSTEM, kind=OperatorKind.SYSTEM, module="products", action="demo",
                           summary=f"demo product {proposal.label}", detail={"productId": pid},
                           scope_product_id=pid)


async def _plans(product: Product, today: date) -> list[str]:
    """A plan in force today per funder (and a bigger one from tomorrow for the first product)."""
    done: list[str] = []
    channels = await product.channels.all().values_list("institution_id", flat=True)
    for funder in await product.funders.all().order_by("position"):
        bank_id = funder.bank_id  # type: ignore[attr-defined]
        if await FundingPlan.filter(product_id=product.id, bank_id=bank_id).exists():
            continue
        scale = Decimal(funder.share) / 100
        plan = await FundingPlan.create(product=product, bank_id=bank_id, effective_from=today, max_orders=200,
                                        max_amount=(Decimal("5000000.00") * scale).quantize(Decimal("0.01")))
        first = channels[0]
        await FundingPlanChannel.create(plan=plan, institution_id=first, max_orders=120,
                                        max_amount=(Decimal("3000000.00") * scale).quantize(Decimal("0.01")))
        if product.code == "DEMO-SELF-EI":
            await FundingPlan.create(product=product, bank_id=bank_id, effective_from=today + timedelta(days=1),
                                     max_orders=300, max_amount=Decimal("8000000.00"))
        done.append(f"funding plan of {product.code} for bank #{bank_id}")
    return done


def _published(day: date) -> tuple[Decimal, Decimal]:
    rates = LPR_CHANGES[0][1:]
    for effective, one, five in LPR_CHANGES:
        if effective <= day:
            rates = (one, five)
    return rates


async def _lpr_history(today: date) -> list[str]:
    """Monthly LPRs for the last HISTORY_MONTHS months, each in force the day after its 20th."""
    added = 0
    year, month = today.year, today.month
    for _ in range(HISTORY_MONTHS):
        effective = reminder_date(year, month) + timedelta(days=1)
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
        if effective > today:
            continue
        for term, rate in zip((LprTerm.ONE_YEAR, LprTerm.FIVE_YEAR), _published(effective), strict=True):
            if not await LprRate.filter(term=term, effective_from=effective).exists():
                await LprRate.create(term=term, rate=rate, effective_from=effective)
                added += 1
    return [f"{added} LPR history rows"] if added else []


async def load_demo_products(maker: Actor | None = None, checker: Actor | None = None) -> list[str]:
    """Create the demo products, plans and LPR history; returns what it did (nothing on a re-run)."""
    done: list[str] = []
    for data in await _catalogue():
        if not await Product.filter(code=data["code"]).exists():
            await _create(data, maker, checker)
            done.append(f"product {data['code']} {data['name']}")
    today = clock.business_today()
    for product in await Product.filter(code__startswith="DEMO-").order_by("id"):
        done += await _plans(product, today)
    done += await _lpr_history(today)
    return done
