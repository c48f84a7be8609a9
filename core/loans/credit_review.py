"""Manual credit review (信审, F-LOAN-6, seed 003): the two pools, assignment, decisions, statistics.

Flow: admission sends a loan the risk engine referred (`manual_review`) here with `open_case`; the
case waits unassigned in the FIRST review pool; a coordinator (`credit_review.assign`) assigns it,
singly or in batches, to a reviewer holding `credit_review.decide` whose data scope covers the
loan's product, and may reassign it while it is undecided. Only the assigned reviewer sees it in
"my orders" and decides: a first-review pass moves it, unassigned again, to the SECOND review pool
(where the first reviewer may not take it — four eyes); a second-review pass approves the loan, a
reject at either stage rejects it (both through `core.loans.states.transition`, so the loan's event
log and the integrators' event follow). Every decision leaves a record with the handling time from
assignment to decision, which the efficiency statistics aggregate in SQL.

Every change runs in one transaction with its operation-log entries (tagged with the product, so
only callers who may see the product read them); assignment and decisions are conditional updates
on the case's version, so a reassignment racing a decision cannot both win. Reads apply the
caller's data scope on the case's product in SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from tortoise.exceptions import IntegrityError
from tortoise.functions import Count, Max, Min, Sum
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from core import clock
from core.accounts.models import User
from core.actor import SYSTEM, Actor
from core.errors import ErrorCode, ErrorCollector, UserError, not_found
from core.loans.models import Loan, LoanStatus
from core.loans.review_models import (
    OPEN_STATUSES,
    CaseStatus,
    CreditReviewCase,
    CreditReviewRecord,
    ReviewDecision,
    ReviewStage,
)
from core.loans.states import transition
from core.oplog import service as oplog
from core.oplog.models import OperatorKind
from permissions.policy import policy_store

MODULE = "credit_review"
DECIDE_NODE = "credit_review.decide"
MAX_BATCH = 200
COMMENT_MAX = 500


# ---- opening ----------------------------------------------------------------------------------

async def open_case(loan: Loan) -> None:
    """Put a loan in manual review into the FIRST review pool, unassigned. Idempotent per loan.

    Call it in admission's transaction, right after the loan moved to `manual_review`.
    """
    if LoanStatus(loan.status) is not LoanStatus.MANUAL_REVIEW:
        raise UserError.of("loanId", ErrorCode.INVALID_STATE,
                           f"Only a loan in manual review enters credit review (this one is {loan.status})")
    if await CreditReviewCase.filter(loan_id=loan.id).exists():
        return
    now = clock.now()
    product_id: int = loan.product_id  # type: ignore[attr-defined]
    try:
        async with in_transaction():
            case = await CreditReviewCase.create(loan_id=loan.id, product_id=product_id, opened_at=now,
                                                 stage_entered_at=now)
            await oplog.record(SYSTEM, kind=OperatorKind.SYSTEM, module=MODULE, action="open",
                               summary=f"order {loan.order_no} entered the first credit review pool",
                               detail={"caseId": case.id, "loanId": loan.id, "orderNo": loan.order_no},
                               scope_product_id=product_id)
    except IntegrityError:  # opened by a concurrent call for the same loan: one case is all we want
        return


# ---- reading ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PoolFilter:
    stage: ReviewStage | None = None
    status: CaseStatus | None = None  # None: every open case (unassigned and assigned)
    assignee_id: int | None = None
    order_no: str | None = None


def pool(actor: Actor, f: PoolFilter | None = None) -> QuerySet[CreditReviewCase]:
    """Open cases of loans still in manual review, within the caller's data scope (SQL)."""
    f = f or PoolFilter()
    qs = CreditReviewCase.filter(actor.scope.products("product_id"), loan__status=LoanStatus.MANUAL_REVIEW)
    qs = qs.filter(status=f.status) if f.status is not None else qs.filter(status__in=list(OPEN_STATUSES))
    if f.stage is not None:
        qs = qs.filter(stage=f.stage)
    if f.assignee_id is not None:
        qs = qs.filter(assignee_id=f.assignee_id)
    if f.order_no:
        qs = qs.filter(loan__order_no=f.order_no.strip())
    return qs


