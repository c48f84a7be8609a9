"""Institutions (SPEC §2): banks and their credit products, lending-assist and credit-enhancement
institutions, margin accounts with their movement ledger, payment platforms.

Why banks carry the data scope: a role's data permission names banks (F-ROLE-3), so every table
that belongs to one bank has a `bank` foreign key that the scope filters on in SQL.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Bank(Model):
    """A funder (资金端). Email and service phone are printed in loan contracts (F-ORG-1)."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=20, unique=True)
    short_name = fields.CharField(max_length=20)
    full_name = fields.CharField(max_length=100)
    email = fields.CharField(max_length=50)
    service_phone = fields.CharField(max_length=20)
    address = fields.CharField(max_length=200, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "bank"


class BankProductType(StrEnum):
    SINGLE = "single"  # 单期
    MULTI = "multi"  # 多期


class BankProduct(Model):
    """A credit product of the bank itself (银行信贷产品, F-ORG-2): loan products map funders onto these."""

    id = fields.IntField(primary_key=True)
    bank = fields.ForeignKeyField("lendline.Bank", related_name="credit_products", on_delete=fields.RESTRICT)
    name = fields.CharField(max_length=50)
    type = fields.CharEnumField(BankProductType, max_length=10)
    repayment_method = fields.CharField(max_length=30)  # core.loans.schedule.RepaymentMethod value
    description = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "bank_product"
        unique_together = (("bank", "name"),)


class AssistInstitution(Model):
    """A lending-assist institution / traffic platform (助贷机构, F-ORG-3): the traffic channels of products."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=50, unique=True)
    number = fields.CharField(max_length=30, unique=True)
    phone = fields.CharField(max_length=20, default="")
    address = fields.CharField(max_length=200, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "assist_institution"


class EnhancementType(StrEnum):
    GUARANTEE = "guarantee"  # 融担公司
    INSURER = "insurer"  # 保险公司


class EnhancementInstitution(Model):
    """A credit-enhancement institution (增信机构, F-ORG-4)."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=50, unique=True)
    type = fields.CharEnumField(EnhancementType, max_length=10)
    contact = fields.CharField(max_length=20, default="")
    phone = fields.CharField(max_length=20, default="")
    attributes = fields.CharField(max_length=200, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "enhancement_institution"


class MarginAccount(Model):
    """Pre-paid margin for one asset project (保证金, F-ORG-5).

    `balance` is all money deposited; `frozen` is the part held against outstanding loans
    (disbursed amount ÷ leverage). Free margin = balance − frozen. Both change only together with a
    `MarginMovement` row, so the history always explains the figures.
    """

    id = fields.IntField(primary_key=True)
    project = fields.CharField(max_length=50, unique=True)
    bank = fields.ForeignKeyField("lendline.Bank", related_name="margin_accounts", on_delete=fields.RESTRICT)
    account_bank = fields.CharField(max_length=50)  # 开户行
    account_no = fields.CharField(max_length=40)
    balance = fields.DecimalField(max_digits=18, decimal_places=2, default=0)
    frozen = fields.DecimalField(max_digits=18, decimal_places=2, default=0)
    leverage = fields.DecimalField(max_digits=8, decimal_places=2)  # loans per unit of margin, e.g. 10
    warning_line = fields.DecimalField(max_digits=5, decimal_places=4)  # free ÷ balance below this warns
    warning_amount = fields.DecimalField(max_digits=18, decimal_places=2, default=0)  # free below this warns
    version = fields.IntField(default=1)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "margin_account"


class MarginMovementKind(StrEnum):
    TOPUP = "topup"  # 追加
    FREEZE = "freeze"  # 放款冻结
    RELEASE = "release"  # 还款释放


class MarginMovement(Model):
    """One change to a margin account, with the figures after it (追加履历 / freeze-release ledger)."""

    id = fields.BigIntField(primary_key=True)
    account = fields.ForeignKeyField("lendline.MarginAccount", related_name="movements", on_delete=fields.RESTRICT)
    kind = fields.CharEnumField(MarginMovementKind, max_length=10)
    amount = fields.DecimalField(max_digits=18, decimal_places=2)
    # Freeze: the loan amount that froze `amount`; release: the repaid amount that released it. A
    # release is proportional to what its loan's freeze actually froze, so the base is kept.
    loan_amount = fields.DecimalField(max_digits=18, decimal_places=2, null=True)
    balance_after = fields.DecimalField(max_digits=18, decimal_places=2)
    frozen_after = fields.DecimalField(max_digits=18, decimal_places=2)
    voucher_no = fields.CharField(max_length=64, default="")  # 预缴凭证 number for top-ups
    voucher_url = fields.CharField(max_length=500, default="")  # where the scanned voucher is kept
    reference = fields.CharField(max_length=64, default="", db_index=True)  # loan number for freeze/release
    # One freeze per loan, one release per repayment, one top-up per voucher: a retried call finds
    # this key taken (unique, so two concurrent retries cannot both apply) instead of moving money twice.
    idempotency_key = fields.CharField(max_length=160, null=True, unique=True)
    remark = fields.CharField(max_length=200, default="")
    operator = fields.ForeignKeyField("lendline.User", related_name=False, null=True, on_delete=fields.SET_NULL)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "margin_movement"


class PaymentPlatform(Model):
    """A payment platform (F-ORG-6): `identifier` names the payment-provider plugin that serves it."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=50, unique=True)
    identifier = fields.CharField(max_length=50, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "payment_platform"
