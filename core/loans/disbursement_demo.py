"""Demo contracts and disbursements for `lendline demo`: templates, accounts, signed and paid-out loans.

`load_demo_disbursements(maker, admin)`:
1. contract templates of the three classes, in Chinese, created by `maker` (who holds
   contracts.create) — 个人借款合同 (signed), 征信查询授权书 (display and sign), 借款提示 (display only);
2. each demo bank's disbursement account at the sandbox provider (the numbers plugins.toml funds:
   DISB-001 华夏银行, DISB-002 江南农商银行), unless the payments demo created them already;
3. the sandbox payment platform on demo products that have none (products are reviewed changes; the
   demo catalogue predates payment platforms, so this is a demo-data fix-up, logged as such);
4. every approved demo loan signed; all but the newest disbursed through the sandbox (the newest
   stays signed, so the SPA has one to disburse). Margin short for a margin-checking product is
   topped up first with a demo voucher. When no approved loan exists (the orders demo did not run),
   two are created directly with the models.

Idempotent: templates by key, accounts by (bank, platform, purpose), loans by state (a signed or
disbursed loan is not touched again), the margin voucher by number. The sandbox provider keeps its
balances in memory per process, so the money moved here is not visible to a later `lendline serve`.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from core import clock
from core.actor import SYSTEM, Actor
from core.contracts import templates
from core.contracts.models import ContractTemplate
from core.contracts.render import TemplateClass
from core.contracts.signing import sign_contracts
from core.errors import UserError
from core.loans import disbursement
from core.loans.models import Customer, Loan, LoanFunder, LoanStatus
from core.loans.money import split_by_shares
from core.oplog import service as oplog
from core.oplog.models import OperatorKind
from core.orgs import margins
from core.orgs.models import AssistInstitution, Bank, MarginAccount, PaymentPlatform
from core.payments.models import AccountPurpose, ProviderAccount
from core.products.models import LprRate, LprTerm, Product, ProductFunder
from permissions.scope import EVERYTHING
from plugins.runtime import ensure_plugin_runtime

SANDBOX = "sandbox"
ACCOUNTS = (("HXB", "DISB-001", "华夏银行放款户"), ("JNRCB", "DISB-002", "江南农商银行放款户"))

LOAN_CONTRACT = """<h1>个人借款合同</h1>
<p>合同编号：{{ order_no }}</p>
<p>借款人（甲方）：{{ borrower_name }}，居民身份证号码：{{ borrower_id_number }}</p>
<p>贷款人（乙方）：{{ funder_name }}，联系邮箱：{{ funder_email }}，客服电话：{{ funder_phone }}</p>
<h2>第一条 借款金额与期限</h2>
<p>借款金额：人民币 {{ amount | money }} 元（大写：{{ amount | cn_money_upper }}）；
借款期限：{{ term }}{% if term_unit == "month" %}个月{% else %}天{% endif %}。</p>
<h2>第二条 利率</h2>
<p>本合同利率为浮动利率：贷款市场报价利率（LPR）{{ lpr_base_rate | rate }} 加 {{ spread_bp }} 个基点，
即年化 {{ final_rate | rate }}。实际执行利率以放款日适用的 LPR 加上述基点确定。</p>
<h2>第三条 参考还款计划（按签约日测算）</h2>
<table><tr><th>期数</th><th>还款日</th><th>本金</th><th>利息</th><th>合计</th><th>剩余本金</th></tr>
{% for row in schedule %}<tr><td>{{ row.period }}</td><td>{{ row.due_date | date }}</td>
<td>{{ row.principal | money }}</td><td>{{ row.interest | money }}</td><td>{{ row.total | money }}</td>
<td>{{ row.remaining_principal | money }}</td></tr>
{% endfor %}</table>
<p>签约日期：{{ signing_date | date("cn") }}</p>
"""
AUTHORISATION = """<h1>征信查询授权书</h1>
<p>本人 {{ borrower_name }}（证件号 {{ borrower_id_masked }}）不可撤销地授权 {{ funder_name }}
在本人借款 {{ amount | money }} 元的贷前、贷中、贷后管理中查询、报送本人的信用信息。</p>
<p>授权日期：{{ signing_date | date("cn") }}</p>
"""
NOTICE = """<h1>借款提示</h1>
<p>您本次借款 {{ amount | money }} 元，期限 {{ term }}{% if term_unit == "month" %}个月{% else %}天{% endif %}，
年化利率 {{ final_rate | rate }}（LPR {{ lpr_base_rate | rate }} + {{ spread_bp }} 个基点）。
如有疑问请致电 {{ funder_phone }}。请理性借贷，按时还款。</p>
"""
TEMPLATES = (
    ("demo_loan_contract", "个人借款合同", TemplateClass.LOAN_CONTRACT, LOAN_CONTRACT),
    ("demo_credit_authorisation", "征信查询授权书", TemplateClass.DISPLAY_AND_SIGN, AUTHORISATION),
    ("demo_loan_notice", "借款提示", TemplateClass.DISPLAY_ONLY, NOTICE),
)


async def _templates(maker: Actor) -> list[str]:
    done = []
    for key, name, klass, source in TEMPLATES:
        if await ContractTemplate.filter(key=key).exists():
            continue
        await templates.create(maker, EVERYTHING, templates.TemplateInput(key=key, name=name, template_class=klass,
                                                                          source=source, note="演示模板"))
        done.append(f"contract template {key} ({name}, {klass.value})")
    return done


async def _accounts(platform: PaymentPlatform) -> list[str]:
    done = []
    for code, number, name in ACCOUNTS:
        bank = await Bank.get_or_none(code=code)
        if bank is None or await ProviderAccount.filter(bank_id=bank.id, payment_platform_id=platform.id,
                                                        purpose=AccountPurpose.DISBURSEMENT).exists():
            continue
        if await ProviderAccount.filter(payment_platform_id=platform.id, account_no=number).exists():
            continue
        await ProviderAccount.create(bank=bank, payment_platform=platform, purpose=AccountPurpose.DISBURSEMENT,
                                     account_no=number, name=name)
        done.append(f"disbursement account {number} of {bank.short_name} at {SANDBOX}")
    return done


async def _platforms(platform: PaymentPlatform) -> list[str]:
    done = []
    for product in await Product.filter(code__startswith="DEMO-", payment_platform_id__isnull=True):
        await Product.filter(id=product.id, payment_platform_id__isnull=True).update(payment_platform_id=platform.id)
        await oplog.record(SYSTEM, kind=OperatorKind.SYSTEM, module="products", action="demo",
                           summary=f"demo product {product.code} pays out through {SANDBOX}",
                           detail={"productId": product.id, "paymentPlatform": SANDBOX}, scope_product_id=product.id)
        done.append(f"product {product.code} set to pay out through {SANDBOX}")
    return done


async def _lpr() -> list[str]:
    if await LprRate.filter(term=LprTerm.ONE_YEAR, effective_from__lte=clock.business_today()).exists():
        return []
    await LprRate.create(term=LprTerm.ONE_YEAR, rate=Decimal("3.4500"),
                         effective_from=clock.business_today() - timedelta(days=30))
    return ["LPR 1Y 3.45% (no LPR was in force)"]


async def _fallback_loans() -> list[str]:
    """Two approved loans made with the models when the orders demo left none to sign."""
    if await Loan.filter(status__in=[LoanStatus.APPROVED, LoanStatus.CONTRACT_SIGNED, LoanStatus.DISBURSING,
                                     LoanStatus.DISBURSED]).exists():
        return []
    product = await Product.filter(code__startswith="DEMO-", type="multi").order_by("id").first()
    channel = await AssistInstitution.filter(number__startswith="AST-").order_by("id").first()
    if product is None or channel is None:
        return []
    funders = await ProductFunder.filter(product_id=product.id).order_by("position", "id")
    if not funders:
        return []
    done = []
    now = clock.now()
    for n, (name, id_number, phone, amount) in enumerate((("周明", "310104198803150017", "13900000001", "30000.00"),
                                                          ("吴婷", "310104199107220028", "13900000002", "12000.00")),
                                                         start=1):
        customer = await Customer.get_or_none(id_number=id_number) or await Customer.create(
            customer_no=f"DEMO-D{n:04d}", name=name, id_number=id_number, phone=phone)
        loan = await Loan.create(
            order_no=f"DEMO-D{n:04d}", channel_order_no=f"DEMO-D{n:04d}", idempotency_key=f"demo-disb:{n}",
            customer=customer, product=product, channel=channel, status=LoanStatus.APPROVED, amount=Decimal(amount),
            term=12, term_unit="MONTH", repayment_method=product.repayment_method, spread_bp=product.spread_bp,
            lpr_term=product.lpr_term, disbursement_account=f"6222{phone[-8:]}0000", applied_at=now, approved_at=now)
        shares = {str(f.bank_id): Decimal(f.share) / 100 for f in funders}  # type: ignore[attr-defined]
        parts = split_by_shares(loan.amount, shares, remainder_to=str(funders[0].bank_id))  # type: ignore[attr-defined]
        for f in funders:
            await LoanFunder.create(loan=loan, bank_id=f.bank_id, share=f.share,  # type: ignore[attr-defined]
                                    amount=parts[str(f.bank_id)], position=f.position)  # type: ignore[attr-defined]
        done.append(f"approved loan {loan.order_no} ({amount}) made for the disbursement demo")
    return done


async def _margin_for(admin: Actor, loan: Loan) -> list[str]:
    product = await Product.get(id=loan.product_id)  # type: ignore[attr-defined]
    if not product.check_margin or product.margin_account_id is None:  # type: ignore[attr-defined]
        return []
    account = await MarginAccount.get(id=product.margin_account_id)  # type: ignore[attr-defined]
    needed = margins.freeze_amount(Decimal(loan.amount), Decimal(account.leverage))
    if margins.free_margin(account) >= needed:
        return []
    top = max(needed * 10, Decimal("100000.00"))
    await margins.top_up(admin, EVERYTHING, account.id, top, f"DEMO-DISB-{loan.order_no}",
                         "https://files.lendline.example/vouchers/demo-disbursement.pdf", "演示放款追加保证金")
    return [f"margin {account.project} topped up by {top} for loan {loan.order_no}"]


async def load_demo_disbursements(maker: Actor, admin: Actor) -> list[str]:
    """See the module docstring; `maker` needs contracts.create, `admin` every demo product in scope."""
    done = await _templates(maker)
    platform = await PaymentPlatform.get_or_none(identifier=SANDBOX)
    if platform is None:
        return done
    done += await _accounts(platform)
    done += await _platforms(platform)
    done += await _lpr()
    done += await _fallback_loans()
    approved = await Loan.filter(status=LoanStatus.APPROVED).order_by("id")
    for loan in approved:
        try:
            await sign_contracts(admin, loan.id, scope=EVERYTHING)
        except UserError as exc:
            done.append(f"loan {loan.order_no} not signed: {exc}")
            continue
        done.append(f"loan {loan.order_no} signed")
    signed = await Loan.filter(status=LoanStatus.CONTRACT_SIGNED).order_by("id")
    if len(signed) > 1 and not await Loan.filter(status__in=[LoanStatus.DISBURSING, LoanStatus.DISBURSED]).exists():
        to_pay = signed[:-1]  # the newest stays signed for the SPA to disburse
    elif await Loan.filter(status__in=[LoanStatus.DISBURSING, LoanStatus.DISBURSED]).exists():
        to_pay = []  # a re-run: what the first run left signed stays signed
    else:
        to_pay = signed
    if not to_pay:
        return done
    async with ensure_plugin_runtime():
        for loan in to_pay:
            done += await _margin_for(admin, loan)
            try:
                outcome = await disbursement.disburse(admin, loan.id, scope=EVERYTHING)
            except UserError as exc:
                done.append(f"loan {loan.order_no} not disbursed: {exc}")
                continue
            done.append(f"loan {loan.order_no} disbursement {outcome.payment.idempotency_key}: {outcome.status.value}")
    return done
