"""Loan products (SPEC §3), their funders and traffic channels, funding plans and LPR base rates.

Why funders are a table: a product is run by one bank (self-operated, assisted) or shared by
several (joint lending, F-PROD-1); the data scope (F-ROLE-3) decides which products a role sees
through these rows — "banks that run product A" is `ProductFunder` with product A.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class BusinessMode(StrEnum):
    SELF_OPERATED = "self_operated"  # 自营
    ASSISTED = "assisted"  # 助贷
    JOINT = "joint"  # 联合贷


class ProductType(StrEnum):
    SINGLE = "single"  # 单期
    MULTI = "multi"  # 多期


class TermUnitChoice(StrEnum):
    DAY = "day"
    MONTH = "month"


class CompensationBasis(StrEnum):
    FRONT_DUE_DATE = "front_due_date"  # 前端还款日
    BANK_DUE_DATE = "bank_due_date"  # 银行还款日


class PaymentType(StrEnum):
    PUBLIC = "public"  # 对公
    PRIVATE = "private"  # 对私


class Product(Model):
    """The whole configuration of a loan product, changed only through reviewed changes (F-REV-1)."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=30, unique=True)
    name = fields.CharField(max_length=50)
    business_mode = fields.CharEnumField(BusinessMode, max_length=20)
    type = fields.CharEnumField(ProductType, max_length=10)
    repayment_method = fields.CharField(max_length=30)  # core.loans.schedule.RepaymentMethod value
    amount_min = fields.DecimalField(max_digits=18, decimal_places=2)
    amount_max = fields.DecimalField(max_digits=18, decimal_places=2)
    term_unit = fields.CharEnumField(TermUnitChoice, max_length=10)
    term_min = fields.IntField()
    term_max = fields.IntField()
    spread_bp = fields.IntField(default=0)  # loan rate = LPR + spread (basis points, may be negative)
    lpr_term = fields.CharField(max_length=4, default="1Y")  # which LPR the rate floats on
    assist_institution = fields.ForeignKeyField("lendline.AssistInstitution", related_name=False, null=True,
                                                on_delete=fields.RESTRICT)
    enhancement_institution = fields.ForeignKeyField("lendline.EnhancementInstitution", related_name=False,
                                                     null=True, on_delete=fields.RESTRICT)
    payment_type = fields.CharEnumField(PaymentType, max_length=10)
    payment_platform = fields.ForeignKeyField("lendline.PaymentPlatform", related_name=False, null=True,
                                              on_delete=fields.RESTRICT)
    # Compensation point (刚兑/代偿, F-PROD-3): off, or N days after a due date at a time of day.
    compensation_enabled = fields.BooleanField(default=False)
    compensation_basis = fields.CharEnumField(CompensationBasis, max_length=20, null=True)
    compensation_days = fields.IntField(null=True)
    # Penalty interest on overdue installments (F-LOAN-5); null: the platform's system parameters
    # `loan.penalty_daily_rate` / `loan.penalty_base`.
    penalty_daily_rate = fields.DecimalField(max_digits=10, decimal_places=6, null=True)
    penalty_base = fields.CharField(max_length=30, null=True)  # core.loans.penalty.PenaltyBase
    compensation_time = fields.CharField(max_length=5, null=True)  # "HH:MM", 00:00–23:59
    # Events (F-PROD-4).
    risk_event_enabled = fields.BooleanField(default=False)
    risk_scene_key = fields.CharField(max_length=50, default="")
    disbursement_event_enabled = fields.BooleanField(default=False)
    disbursement_callback_url = fields.CharField(max_length=500, default="")  # "1": no callback
    deduction_event_enabled = fields.BooleanField(default=False)
    deduction_event_key = fields.CharField(max_length=50, default="")
    deduction_send_sms = fields.BooleanField(null=True)
    deduction_callback_enabled = fields.BooleanField(default=False)
    deduction_callback_url = fields.CharField(max_length=500, default="")  # "1": no callback
    # Margin (F-ORG-5): when on, disbursement freezes amount ÷ leverage on this account.
    check_margin = fields.BooleanField(default=False)
    margin_account = fields.ForeignKeyField("lendline.MarginAccount", related_name=False, null=True,
                                            on_delete=fields.RESTRICT)
    description = fields.CharField(max_length=500, default="")
    enabled = fields.BooleanField(default=True)
    version = fields.IntField(default=1)
    last_maker = fields.ForeignKeyField("lendline.User", related_name=False, null=True, on_delete=fields.SET_NULL)
    last_checker = fields.ForeignKeyField("lendline.User", related_name=False, null=True,
                                          on_delete=fields.SET_NULL)
    last_action = fields.CharField(max_length=10, default="")
    reviewed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    funders: fields.ReverseRelation[ProductFunder]
    channels: fields.ReverseRelation[ProductChannel]

    class Meta:
        table = "product"


