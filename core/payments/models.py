"""Banks' accounts at payment providers (放款账户 / 还款账户).

Why a table: a loan is disbursed from its funder's disbursement account at the product's payment
platform, and repayments are collected into that bank's repayment account there (funds stay in
the provider's virtual accounts, seed 004). Balance monitoring (F-SYS-5) walks the disbursement
accounts; `breached` remembers an open low-balance breach so one breach raises one alert.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class AccountPurpose(StrEnum):
    DISBURSEMENT = "disbursement"  # 放款户: loans are paid out of it
    REPAYMENT = "repayment"  # 还款户: repayments are collected into it


class ProviderAccount(Model):
    """One virtual account of a bank at a payment platform, for one purpose."""

    id = fields.IntField(primary_key=True)
    bank = fields.ForeignKeyField("lendline.Bank", related_name=False, on_delete=fields.RESTRICT)
    payment_platform = fields.ForeignKeyField("lendline.PaymentPlatform", related_name=False,
                                              on_delete=fields.RESTRICT)
    purpose = fields.CharEnumField(AccountPurpose, max_length=20)
    account_no = fields.CharField(max_length=64)
    name = fields.CharField(max_length=50, default="")
    # Below this the balance warns (null: the system parameter, default 500,000).
    warning_line = fields.DecimalField(max_digits=18, decimal_places=2, null=True)
    enabled = fields.BooleanField(default=True)
    last_balance = fields.DecimalField(max_digits=18, decimal_places=2, null=True)
    last_checked_at = fields.DatetimeField(null=True)
    breached = fields.BooleanField(default=False)  # an open low-balance breach (alerted once)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "provider_account"
        unique_together = (("bank", "payment_platform", "purpose"), ("payment_platform", "account_no"))
