"""Loan tables (SPEC §4): customers, loan orders and their state log, per-loan funder shares,
repayment schedules (installments and each funder's part), payment instructions to providers, and
repayments with their allocation.

Why these shapes:
- A loan belongs to one product, and the data scope (F-ROLE-4) is applied on `product_id` (and, for
  per-funder rows, on `bank_id`) in SQL, so every loan row carries `product` directly.
- Money columns are DECIMAL(18, 2); the loan's running figures change only under a row lock with a
  version-checked UPDATE (tortoise stores decimals as text on SQLite, so `SET x = x + n` is not
  exact there). A repayment and its lines are written in the same transaction as the installments
  they paid.
- `Payment` is the instruction the platform sends to a payment provider (F-PLG-1: the platform only
  instructs, funds stay in the provider's virtual accounts). Its `idempotency_key` is unique, so a
  repeated or concurrent disburse of one order finds the row taken instead of moving money twice;
  an "unknown" outcome stays unknown until a status query resolves it.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class LoanStatus(StrEnum):
    """Order states (F-LOAN-1); the allowed moves are in `core.loans.states`."""

    APPLIED = "applied"  # 已申请
    RISK_CHECKING = "risk_checking"  # 风控中
    MANUAL_REVIEW = "manual_review"  # 人工信审
    APPROVED = "approved"  # 审批通过
    REJECTED = "rejected"  # 审批拒绝
    CONTRACT_SIGNED = "contract_signed"  # 已签约
    DISBURSING = "disbursing"  # 放款中
    DISBURSED = "disbursed"  # 已放款 (还款中)
    OVERDUE = "overdue"  # 逾期
    SETTLED = "settled"  # 已结清
    COMPENSATED = "compensated"  # 已代偿
    WRITTEN_OFF = "written_off"  # 已核销
    CANCELLED = "cancelled"  # 已取消


class Customer(Model):
    """A borrower, one row per resident ID number.

    The full ID number and phone are kept (admission, blacklist and risk sources need them) and are
    masked in every read unless the caller holds the right to see them in clear.
    """

    id = fields.BigIntField(primary_key=True)
    customer_no = fields.CharField(max_length=32, unique=True)  # 客户号, used by fund monitoring
    name = fields.CharField(max_length=50)
    id_number = fields.CharField(max_length=18, unique=True)
    phone = fields.CharField(max_length=20, db_index=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "customer"


class Loan(Model):
    """A loan order from a traffic platform, through its whole life."""

    id = fields.BigIntField(primary_key=True)
    order_no = fields.CharField(max_length=32, unique=True)  # the platform's order number
    channel_order_no = fields.CharField(max_length=64)  # the traffic platform's own order number
    idempotency_key = fields.CharField(max_length=128, unique=True)  # per traffic platform (prefixed)
    # SHA-256 of the application as submitted: a repeat with the same key must carry the same content.
    application_digest = fields.CharField(max_length=64, default="")
    customer = fields.ForeignKeyField("lendline.Customer", related_name="loans", on_delete=fields.RESTRICT)
    product = fields.ForeignKeyField("lendline.Product", related_name=False, on_delete=fields.RESTRICT)
    channel = fields.ForeignKeyField("lendline.AssistInstitution", related_name=False, on_delete=fields.RESTRICT)
    status = fields.CharEnumField(LoanStatus, max_length=20, db_index=True)
    amount = fields.DecimalField(max_digits=18, decimal_places=2)
    term = fields.IntField()
    term_unit = fields.CharField(max_length=10)  # core.loans.schedule.TermUnit value
    repayment_method = fields.CharField(max_length=30)  # core.loans.schedule.RepaymentMethod value
    allocation_strategy = fields.CharField(max_length=40, default="PENALTY_FEE_INTEREST_PRINCIPAL")
    # Rate: fixed at disbursement from the LPR in force that day plus the product's spread.
    lpr_term = fields.CharField(max_length=4, default="1Y")
    spread_bp = fields.IntField(default=0)
    lpr_rate = fields.DecimalField(max_digits=7, decimal_places=4, null=True)  # percent per year
    annual_rate = fields.DecimalField(max_digits=9, decimal_places=6, null=True)  # fraction, 0.0435
    # The deduction event key binds to the order for its whole life (F-PROD-4).
    deduction_event_key = fields.CharField(max_length=50, default="")
    payment_provider = fields.CharField(max_length=50, default="")  # plugin identifier at disbursement
    disbursement_account = fields.CharField(max_length=64, default="")  # borrower's receiving account
    # Risk and admission.
    risk_outcome = fields.CharField(max_length=20, default="")
    risk_quota = fields.DecimalField(max_digits=18, decimal_places=2, null=True)
    risk_score = fields.DecimalField(max_digits=12, decimal_places=4, null=True)
    reject_reason = fields.CharField(max_length=500, default="")
    # Dates (business dates in the bank's zone) and moments (UTC).
    applied_at = fields.DatetimeField()
    approved_at = fields.DatetimeField(null=True)
    signed_at = fields.DatetimeField(null=True)
    disbursed_at = fields.DatetimeField(null=True)
    disbursement_date = fields.DateField(null=True, db_index=True)
    maturity_date = fields.DateField(null=True)
    settled_at = fields.DatetimeField(null=True)
    # Running figures, kept with the installments they sum (version-checked updates).
    principal_outstanding = fields.DecimalField(max_digits=18, decimal_places=2, default=0)
    margin_frozen = fields.DecimalField(max_digits=18, decimal_places=2, default=0)
    # The margin freeze's reference (core.orgs.margins): the order number, or "<order_no>#<n>" when
    # the n-th disbursement attempt froze it after earlier attempts failed (a freeze is once per
    # reference). Repayments release margin against this reference.
    margin_reference = fields.CharField(max_length=64, default="")
    version = fields.IntField(default=1)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    funders: fields.ReverseRelation[LoanFunder]
    installments: fields.ReverseRelation[LoanInstallment]
    events: fields.ReverseRelation[LoanEvent]

    class Meta:
        table = "loan"
        unique_together = (("channel", "channel_order_no"),)
        indexes = (("product_id", "status"), ("customer_id", "status"))


class LoanFunder(Model):
    """A funder's share of one loan, fixed at admission from the product's shares (joint lending).

    `amount` is the funder's part of the principal; the parts sum exactly to the loan amount, the
    rounding remainder going to the lead funder (position 0, see `core.loans.money.split_by_shares`).
    """

    id = fields.BigIntField(primary_key=True)
    loan = fields.ForeignKeyField("lendline.Loan", related_name="funders", on_delete=fields.CASCADE)
    bank = fields.ForeignKeyField("lendline.Bank", related_name=False, on_delete=fields.RESTRICT)
    share = fields.DecimalField(max_digits=7, decimal_places=4)  # percent
    amount = fields.DecimalField(max_digits=18, decimal_places=2)
    position = fields.IntField(default=0)

    class Meta:
        table = "loan_funder"
        unique_together = (("loan", "bank"),)


class LoanEvent(Model):
    """One state transition of a loan: who (user, job or plugin), why, from and to (F-LOAN-1)."""

    id = fields.BigIntField(primary_key=True)
    loan = fields.ForeignKeyField("lendline.Loan", related_name="events", on_delete=fields.CASCADE)
    from_status = fields.CharField(max_length=20, default="")
    to_status = fields.CharField(max_length=20)
    actor = fields.ForeignKeyField("lendline.User", related_name=False, null=True, on_delete=fields.SET_NULL)
    actor_label = fields.CharField(max_length=60, default="")  # "system:overdue", "channel:...", user account
    reason = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "loan_event"


class InstallmentStatus(StrEnum):
    PENDING = "pending"  # not yet due or due today, nothing paid
    PARTIAL = "partial"  # something paid, not everything
    OVERDUE = "overdue"  # past due and not fully paid
    PAID = "paid"  # fully paid
    SETTLED_EARLY = "settled_early"  # closed by early settlement (提前结清)
    COMPENSATED = "compensated"  # paid by the guarantor (代偿)
    WRITTEN_OFF = "written_off"


class LoanInstallment(Model):
    """One period of a loan's repayment schedule (F-LOAN-3) with what has been paid on it."""

    id = fields.BigIntField(primary_key=True)
    loan = fields.ForeignKeyField("lendline.Loan", related_name="installments", on_delete=fields.CASCADE)
    number = fields.IntField()
    start_date = fields.DateField()  # interest accrues from here (previous due date or disbursement)
    due_date = fields.DateField()  # queried with status (the status, due_date index) or loan_id
    principal = fields.DecimalField(max_digits=18, decimal_places=2)
    interest = fields.DecimalField(max_digits=18, decimal_places=2)
    fee = fields.DecimalField(max_digits=18, decimal_places=2, default=0)
    penalty = fields.DecimalField(max_digits=18, decimal_places=2, default=0)  # accrued so far
    paid_principal = fields.DecimalField(max_digits=18, decimal_places=2, default=0)
    paid_interest = fields.DecimalField(max_digits=18, decimal_places=2, default=0)
    paid_fee = fields.DecimalField(max_digits=18, decimal_places=2, default=0)
    paid_penalty = fields.DecimalField(max_digits=18, decimal_places=2, default=0)
    waived_interest = fields.DecimalField(max_digits=18, decimal_places=2, default=0)  # early settlement
    status = fields.CharEnumField(InstallmentStatus, max_length=20, default=InstallmentStatus.PENDING)
    penalty_through = fields.DateField(null=True)  # penalty accrued up to and including this day
    # The current penalty span (core.loans.overdue): penalty = penalty_span_opening +
    # accrue_penalty(penalty_span_base, penalty_span_rate, days from penalty_span_start through
    # penalty_through), rounded once per span. A repayment that changes the overdue base, or a new
    # rate, closes the span and opens the next one.
    penalty_span_start = fields.DateField(null=True)
    penalty_span_base = fields.DecimalField(max_digits=18, decimal_places=2, default=0)
    penalty_span_rate = fields.DecimalField(max_digits=12, decimal_places=8, default=0)
    penalty_span_opening = fields.DecimalField(max_digits=18, decimal_places=2, default=0)
    overdue_since = fields.DateField(null=True)
    settled_at = fields.DatetimeField(null=True)
    version = fields.IntField(default=1)

    class Meta:
        table = "loan_installment"
        unique_together = (("loan", "number"),)
        indexes = (("status", "due_date"),)


