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
    breach_count = fields.IntField(default=0)  # breaches so far: names each breach (alert and SMS keys)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "provider_account"
        unique_together = (("bank", "payment_platform", "purpose"), ("payment_platform", "account_no"))


class ReconciliationStatus(StrEnum):
    MATCHED = "matched"  # every line agrees
    MISMATCHED = "mismatched"  # at least one item (see ReconciliationItem)
    FAILED = "failed"  # the statement could not be fetched (the plugin failure is an alert of its own)


class ReconciliationItemKind(StrEnum):
    MISSING_ON_PLATFORM = "missing_on_platform"  # the provider lists it, the platform has no record
    MISSING_AT_PROVIDER = "missing_at_provider"  # the platform moved money the provider does not list
    AMOUNT_MISMATCH = "amount_mismatch"
    STATUS_MISMATCH = "status_mismatch"


class ReconciliationRun(Model):
    """The reconciliation of one payment provider's statement for one business day (对账).

    One row per (provider, day): re-running a day replaces its counts and items in one transaction,
    so a report never shows two versions of a day. Counts and totals span every bank (platform-wide).
    """

    id = fields.IntField(primary_key=True)
    provider = fields.CharField(max_length=50)  # payment platform identifier (plugin)
    day = fields.DateField()
    status = fields.CharEnumField(ReconciliationStatus, max_length=20)
    platform_count = fields.IntField(default=0)  # platform records of the day at this provider
    provider_count = fields.IntField(default=0)  # statement lines
    matched_count = fields.IntField(default=0)
    mismatch_count = fields.IntField(default=0)
    platform_total = fields.DecimalField(max_digits=18, decimal_places=2, default=0)
    provider_total = fields.DecimalField(max_digits=18, decimal_places=2, default=0)
    error = fields.CharField(max_length=500, default="")
    runs = fields.IntField(default=1)  # how many times the day was reconciled
    ran_at = fields.DatetimeField()
    version = fields.IntField(default=1)

    items: fields.ReverseRelation[ReconciliationItem]

    class Meta:
        table = "reconciliation_run"
        unique_together = (("provider", "day"),)


class ReconciliationItem(Model):
    """One disagreement between the platform and a provider's statement.

    Tagged with the bank and product it concerns (from the platform record, or for a line the
    platform does not know, from the bank's provider account it debits or credits) so that the data
    scope applies. An item with neither tag is shown only to callers who see every bank.
    """

    id = fields.BigIntField(primary_key=True)
    run = fields.ForeignKeyField("lendline.ReconciliationRun", related_name="items", on_delete=fields.CASCADE)
    kind = fields.CharEnumField(ReconciliationItemKind, max_length=30)
    record = fields.CharField(max_length=20, default="")  # disbursement / deduction / repayment
    serial_no = fields.CharField(max_length=64, default="")
    idempotency_key = fields.CharField(max_length=128, default="")
    platform_amount = fields.DecimalField(max_digits=18, decimal_places=2, null=True)
    platform_status = fields.CharField(max_length=20, default="")
    provider_amount = fields.DecimalField(max_digits=18, decimal_places=2, null=True)
    provider_status = fields.CharField(max_length=20, default="")
    payment_id = fields.BigIntField(null=True)
    repayment_id = fields.BigIntField(null=True)
    scope_bank_id = fields.IntField(null=True)
    scope_product_id = fields.IntField(null=True)
    note = fields.CharField(max_length=200, default="")

    class Meta:
        table = "reconciliation_item"