def my_cases(actor: Actor) -> QuerySet[CreditReviewCase]:
    """"My orders": the cases assigned to the caller and not yet decided (never anyone else's)."""
    return pool(actor, PoolFilter(status=CaseStatus.ASSIGNED, assignee_id=actor.user_id))


def cases(actor: Actor) -> QuerySet[CreditReviewCase]:
    """Every case, open or closed, within the caller's data scope."""
    return CreditReviewCase.filter(actor.scope.products("product_id"))


def records(actor: Actor, *, loan_id: int | None = None, reviewer_id: int | None = None
            ) -> QuerySet[CreditReviewRecord]:
    qs = CreditReviewRecord.filter(actor.scope.products("product_id"))
    if loan_id is not None:
        qs = qs.filter(loan_id=loan_id)
    if reviewer_id is not None:
        qs = qs.filter(reviewer_id=reviewer_id)
    return qs


# ---- assigning --------------------------------------------------------------------------------

async def _reviewer(user_id: int) -> tuple[User, Actor]:
    """An enabled user holding credit_review.decide, as an Actor (for their data scope)."""
    user = await User.get_or_none(id=user_id).prefetch_related("roles")
    if user is None or user.deleted:
        raise UserError.of("assigneeId", ErrorCode.NOT_FOUND, "The reviewer does not exist")
    if not user.enabled:
        raise UserError.of("assigneeId", ErrorCode.INVALID, "The reviewer's account is disabled")
    store = policy_store()
    await store.refresh()
    keys = tuple(sorted(r.key for r in user.roles if r.enabled))
    if not store.allowed(list(keys), DECIDE_NODE):
        raise UserError.of("assigneeId", ErrorCode.INVALID, "The chosen user may not decide credit reviews")
    return user, Actor(user.id, user.account, user.name, keys, scope=store.scope_for(keys))


async def _cases_for_assignment(actor: Actor, case_ids: Sequence[int], field: str) -> list[CreditReviewCase]:
    if not case_ids:
        raise UserError.of(field, ErrorCode.REQUIRED, "Choose at least one case")
    if len(case_ids) > MAX_BATCH:
        raise UserError.of(field, ErrorCode.OUT_OF_RANGE, f"Assign at most {MAX_BATCH} cases at once")
    if len(set(case_ids)) != len(case_ids):
        raise UserError.of(field, ErrorCode.INVALID, "A case is listed twice")
    found = {c.id: c for c in await CreditReviewCase.filter(actor.scope.products("product_id"), id__in=list(case_ids))
             .prefetch_related("loan")}
    errs = ErrorCollector()
    for i, cid in enumerate(case_ids):
        if cid not in found:
            errs.add(f"{field}[{i}]" if len(case_ids) > 1 else field, ErrorCode.NOT_FOUND,
                     "Credit review case not found")
    errs.raise_if_any()
    return [found[cid] for cid in case_ids]