class InstallmentFunderPart(Model):
    """A funder's part of one installment (joint lending): parts sum exactly to the installment."""

    id = fields.BigIntField(primary_key=True)
    installment = fields.ForeignKeyField("lendline.LoanInstallment", related_name="funder_parts",
                                         on_delete=fields.CASCADE)
    # No database constraint on these two: the installment's key already ties the row to its loan
    # (and cascades), and the loan's LoanFunder row holds the bank (RESTRICT). A per-row foreign-key
    # check costs more than the row itself on a joint-lending disbursement batch of 36 × funders
    # rows a loan (bench/bench_schedule_persist.py).
    loan = fields.ForeignKeyField("lendline.Loan", related_name=False, on_delete=fields.CASCADE, db_constraint=False)
    bank = fields.ForeignKeyField("lendline.Bank", related_name=False, on_delete=fields.RESTRICT, db_constraint=False)
    principal = fields.DecimalField(max_digits=18, decimal_places=2)
    interest = fields.DecimalField(max_digits=18, decimal_places=2)

    class Meta:
        table = "installment_funder_part"
        unique_together = (("installment", "bank"),)


class PaymentKind(StrEnum):
    DISBURSEMENT = "disbursement"  # 放款
    DEDUCTION = "deduction"  # 代扣 (collect a repayment)
    COMPENSATION = "compensation"  # 代偿 (guarantor pays)