class ProductFunder(Model):
    """A bank funding a product, with its share of each loan in percent (shares sum to 100)."""

    id = fields.IntField(primary_key=True)
    product = fields.ForeignKeyField("lendline.Product", related_name="funders", on_delete=fields.CASCADE)
    bank = fields.ForeignKeyField("lendline.Bank", related_name="product_funders", on_delete=fields.RESTRICT)
    bank_product = fields.ForeignKeyField("lendline.BankProduct", related_name=False, null=True,
                                          on_delete=fields.RESTRICT)
    share = fields.DecimalField(max_digits=7, decimal_places=4)  # percent, e.g. 70.0000
    position = fields.IntField(default=0)  # order funders were listed in (the first takes rounding)

    class Meta:
        table = "product_funder"
        unique_together = (("product", "bank"),)


class ProductChannel(Model):
    """A traffic channel of a product: a lending-assist institution that may send it orders."""

    id = fields.IntField(primary_key=True)
    product = fields.ForeignKeyField("lendline.Product", related_name="channels", on_delete=fields.CASCADE)
    institution = fields.ForeignKeyField("lendline.AssistInstitution", related_name=False,
                                         on_delete=fields.RESTRICT)

    class Meta:
        table = "product_channel"
        unique_together = (("product", "institution"),)


class FundingPlan(Model):
    """A daily funding limit for one product and funder (资金投放计划, F-PROD-5).

    The plan in force on day D is the newest row with `effective_from` ≤ D. Saving writes a row
    effective tomorrow; "effective now" writes it effective today.
    """

    id = fields.IntField(primary_key=True)
    product = fields.ForeignKeyField("lendline.Product", related_name="funding_plans", on_delete=fields.CASCADE)
    bank = fields.ForeignKeyField("lendline.Bank", related_name=False, on_delete=fields.RESTRICT)
    effective_from = fields.DateField(db_index=True)
    max_orders = fields.IntField()
    max_amount = fields.DecimalField(max_digits=18, decimal_places=2)
    created_by = fields.ForeignKeyField("lendline.User", related_name=False, null=True, on_delete=fields.SET_NULL)
    created_at = fields.DatetimeField(auto_now_add=True)

    channel_limits: fields.ReverseRelation[FundingPlanChannel]

    class Meta:
        table = "funding_plan"


class FundingPlanChannel(Model):
    """The daily limit of one traffic channel inside a funding plan."""

    id = fields.IntField(primary_key=True)
    plan = fields.ForeignKeyField("lendline.FundingPlan", related_name="channel_limits", on_delete=fields.CASCADE)
    institution = fields.ForeignKeyField("lendline.AssistInstitution", related_name=False,
                                         on_delete=fields.RESTRICT)
    max_orders = fields.IntField()
    max_amount = fields.DecimalField(max_digits=18, decimal_places=2)

    class Meta:
        table = "funding_plan_channel"
        unique_together = (("plan", "institution"),)


class FundingUsage(Model):
    """What admission has used of the plan of a day, per product, funder and channel.

    Admission increments it with a conditional UPDATE (`used + n <= limit`), so two processes can
    never admit past the plan together. The amount is kept in whole cents (an integer) because
    SQLite stores tortoise decimals as text: `amount + x <= limit` must be exact arithmetic in SQL on
    both backends.
    """

    id = fields.BigIntField(primary_key=True)
    product = fields.ForeignKeyField("lendline.Product", related_name=False, on_delete=fields.CASCADE)
    bank = fields.ForeignKeyField("lendline.Bank", related_name=False, on_delete=fields.RESTRICT)
    institution = fields.ForeignKeyField("lendline.AssistInstitution", related_name=False,
                                         on_delete=fields.RESTRICT)
    day = fields.DateField()
    orders = fields.IntField(default=0)
    amount_cents = fields.BigIntField(default=0)

    class Meta:
        table = "funding_usage"
        unique_together = (("product", "bank", "institution", "day"),)


class FundingUsageTotal(Model):
    """Whole-day usage of the plan of a product by one funder, across all channels.

    Why its own row: the plan's totals span every channel, and only a single row can be guarded by
    one conditional UPDATE (a sum over channel rows read by two transactions at once would let both
    pass). Admission bumps this row and the channel's `FundingUsage` row in one transaction.
    """

    id = fields.BigIntField(primary_key=True)
    product = fields.ForeignKeyField("lendline.Product", related_name=False, on_delete=fields.CASCADE)
    bank = fields.ForeignKeyField("lendline.Bank", related_name=False, on_delete=fields.RESTRICT)
    day = fields.DateField()
    orders = fields.IntField(default=0)
    amount_cents = fields.BigIntField(default=0)

    class Meta:
        table = "funding_usage_total"
        unique_together = (("product", "bank", "day"),)


class LprTerm(StrEnum):
    ONE_YEAR = "1Y"
    FIVE_YEAR = "5Y"


class LprRate(Model):
    """A published LPR (F-PROD-6): in force from `effective_from` (the day after it was saved)."""

    id = fields.IntField(primary_key=True)
    term = fields.CharEnumField(LprTerm, max_length=4)
    rate = fields.DecimalField(max_digits=7, decimal_places=4)  # percent per year, e.g. 3.4500
    effective_from = fields.DateField()
    created_by = fields.ForeignKeyField("lendline.User", related_name=False, null=True, on_delete=fields.SET_NULL)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "lpr_rate"
        unique_together = (("term", "effective_from"),)