async def assign(actor: Actor, case_ids: Sequence[int], assignee_id: int, *, reassign: bool = False,
                 request_id: str = "", field: str = "caseIds") -> list[CreditReviewCase]:
    """Assign unassigned cases (or, with `reassign`, move assigned ones) to a reviewer; all or nothing."""
    rows = await _cases_for_assignment(actor, case_ids, field)
    reviewer, reviewer_actor = await _reviewer(assignee_id)
    visible = set(await CreditReviewCase.filter(reviewer_actor.scope.products("product_id"),
                                                id__in=[c.id for c in rows]).values_list("id", flat=True))
    errs = ErrorCollector()
    for i, case in enumerate(rows):
        at = f"{field}[{i}]" if len(rows) > 1 else field
        loan: Loan = case.loan
        if case.status not in OPEN_STATUSES or loan.status != LoanStatus.MANUAL_REVIEW:
            errs.add(at, ErrorCode.INVALID_STATE, f"Order {loan.order_no} is no longer waiting for review")
        elif not reassign and case.status is CaseStatus.ASSIGNED:
            errs.add(at, ErrorCode.INVALID_STATE, f"Order {loan.order_no} is assigned already; reassign it instead")
        elif reassign and case.status is CaseStatus.UNASSIGNED:
            errs.add(at, ErrorCode.INVALID_STATE, f"Order {loan.order_no} is not assigned yet; assign it instead")
        elif reassign and case.assignee_id == reviewer.id:  # type: ignore[attr-defined]
            errs.add("assigneeId", ErrorCode.INVALID, f"Order {loan.order_no} is assigned to this reviewer already")
        elif case.stage is ReviewStage.SECOND and case.first_reviewer_id == reviewer.id:  # type: ignore[attr-defined]
            errs.add("assigneeId", ErrorCode.CONFLICT,
                     f"{reviewer.name} passed the first review of order {loan.order_no}; the second review needs "
                     "another reviewer")
        elif case.id not in visible:
            errs.add("assigneeId", ErrorCode.FORBIDDEN,
                     f"{reviewer.name} may not see the product of order {loan.order_no}")
    errs.raise_if_any()
    now = clock.now()
    action = "reassign" if reassign else "assign"
    async with in_transaction():
        for case in rows:
            updated = await CreditReviewCase.filter(id=case.id, version=case.version, status=case.status).update(
                assignee_id=reviewer.id, assigned_at=now, status=CaseStatus.ASSIGNED, version=case.version + 1)
            if updated != 1:
                raise UserError.of(field, ErrorCode.CONFLICT,
                                   f"Order {case.loan.order_no} was assigned or decided meanwhile; reload the pool")
            await oplog.record(actor, kind=actor.kind(), module=MODULE, action=action,
                               summary=f"{action}ed order {case.loan.order_no} ({case.stage.value} review) to "
                                       f"{reviewer.name}",
                               detail={"caseId": case.id, "loanId": case.loan.id, "stage": case.stage.value,
                                       "from": case.assignee_id, "to": reviewer.id},  # type: ignore[attr-defined]
                               request_id=request_id, scope_product_id=case.product_id)  # type: ignore[attr-defined]
    return list(await CreditReviewCase.filter(id__in=[c.id for c in rows]).order_by("id"))


# ---- deciding ---------------------------------------------------------------------------------

async def decide(actor: Actor, case_id: int, decision: ReviewDecision, comment: str = "", *,
                 request_id: str = "") -> CreditReviewCase:
    """The assigned reviewer passes or rejects the case at its current stage (see the module notes)."""
    comment = (comment or "").strip()
    if decision is ReviewDecision.REJECT and not comment:
        raise UserError.of("comment", ErrorCode.REQUIRED, "Say why the order is rejected")
    if len(comment) > COMMENT_MAX:
        raise UserError.of("comment", ErrorCode.TOO_LONG, f"comment must be at most {COMMENT_MAX} characters")
    case = await CreditReviewCase.filter(actor.scope.products("product_id"), id=case_id).prefetch_related("loan") \
        .first()
    if case is None:
        raise not_found("Credit review case", "caseId")
    if case.status is not CaseStatus.ASSIGNED:
        raise UserError.of("caseId", ErrorCode.INVALID_STATE,
                           "The case is not waiting for a decision" if case.status is CaseStatus.UNASSIGNED
                           else f"The case is closed ({case.status.value})")
    if case.assignee_id != actor.user_id:  # type: ignore[attr-defined]
        raise UserError.of("caseId", ErrorCode.FORBIDDEN, "This case is assigned to another reviewer")
    loan: Loan = case.loan
    now = clock.now()
    assigned_at = case.assigned_at or now
    stage = case.stage
    changes: dict[str, object]
    if decision is ReviewDecision.REJECT:
        changes = {"status": CaseStatus.REJECTED, "closed_at": now}
    elif stage is ReviewStage.FIRST:
        changes = {"stage": ReviewStage.SECOND, "status": CaseStatus.UNASSIGNED, "assignee_id": None,
                   "assigned_at": None, "first_reviewer_id": actor.user_id, "stage_entered_at": now}
    else:
        changes = {"status": CaseStatus.APPROVED, "closed_at": now}
    async with in_transaction():
        updated = await CreditReviewCase.filter(id=case.id, version=case.version, status=CaseStatus.ASSIGNED,
                                                assignee_id=actor.user_id).update(**changes,
                                                                                  version=case.version + 1)
        if updated != 1:
            raise UserError.of("caseId", ErrorCode.CONFLICT, "The case was reassigned or decided meanwhile")
        await CreditReviewRecord.create(
            case_id=case.id, loan_id=loan.id, product_id=case.product_id,  # type: ignore[attr-defined]
            stage=stage, reviewer_id=actor.user_id, reviewer_name=actor.name[:40], decision=decision,
            comment=comment, assigned_at=assigned_at, decided_at=now,
            handling_seconds=max(int((now - assigned_at).total_seconds()), 0))
        reason = f"credit review ({stage.value}) {decision.value}" + (f": {comment}" if comment else "")
        if decision is ReviewDecision.REJECT:
            await transition(loan, LoanStatus.REJECTED, actor=actor, reason=reason[:500],
                             changes={"reject_reason": comment[:500]})
            from core.loans.admission import release_order_quota  # admission imports this module

            await release_order_quota(loan)
        elif stage is ReviewStage.SECOND:
            await transition(loan, LoanStatus.APPROVED, actor=actor, reason=reason[:500],
                             changes={"approved_at": now})
        outcome = ("rejected the order" if decision is ReviewDecision.REJECT
                   else "passed the first review" if stage is ReviewStage.FIRST else "approved the order")
        await oplog.record(actor, kind=actor.kind(), module=MODULE, action=f"decide_{decision.value}",
                           summary=f"{outcome} {loan.order_no} ({stage.value} review)",
                           detail={"caseId": case.id, "loanId": loan.id, "stage": stage.value,
                                   "decision": decision.value, "comment": comment},
                           request_id=request_id, scope_product_id=case.product_id)  # type: ignore[attr-defined]
    await case.refresh_from_db()
    return case