class PaymentStatus(StrEnum):
    PENDING = "pending"  # written, not yet sent
    ACCEPTED = "accepted"  # provider took it, outcome later
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"  # timeout or unclear answer: only a status query may resolve it


class Payment(Model):
    """A money-moving instruction to a payment provider and what became of it."""

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharEnumField(PaymentKind, max_length=20)
    loan = fields.ForeignKeyField("lendline.Loan", related_name="payments", on_delete=fields.RESTRICT)
    product = fields.ForeignKeyField("lendline.Product", related_name=False, on_delete=fields.RESTRICT)
    idempotency_key = fields.CharField(max_length=128, unique=True)
    provider = fields.CharField(max_length=50)  # payment platform identifier (plugin)
    # The instruction's accounts, kept so an unanswered instruction is re-sent identically (same
    # idempotency key, same accounts) and reconciliation knows which account paid.
    debit_account = fields.CharField(max_length=64, default="")
    credit_account = fields.CharField(max_length=64, default="")
    amount = fields.DecimalField(max_digits=18, decimal_places=2)
    status = fields.CharEnumField(PaymentStatus, max_length=20, db_index=True)
    provider_reference = fields.CharField(max_length=100, default="")
    serial_no = fields.CharField(max_length=64, null=True, unique=True)  # provider's settled serial number
    failure_reason = fields.CharField(max_length=500, default="")
    attempts = fields.IntField(default=0)
    business_date = fields.DateField(db_index=True)
    requested_at = fields.DatetimeField()
    settled_at = fields.DatetimeField(null=True)
    version = fields.IntField(default=1)

    class Meta:
        table = "payment"


