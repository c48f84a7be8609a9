"""Post-loan fund control tables (SPEC §6, seed 000): borrowers' account transactions, how each
outgoing payment was funded (loan vs own funds), the per-account tracing state, diversion types
and their rules, AML / concentration rule settings, and violations.

Why these shapes:
- A transaction is unique on its serial number, so a batch, a file and a plugin feed that send the
  same transaction store it once (ingestion is idempotent).
- Each transaction carries the `product` and `customer_no` of the loan it is monitored under, so the
  data scope (F-ROLE-4) applies in SQL on `product_id` for every view and export.
- Tracing is incremental per borrower account: `FundTraceState` keeps the serialised
  `core.monitoring.tracing.TracingState` and the last transaction applied, so a new transaction is
  traced without replaying the account's history; `TransactionFundPart` rows are the result (one
  per loan pool, plus own funds with `loan` null).
- Diversion types are reviewed entities (F-MON-4); a rule takes effect at `effective_from` (the next
  business day's start unless approved "effective now").
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class TxDirection(StrEnum):
    IN = "in"  # 收入 / 转入
    OUT = "out"  # 支出 / 转出


class TxSource(StrEnum):
    BATCH = "batch"  # GraphQL batch mutation
    FILE = "file"  # CSV / Excel import
    FEED = "feed"  # plugin feed


class AccountTransaction(Model):
    """One transaction on a borrower's account (F-MON-1)."""

    id = fields.BigIntField(primary_key=True)
    serial_no = fields.CharField(max_length=64, unique=True)  # 流水号
    order_no = fields.CharField(max_length=32, db_index=True)  # the loan order monitored
    loan = fields.ForeignKeyField("lendline.Loan", related_name=False, null=True, on_delete=fields.RESTRICT)
    product = fields.ForeignKeyField("lendline.Product", related_name=False, on_delete=fields.RESTRICT)
    customer_no = fields.CharField(max_length=32)  # indexed with occurred_at (Meta.indexes), which serves both
    account_no = fields.CharField(max_length=64)
    occurred_at = fields.DatetimeField(db_index=True)
    direction = fields.CharEnumField(TxDirection, max_length=3)
    amount = fields.DecimalField(max_digits=18, decimal_places=2)
    counterparty_name = fields.CharField(max_length=100, default="")
    counterparty_account = fields.CharField(max_length=64, default="")
    counterparty_category = fields.CharField(max_length=32, default="")  # merchant / category code
    channel = fields.CharField(max_length=30, default="")  # 交易渠道
    balance_after = fields.DecimalField(max_digits=18, decimal_places=2, null=True)
    is_disbursement = fields.BooleanField(default=False)  # the loan's own disbursement (loan funds in)
    is_repayment = fields.BooleanField(default=False)  # repays the loan itself (excluded from diversion)
    source = fields.CharEnumField(TxSource, max_length=10)
    # Tracing result for outflows (sums of TransactionFundPart): filled when traced.
    loan_part = fields.DecimalField(max_digits=18, decimal_places=2, null=True)
    own_part = fields.DecimalField(max_digits=18, decimal_places=2, null=True)
    traced_at = fields.DatetimeField(null=True)
    # A detector plugin failed on this outflow: detection is incomplete and the re-detection job
    # (`monitoring.redetect`) runs it again; tracing is not affected.
    detection_pending = fields.BooleanField(default=False)
    ingested_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "account_transaction"
        indexes = (("customer_no", "occurred_at"), ("product_id", "occurred_at"), ("account_no", "occurred_at"),
                   ("loan_id", "is_disbursement"), ("detection_pending", "id"))


class TransactionFundPart(Model):
    """The part of one outgoing payment paid from one loan's funds (loan null: own funds)."""

    id = fields.BigIntField(primary_key=True)
    transaction = fields.ForeignKeyField("lendline.AccountTransaction", related_name="fund_parts",
                                         on_delete=fields.CASCADE, db_index=True)
    loan = fields.ForeignKeyField("lendline.Loan", related_name=False, null=True, on_delete=fields.RESTRICT)
    order_no = fields.CharField(max_length=32, default="")
    amount = fields.DecimalField(max_digits=18, decimal_places=2)
    share = fields.DecimalField(max_digits=9, decimal_places=6)  # fraction of the payment

    class Meta:
        table = "transaction_fund_part"


class FundTraceState(Model):
    """Where tracing of one borrower account stands (serialised `TracingState`)."""

    id = fields.BigIntField(primary_key=True)
    account_no = fields.CharField(max_length=64, unique=True)
    customer_no = fields.CharField(max_length=32)  # read with its account, never searched by (no index)
    method = fields.CharField(max_length=10)  # core.monitoring.tracing.Method value
    state = fields.JSONField()
    last_occurred_at = fields.DatetimeField(null=True)
    last_transaction_id = fields.BigIntField(null=True)
    version = fields.IntField(default=1)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "fund_trace_state"


