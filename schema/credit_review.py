"""GraphQL for manual credit review (信审, F-LOAN-6): pools, my orders, assignment, decisions, records, stats.

Every list is read within the caller's data scope (SQL on the case's product) and loads the loan,
customer, product and assignee with fixed prefetches, so a page costs the same number of statements
whatever its size. Identities are masked (the review page is not where full ID numbers are read).
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from core.accounts.models import User
from core.loans import credit_review as service
from core.loans.review_models import CaseStatus, CreditReviewCase, CreditReviewRecord, ReviewDecision, ReviewStage
from core.risk.blacklist import mask, mask_name
from permissions.policy import policy_store
from schema.errors import Payload
from schema.guard import actor_of, guarded, guarded_mutation
from schema.relay import Connection, connection, decode, decode_optional, gid, paginate

StageEnum = strawberry.enum(ReviewStage, name="CreditReviewStage", description="初审 / 复审.")
StatusEnum = strawberry.enum(CaseStatus, name="CreditReviewStatus", description="待分配 / 待审核 / 通过 / 拒绝.")
DecisionEnum = strawberry.enum(ReviewDecision, name="CreditReviewDecision")
CASE_PREFETCH = ("loan", "loan__customer", "product", "assignee")


def _opt(type_name: str, pk: int | None) -> strawberry.ID | None:
    return gid(type_name, pk) if pk else None


@strawberry.type(name="CreditReviewCase", description="A loan in manual credit review.")
class CaseType:
    id: strawberry.ID
    loan_id: strawberry.ID
    order_no: str
    customer_name: str = strawberry.field(description="Masked")
    id_number: str = strawberry.field(description="Masked: last four characters")
    phone: str = strawberry.field(description="Masked: last four digits")
    amount: str
    term: int
    term_unit: str
    risk_outcome: str
    risk_score: str | None
    applied_at: datetime
    product_id: strawberry.ID
    product_code: str
    product_name: str
    stage: StageEnum  # type: ignore[valid-type]
    status: StatusEnum  # type: ignore[valid-type]
    assignee_id: strawberry.ID | None
    assignee_name: str | None
    assigned_at: datetime | None
    first_reviewer_id: strawberry.ID | None
    opened_at: datetime
    stage_entered_at: datetime
    closed_at: datetime | None

    @classmethod
    def of(cls, c: CreditReviewCase) -> CaseType:
        loan, product, assignee = c.loan, c.product, c.__dict__.get("_assignee")
        customer = loan.customer
        return cls(id=gid("CreditReviewCase", c.id), loan_id=gid("Loan", loan.id), order_no=loan.order_no,
                   customer_name=mask_name(customer.name), id_number=mask(customer.id_number),
                   phone=mask(customer.phone), amount=str(loan.amount), term=loan.term, term_unit=loan.term_unit,
                   risk_outcome=loan.risk_outcome, risk_score=None if loan.risk_score is None else str(loan.risk_score),
                   applied_at=loan.applied_at, product_id=gid("Product", product.id), product_code=product.code,
                   product_name=product.name, stage=c.stage, status=c.status,
                   assignee_id=_opt("User", c.assignee_id),  # type: ignore[attr-defined]
                   assignee_name=assignee.name if assignee is not None else None, assigned_at=c.assigned_at,
                   first_reviewer_id=_opt("User", c.first_reviewer_id),  # type: ignore[attr-defined]
                   opened_at=c.opened_at, stage_entered_at=c.stage_entered_at, closed_at=c.closed_at)


@strawberry.type(name="CreditReviewRecord", description="One decision: who, which stage, what, why, how long.")
class RecordType:
    id: strawberry.ID
    case_id: strawberry.ID
    loan_id: strawberry.ID
    stage: StageEnum  # type: ignore[valid-type]
    reviewer_id: strawberry.ID | None
    reviewer_name: str
    decision: DecisionEnum  # type: ignore[valid-type]
    comment: str
    assigned_at: datetime
    decided_at: datetime
    handling_seconds: int = strawberry.field(description="From assignment to decision")

    @classmethod
    def of(cls, r: CreditReviewRecord) -> RecordType:
        return cls(id=gid("CreditReviewRecord", r.id), case_id=gid("CreditReviewCase", r.case_id),  # type: ignore[attr-defined]
                   loan_id=gid("Loan", r.loan_id), stage=r.stage,  # type: ignore[attr-defined]
                   reviewer_id=_opt("User", r.reviewer_id), reviewer_name=r.reviewer_name,  # type: ignore[attr-defined]
                   decision=r.decision, comment=r.comment, assigned_at=r.assigned_at, decided_at=r.decided_at,
                   handling_seconds=r.handling_seconds)


@strawberry.type(name="CreditReviewerStats", description="A reviewer's efficiency (审批效率) over the chosen period.")
class StatsType:
    reviewer_id: strawberry.ID | None
    reviewer_name: str
    count: int
    passed: int
    rejected: int
    min_seconds: int
    max_seconds: int
    avg_seconds: str = strawberry.field(description="Seconds, two decimals")


@strawberry.type(name="CreditReviewer", description="A user who may be assigned credit reviews.")
class ReviewerType:
    id: strawberry.ID
    name: str
    account: str


@strawberry.input(name="CreditReviewPoolFilter")
class PoolFilter:
    stage: StageEnum | None = None  # type: ignore[valid-type]
    status: StatusEnum | None = strawberry.field(default=None, description="Default: every open case")  # type: ignore[valid-type]
    assignee_id: strawberry.ID | None = None
    order_no: str | None = None


@strawberry.type
class CreditReviewCasesPayload(Payload):
    cases: list[CaseType] = strawberry.field(default_factory=list)


@strawberry.type
class CreditReviewCasePayload(Payload):
    case: CaseType | None = None


async def _load_cases(ids: list[int]) -> list[CaseType]:
    rows = await CreditReviewCase.filter(id__in=ids).order_by("id").prefetch_related(*CASE_PREFETCH)
    return [CaseType.of(r) for r in rows]


@strawberry.type
class CreditReviewQuery:
    @guarded("credit_review", description="The review pools: open cases by stage (初审 / 复审) and status.")
    async def credit_review_pool(self, info: Info, filter: PoolFilter | None = None, first: int | None = None,
                                 after: str | None = None) -> Connection[CaseType]:
        f = filter or PoolFilter()
        qs = service.pool(actor_of(info), service.PoolFilter(
            stage=f.stage, status=f.status, assignee_id=decode_optional(f.assignee_id, "User", "filter.assigneeId"),
            order_no=f.order_no))
        return connection(await paginate(qs, first, after, *CASE_PREFETCH), CaseType.of)

    @guarded("credit_review", description="My orders: cases assigned to me and not yet decided.")
    async def my_credit_reviews(self, info: Info, first: int | None = None,
                                after: str | None = None) -> Connection[CaseType]:
        return connection(await paginate(service.my_cases(actor_of(info)), first, after, *CASE_PREFETCH),
                          CaseType.of)

    @guarded("credit_review", description="One case (open or closed) within your data permission.")
    async def credit_review_case(self, info: Info, id: strawberry.ID | None = None,
                                 loan_id: strawberry.ID | None = None) -> CaseType | None:
        qs = service.cases(actor_of(info))
        if id is not None:
            qs = qs.filter(id=decode(id, "CreditReviewCase", "id"))
        else:
            qs = qs.filter(loan_id=decode(loan_id, "Loan", "loanId"))
        row = await qs.prefetch_related(*CASE_PREFETCH).first()
        return CaseType.of(row) if row else None

    @guarded("credit_review", description="Review records (审核记录), newest first, by loan or reviewer.")
    async def credit_review_records(self, info: Info, loan_id: strawberry.ID | None = None,
                                    reviewer_id: strawberry.ID | None = None, first: int | None = None,
                                    after: str | None = None) -> Connection[RecordType]:
        qs = service.records(actor_of(info), loan_id=decode_optional(loan_id, "Loan", "loanId"),
                             reviewer_id=decode_optional(reviewer_id, "User", "reviewerId"))
        return connection(await paginate(qs, first, after), RecordType.of)

    @guarded("credit_review", description="Efficiency per reviewer: decisions, passes, rejects, handling time "
             "(min / max / average from assignment to decision), decided in [since, until).")
    async def credit_review_stats(self, info: Info, since: datetime | None = None, until: datetime | None = None,
                                  stage: StageEnum | None = None,  # type: ignore[valid-type]
                                  reviewer_id: strawberry.ID | None = None) -> list[StatsType]:
        rows = await service.efficiency(actor_of(info), service.StatsFilter(
            since=since, until=until, stage=stage, reviewer_id=decode_optional(reviewer_id, "User", "reviewerId")))
        return [StatsType(reviewer_id=_opt("User", s.reviewer_id), reviewer_name=s.reviewer_name, count=s.count,
                          passed=s.passed, rejected=s.rejected, min_seconds=s.min_seconds, max_seconds=s.max_seconds,
                          avg_seconds=str(s.avg_seconds)) for s in rows]

    @guarded("credit_review.assign", description="Users who may be assigned credit reviews (enabled, holding "
             "credit_review.decide).")
    async def credit_reviewers(self, info: Info) -> list[ReviewerType]:
        store = policy_store()
        await store.refresh()
        roles = list(store.roles_holding(service.DECIDE_NODE))
        rows = await User.filter(enabled=True, deleted=False, roles__enabled=True, roles__key__in=roles
                                 ).distinct().order_by("id")
        return [ReviewerType(id=gid("User", u.id), name=u.name, account=u.account) for u in rows]


@strawberry.type
class CreditReviewMutation:
    @guarded_mutation("credit_review.assign", description="Assign an unassigned case to a reviewer.")
    async def assign_credit_review(self, info: Info, case_id: strawberry.ID,
                                   assignee_id: strawberry.ID) -> CreditReviewCasesPayload:
        rows = await service.assign(actor_of(info), [decode(case_id, "CreditReviewCase", "caseId")],
                                    decode(assignee_id, "User", "assigneeId"), request_id=info.context.request_id,
                                    field="caseId")
        return CreditReviewCasesPayload(cases=await _load_cases([r.id for r in rows]))

    @guarded_mutation("credit_review.assign", description="Assign several unassigned cases to one reviewer (all "
                      "or nothing; a refused case is named as caseIds[i]).")
    async def batch_assign_credit_reviews(self, info: Info, case_ids: list[strawberry.ID],
                                          assignee_id: strawberry.ID) -> CreditReviewCasesPayload:
        ids = [decode(c, "CreditReviewCase", f"caseIds[{i}]") for i, c in enumerate(case_ids)]
        rows = await service.assign(actor_of(info), ids, decode(assignee_id, "User", "assigneeId"),
                                    request_id=info.context.request_id)
        return CreditReviewCasesPayload(cases=await _load_cases([r.id for r in rows]))

    @guarded_mutation("credit_review.assign", description="Move an assigned, undecided case to another reviewer.")
    async def reassign_credit_review(self, info: Info, case_id: strawberry.ID,
                                     assignee_id: strawberry.ID) -> CreditReviewCasesPayload:
        rows = await service.assign(actor_of(info), [decode(case_id, "CreditReviewCase", "caseId")],
                                    decode(assignee_id, "User", "assigneeId"), reassign=True,
                                    request_id=info.context.request_id, field="caseId")
        return CreditReviewCasesPayload(cases=await _load_cases([r.id for r in rows]))

    @guarded_mutation("credit_review.decide", description="Pass or reject a case assigned to you: a first-review "
                      "pass sends it to second review, a second-review pass approves the loan, a reject rejects it "
                      "(comment required).")
    async def decide_credit_review(self, info: Info, case_id: strawberry.ID, decision: DecisionEnum,  # type: ignore[valid-type]
                                   comment: str = "") -> CreditReviewCasePayload:
        row = await service.decide(actor_of(info), decode(case_id, "CreditReviewCase", "caseId"), decision, comment,
                                   request_id=info.context.request_id)
        (case,) = await _load_cases([row.id])
        return CreditReviewCasePayload(case=case)