class RepaymentSource(StrEnum):
    DEDUCTION = "deduction"  # we asked the provider to collect
    CALLBACK = "callback"  # the provider told us the borrower paid
    COMPENSATION = "compensation"  # guarantor paid (代偿)
    MANUAL = "manual"  # recorded by operations (offline transfer)


class RepaymentKind(StrEnum):
    REGULAR = "regular"  # pays due installments
    PARTIAL = "partial"  # less than what was due
    PREPAYMENT = "prepayment"  # pays ahead of the schedule
    EARLY_SETTLEMENT = "early_settlement"  # 提前结清: current and all later installments


class Repayment(Model):
    """A repayment received (前端还款记录, F-LOAN-4), unique on the payment serial number."""

    id = fields.BigIntField(primary_key=True)
    loan = fields.ForeignKeyField("lendline.Loan", related_name="repayments", on_delete=fields.RESTRICT)
    product = fields.ForeignKeyField("lendline.Product", related_name=False, on_delete=fields.RESTRICT)
    channel = fields.ForeignKeyField("lendline.AssistInstitution", related_name=False, on_delete=fields.RESTRICT)
    payment = fields.ForeignKeyField("lendline.Payment", related_name=False, null=True, on_delete=fields.RESTRICT)
    serial_no = fields.CharField(max_length=64, unique=True)
    source = fields.CharEnumField(RepaymentSource, max_length=20)
    kind = fields.CharEnumField(RepaymentKind, max_length=20)
    deduction_channel = fields.CharField(max_length=50, default="")  # provider identifier / "offline"
    paid_at = fields.DatetimeField(db_index=True)
    business_date = fields.DateField(db_index=True)
    amount = fields.DecimalField(max_digits=18, decimal_places=2)
    principal = fields.DecimalField(max_digits=18, decimal_places=2)
    interest = fields.DecimalField(max_digits=18, decimal_places=2)
    fee = fields.DecimalField(max_digits=18, decimal_places=2)
    penalty = fields.DecimalField(max_digits=18, decimal_places=2)
    leftover = fields.DecimalField(max_digits=18, decimal_places=2, default=0)  # overpayment held
    margin_released = fields.DecimalField(max_digits=18, decimal_places=2, default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "repayment"


class RepaymentLine(Model):
    """What one repayment paid on one installment."""

    id = fields.BigIntField(primary_key=True)
    repayment = fields.ForeignKeyField("lendline.Repayment", related_name="lines", on_delete=fields.CASCADE)
    installment = fields.ForeignKeyField("lendline.LoanInstallment", related_name=False, on_delete=fields.RESTRICT)
    principal = fields.DecimalField(max_digits=18, decimal_places=2)
    interest = fields.DecimalField(max_digits=18, decimal_places=2)
    fee = fields.DecimalField(max_digits=18, decimal_places=2)
    penalty = fields.DecimalField(max_digits=18, decimal_places=2)

    class Meta:
        table = "repayment_line"


class RepaymentFunderPart(Model):
    """A funder's part of one repayment (joint lending): parts sum exactly to the repayment's."""

    id = fields.BigIntField(primary_key=True)
    repayment = fields.ForeignKeyField("lendline.Repayment", related_name="funder_parts", on_delete=fields.CASCADE)
    bank = fields.ForeignKeyField("lendline.Bank", related_name=False, on_delete=fields.RESTRICT)
    principal = fields.DecimalField(max_digits=18, decimal_places=2)
    interest = fields.DecimalField(max_digits=18, decimal_places=2)
    fee = fields.DecimalField(max_digits=18, decimal_places=2)
    penalty = fields.DecimalField(max_digits=18, decimal_places=2)

    class Meta:
        table = "repayment_funder_part"
        unique_together = (("repayment", "bank"),)