class DiversionType(Model):
    """A diversion type (异化类型, F-MON-3) and its thresholds, changed only through review."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=50, unique=True)
    code = fields.CharField(max_length=20, unique=True)  # English code, e.g. GS
    min_amount = fields.DecimalField(max_digits=18, decimal_places=2)  # loan-funded amount at least
    min_share = fields.DecimalField(max_digits=9, decimal_places=6)  # of the loan principal, fraction
    enabled = fields.BooleanField(default=True)
    # An approved deletion: the type stops applying at `effective_from` (row kept for its history).
    deleted = fields.BooleanField(default=False)
    effective_from = fields.DateField()  # business date from which this version applies
    # The version in force before `effective_from` (an approved edit waits for the next day).
    previous = fields.JSONField(null=True)
    description = fields.CharField(max_length=200, default="")
    version = fields.IntField(default=1)
    last_maker = fields.ForeignKeyField("lendline.User", related_name=False, null=True, on_delete=fields.SET_NULL)
    last_checker = fields.ForeignKeyField("lendline.User", related_name=False, null=True,
                                          on_delete=fields.SET_NULL)
    last_action = fields.CharField(max_length=10, default="")
    reviewed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "diversion_type"


class AmlRuleKind(StrEnum):
    LARGE_CASH = "large_cash"  # 大额现金
    RAPID_IN_OUT = "rapid_in_out"  # 快进快出
    CONCENTRATION = "concentration"  # 分散转入集中转出


class AmlRuleSetting(Model):
    """Parameters of one anti-money-laundering / concentration rule (reviewed like diversion types)."""

    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(AmlRuleKind, max_length=20, unique=True)
    name = fields.CharField(max_length=50, unique=True)
    params = fields.JSONField()  # the matching core.monitoring.aml *Params as strings
    enabled = fields.BooleanField(default=True)
    effective_from = fields.DateField()
    previous = fields.JSONField(null=True)
    version = fields.IntField(default=1)
    last_maker = fields.ForeignKeyField("lendline.User", related_name=False, null=True, on_delete=fields.SET_NULL)
    last_checker = fields.ForeignKeyField("lendline.User", related_name=False, null=True,
                                          on_delete=fields.SET_NULL)
    last_action = fields.CharField(max_length=10, default="")
    reviewed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "aml_rule_setting"


class ViolationKind(StrEnum):
    DIVERSION = "diversion"  # 资金异化
    AML = "aml"  # 反洗钱
    CONCENTRATION = "concentration"  # 资金集中


class ViolationStatus(StrEnum):
    OPEN = "open"  # 待处理
    CONFIRMED = "confirmed"  # 已确认
    DISMISSED = "dismissed"  # 已排除


class Violation(Model):
    """A flagged use of loan funds (F-MON-3/5), written to the ledger when raised."""

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharEnumField(ViolationKind, max_length=20)
    type_code = fields.CharField(max_length=20, db_index=True)  # diversion type code / AML rule kind
    type_name = fields.CharField(max_length=50)
    transaction = fields.ForeignKeyField("lendline.AccountTransaction", related_name=False, null=True,
                                         on_delete=fields.RESTRICT)
    loan = fields.ForeignKeyField("lendline.Loan", related_name=False, null=True, on_delete=fields.RESTRICT)
    product = fields.ForeignKeyField("lendline.Product", related_name=False, on_delete=fields.RESTRICT)
    order_no = fields.CharField(max_length=32, db_index=True)
    customer_no = fields.CharField(max_length=32, db_index=True)
    amount = fields.DecimalField(max_digits=18, decimal_places=2)  # the payment's amount
    loan_amount = fields.DecimalField(max_digits=18, decimal_places=2)  # the loan-funded part
    loan_share = fields.DecimalField(max_digits=9, decimal_places=6)  # loan part ÷ loan principal
    confidence = fields.DecimalField(max_digits=5, decimal_places=4, null=True)
    detector = fields.CharField(max_length=50, default="")  # plugin name or rule
    reason = fields.CharField(max_length=500, default="")
    status = fields.CharEnumField(ViolationStatus, max_length=20, default=ViolationStatus.OPEN)
    occurred_at = fields.DatetimeField(db_index=True)  # the transaction's time
    detected_at = fields.DatetimeField(db_index=True)
    ledger_hash = fields.CharField(max_length=64, default="")
    dedupe_key = fields.CharField(max_length=160, unique=True)  # one violation per transaction and type
    # Confirm / dismiss (action violations.handle): who decided, when and why (see core.monitoring.views).
    handled_by = fields.ForeignKeyField("lendline.User", related_name=False, null=True, on_delete=fields.SET_NULL)
    handled_at = fields.DatetimeField(null=True)
    handle_comment = fields.CharField(max_length=200, default="")

    class Meta:
        table = "violation"
        indexes = (("product_id", "detected_at"),)