# ---- statistics -------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReviewerStats:
    reviewer_id: int | None
    reviewer_name: str
    count: int
    passed: int
    rejected: int
    min_seconds: int
    max_seconds: int
    avg_seconds: Decimal  # to the hundredth of a second, half-up


@dataclass(frozen=True)
class StatsFilter:
    since: datetime | None = None  # decided at or after
    until: datetime | None = None  # decided before
    stage: ReviewStage | None = None
    reviewer_id: int | None = None


async def efficiency(actor: Actor, f: StatsFilter | None = None) -> list[ReviewerStats]:
    """Per reviewer: decisions, passes, rejects and handling time (assignment → decision), in SQL."""
    f = f or StatsFilter()
    qs = records(actor, reviewer_id=f.reviewer_id)
    if f.since is not None:
        qs = qs.filter(decided_at__gte=f.since)
    if f.until is not None:
        qs = qs.filter(decided_at__lt=f.until)
    if f.stage is not None:
        qs = qs.filter(stage=f.stage)
    rows = await (qs.annotate(n=Count("id"), lo=Min("handling_seconds"), hi=Max("handling_seconds"),
                              total=Sum("handling_seconds"))
                  .group_by("reviewer_id", "decision")
                  .values("reviewer_id", "decision", "n", "lo", "hi", "total"))
    ids = {row["reviewer_id"] for row in rows if row["reviewer_id"] is not None}
    names = dict(await User.filter(id__in=list(ids)).values_list("id", "name")) if ids else {}
    merged: dict[int | None, dict[str, int]] = {}
    for row in rows:
        m = merged.setdefault(row["reviewer_id"], {"n": 0, "passed": 0, "rejected": 0, "lo": int(row["lo"]),
                                                   "hi": int(row["hi"]), "total": 0})
        n = int(row["n"])
        m["n"] += n
        m["passed" if row["decision"] == ReviewDecision.PASS.value else "rejected"] += n
        m["lo"], m["hi"] = min(m["lo"], int(row["lo"])), max(m["hi"], int(row["hi"]))
        m["total"] += int(row["total"])
    out = [ReviewerStats(rid, str(names.get(rid, "(deleted user)")), m["n"], m["passed"], m["rejected"], m["lo"],
                         m["hi"], (Decimal(m["total"]) / m["n"]).quantize(Decimal("0.01"), ROUND_HALF_UP))
           for rid, m in merged.items()]
    return sorted(out, key=lambda s: (-s.count, s.reviewer_name))
