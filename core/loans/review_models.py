"""Manual credit review (信审, F-LOAN-6): one case per loan sent to manual review, and its records.

Why these shapes:
- A case moves through two pools, first review then second review; `stage` says which pool it is
  in and `status` whether it waits for assignment, waits for its reviewer, or is closed. One row per
  loan (unique) makes "open the case" idempotent and keeps a loan from being reviewed twice at once.
- `product` is copied from the loan so the data scope (F-ROLE-4) is a plain `WHERE product_id IN …`.
- Assignment and decisions are conditional UPDATEs on `version`, so two coordinators assigning the
  same case, or a reassignment racing the reviewer's decision, cannot both win.
- A record is written per decision with the time the case was assigned to that reviewer and the
  handling time in whole seconds, so efficiency statistics are plain SQL aggregates.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class ReviewStage(StrEnum):
    FIRST = "first"  # 初审
    SECOND = "second"  # 复审


class CaseStatus(StrEnum):
    UNASSIGNED = "unassigned"  # 待分配
    ASSIGNED = "assigned"  # 待审核 (with a reviewer)
    APPROVED = "approved"  # 审核通过 (closed: second review passed)
    REJECTED = "rejected"  # 审核拒绝 (closed)


OPEN_STATUSES = (CaseStatus.UNASSIGNED, CaseStatus.ASSIGNED)


class ReviewDecision(StrEnum):
    PASS = "pass"
    REJECT = "reject"


class CreditReviewCase(Model):
    """A loan waiting for (or done with) manual credit review."""

    id = fields.BigIntField(primary_key=True)
    loan = fields.ForeignKeyField("lendline.Loan", related_name=False, unique=True, on_delete=fields.CASCADE)
    product = fields.ForeignKeyField("lendline.Product", related_name=False, on_delete=fields.RESTRICT)
    stage = fields.CharEnumField(ReviewStage, max_length=10, default=ReviewStage.FIRST)
    status = fields.CharEnumField(CaseStatus, max_length=12, default=CaseStatus.UNASSIGNED)
    assignee = fields.ForeignKeyField("lendline.User", related_name=False, null=True, on_delete=fields.SET_NULL)
    assigned_at = fields.DatetimeField(null=True)
    # Who passed the first review: the second review must be someone else (four eyes).
    first_reviewer = fields.ForeignKeyField("lendline.User", related_name=False, null=True,
                                            on_delete=fields.SET_NULL)
    opened_at = fields.DatetimeField()
    stage_entered_at = fields.DatetimeField()
    closed_at = fields.DatetimeField(null=True)
    version = fields.IntField(default=1)

    class Meta:
        table = "credit_review_case"
        indexes = (("stage", "status"), ("assignee_id", "status"))


class CreditReviewRecord(Model):
    """One decision in a credit review: who, at which stage, what, why, and how long it took."""

    id = fields.BigIntField(primary_key=True)
    case = fields.ForeignKeyField("lendline.CreditReviewCase", related_name="records", on_delete=fields.CASCADE)
    loan = fields.ForeignKeyField("lendline.Loan", related_name=False, on_delete=fields.CASCADE)
    product = fields.ForeignKeyField("lendline.Product", related_name=False, on_delete=fields.RESTRICT)
    stage = fields.CharEnumField(ReviewStage, max_length=10)
    reviewer = fields.ForeignKeyField("lendline.User", related_name=False, null=True, on_delete=fields.SET_NULL)
    reviewer_name = fields.CharField(max_length=40)
    decision = fields.CharEnumField(ReviewDecision, max_length=10)
    comment = fields.CharField(max_length=500, default="")
    assigned_at = fields.DatetimeField()
    decided_at = fields.DatetimeField(db_index=True)
    handling_seconds = fields.IntField()  # from assignment to decision

    class Meta:
        table = "credit_review_record"
        indexes = (("reviewer_id", "decided_at"),)
