"""Collection (催收, F-LOAN-5) tables: one case per loan in the pool, its stage history, contact records.

Why these shapes:
- One OPEN case per loan at most (the daily overdue job opens, moves and closes cases set-based);
  a paid loan closes its case and it leaves the pool. A case that re-enters a stage (moves to
  another stage) loses its assignee: the next stage is another team's work (SPEC F-LOAN-5).
- Every stage a case enters is a `CollectionStageEntry` with the overdue amount at entry and what
  was recovered while the case sat in that stage, so collection-rate statistics (recovered ÷
  overdue per stage and period) are sums over rows, not reconstructions.
- Each row carries `product` so the caller's data scope is applied in SQL (`scope.products`).
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class CollectionStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class CloseReason(StrEnum):
    PAID = "paid"  # nothing due or overdue any more
    SETTLED = "settled"  # the loan was settled (incl. early settlement)
    COMPENSATED = "compensated"  # the guarantor paid the funders (代偿)
    WRITTEN_OFF = "written_off"


class ContactResult(StrEnum):
    REACHED = "reached"  # 已接通
    PROMISED = "promised"  # 承诺还款
    NO_ANSWER = "no_answer"  # 无人接听
    REFUSED = "refused"  # 拒绝还款
    WRONG_NUMBER = "wrong_number"  # 号码错误
    THIRD_PARTY = "third_party"  # 第三方转告


class CollectionCase(Model):
    """A loan in the collection pool, with its current stage and assignee."""

    id = fields.BigIntField(primary_key=True)
    loan = fields.ForeignKeyField("lendline.Loan", related_name=False, on_delete=fields.RESTRICT)
    product = fields.ForeignKeyField("lendline.Product", related_name=False, on_delete=fields.RESTRICT)
    stage = fields.CharField(max_length=4, db_index=True)  # core.loans.penalty.CollectionStage
    stage_entered_on = fields.DateField()
    days_past_due = fields.IntField(default=0)  # of the oldest unpaid installment, at the last run
    overdue_amount = fields.DecimalField(max_digits=18, decimal_places=2, default=0)  # owed now, due so far
    recovered_amount = fields.DecimalField(max_digits=18, decimal_places=2, default=0)  # repaid while open
    assignee = fields.ForeignKeyField("lendline.User", related_name=False, null=True, on_delete=fields.SET_NULL)
    assigned_at = fields.DatetimeField(null=True)
    status = fields.CharEnumField(CollectionStatus, max_length=10, default=CollectionStatus.OPEN)
    opened_on = fields.DateField()
    closed_on = fields.DateField(null=True)
    close_reason = fields.CharField(max_length=20, default="")
    version = fields.IntField(default=1)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "collection_case"
        indexes = (("status", "stage"), ("loan_id", "status"), ("assignee_id", "status"))


class CollectionStageEntry(Model):
    """A case entering a stage: the figures collection-rate statistics sum."""

    id = fields.BigIntField(primary_key=True)
    case = fields.ForeignKeyField("lendline.CollectionCase", related_name="entries", on_delete=fields.CASCADE)
    loan = fields.ForeignKeyField("lendline.Loan", related_name=False, on_delete=fields.RESTRICT)
    product = fields.ForeignKeyField("lendline.Product", related_name=False, on_delete=fields.RESTRICT)
    stage = fields.CharField(max_length=4)
    entered_on = fields.DateField(db_index=True)
    left_on = fields.DateField(null=True)
    overdue_amount = fields.DecimalField(max_digits=18, decimal_places=2, default=0)  # at entry
    recovered_amount = fields.DecimalField(max_digits=18, decimal_places=2, default=0)  # while in the stage

    class Meta:
        table = "collection_stage_entry"
        indexes = (("stage", "entered_on"),)


class CollectionRecord(Model):
    """One collection contact: who, when, the result, a promise to pay, a remark."""

    id = fields.BigIntField(primary_key=True)
    case = fields.ForeignKeyField("lendline.CollectionCase", related_name="records", on_delete=fields.CASCADE)
    loan = fields.ForeignKeyField("lendline.Loan", related_name=False, on_delete=fields.RESTRICT)
    product = fields.ForeignKeyField("lendline.Product", related_name=False, on_delete=fields.RESTRICT)
    collector = fields.ForeignKeyField("lendline.User", related_name=False, null=True, on_delete=fields.SET_NULL)
    collector_name = fields.CharField(max_length=40, default="")
    stage = fields.CharField(max_length=4)
    contacted_at = fields.DatetimeField()
    contact_result = fields.CharEnumField(ContactResult, max_length=20)
    promise_amount = fields.DecimalField(max_digits=18, decimal_places=2, null=True)
    promise_date = fields.DateField(null=True)
    remark = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "collection_record"
