"""Manual credit review (F-LOAN-6): pools, single/batch assignment, my orders, decisions, stats, scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
import pytest_asyncio

from core import clock
from core.actor import Actor
from core.errors import UserError
from core.loans import credit_review as cr
from core.loans.models import Loan, LoanEvent, LoanStatus
from core.loans.review_models import CaseStatus, CreditReviewCase, CreditReviewRecord, ReviewDecision, ReviewStage
from core.oplog.models import OperationLog
from permissions.scope import DataPolicy
from tests.loans.credit_review_support import (
    COORDINATOR_NODES,
    REVIEWER_NODES,
    ReviewWorld,
    bank_policy,
    field_codes,
    make_review_world,
    manual_loan,
    role_user,
)

PASS, REJECT = ReviewDecision.PASS, ReviewDecision.REJECT


@dataclass
class Staff:
    coordinator: Actor
    alice: Actor  # reviewer, sees every bank
    bob: Actor  # reviewer, sees every bank
    carol: Actor  # reviewer, sees bank ALPHA only
    alpha_coordinator: Actor  # coordinator, sees bank ALPHA only


@pytest_asyncio.fixture
async def world(db: str) -> ReviewWorld:
    return await make_review_world()


@pytest_asyncio.fixture
async def staff(world: ReviewWorld) -> Staff:
    everything = DataPolicy(all=True)
    _, coordinator = await role_user("coord", "cr_coord", COORDINATOR_NODES, everything, "分单员")
    _, alice = await role_user("alice", "cr_rev", REVIEWER_NODES, everything, "审核甲")
    _, bob = await role_user("bob", "cr_rev", REVIEWER_NODES, everything, "审核乙")
    _, carol = await role_user("carol", "cr_rev_alpha", REVIEWER_NODES, bank_policy(world.alpha), "审核丙")
    _, alpha_coord = await role_user("coorda", "cr_coord_alpha", COORDINATOR_NODES, bank_policy(world.alpha),
                                     "分单A")
    return Staff(coordinator, alice, bob, carol, alpha_coord)


async def opened(world: ReviewWorld, n: int = 1, product: str = "a") -> list[CreditReviewCase]:
    out = []
    for _ in range(n):
        loan = await manual_loan(world.product_a if product == "a" else world.product_z, world.channel)
        await cr.open_case(loan)
        out.append(await CreditReviewCase.get(loan_id=loan.id))
    return out


async def test_open_case_puts_a_manual_review_loan_in_the_first_pool_once(world: ReviewWorld, staff: Staff) -> None:
    loan = await manual_loan(world.product_a, world.channel)
    await cr.open_case(loan)
    await cr.open_case(loan)  # idempotent
    case = await CreditReviewCase.get(loan_id=loan.id)
    assert (case.stage, case.status, case.assignee_id, case.product_id) == (  # type: ignore[attr-defined]
        ReviewStage.FIRST, CaseStatus.UNASSIGNED, None, world.product_a.id)
    assert await CreditReviewCase.filter(loan_id=loan.id).count() == 1
    assert await OperationLog.filter(module="credit_review", action="open", scope_product_id=world.product_a.id
                                     ).count() == 1
    approved = await manual_loan(world.product_a, world.channel, status=LoanStatus.APPROVED)
    with pytest.raises(UserError) as exc:
        await cr.open_case(approved)
    assert field_codes(exc) == [("loanId", "INVALID_STATE")]
    first_pool = await cr.pool(staff.coordinator, cr.PoolFilter(stage=ReviewStage.FIRST))
    assert [c.id for c in first_pool] == [case.id]


async def test_first_pass_then_second_pass_approves_the_loan(world: ReviewWorld, staff: Staff) -> None:
    (case,) = await opened(world)
    await cr.assign(staff.coordinator, [case.id], staff.alice.user_id, field="caseId")
    assert [c.id for c in await cr.my_cases(staff.alice)] == [case.id]
    assert await cr.my_cases(staff.bob) == []  # a reviewer sees only their own orders
    with pytest.raises(UserError) as exc:
        await cr.decide(staff.bob, case.id, PASS)
    assert field_codes(exc) == [("caseId", "FORBIDDEN")]

    after_first = await cr.decide(staff.alice, case.id, PASS, "收入核实无误")
    assert (after_first.stage, after_first.status, after_first.assignee_id) == (  # type: ignore[attr-defined]
        ReviewStage.SECOND, CaseStatus.UNASSIGNED, None)
    loan = await Loan.get(id=case.loan_id)  # type: ignore[attr-defined]
    assert loan.status is LoanStatus.MANUAL_REVIEW  # not approved until the second review
    assert [c.id for c in await cr.pool(staff.coordinator, cr.PoolFilter(stage=ReviewStage.SECOND))] == [case.id]
    assert await cr.pool(staff.coordinator, cr.PoolFilter(stage=ReviewStage.FIRST)) == []

    # four eyes: the first reviewer cannot take the second review
    with pytest.raises(UserError) as exc:
        await cr.assign(staff.coordinator, [case.id], staff.alice.user_id)
    assert field_codes(exc) == [("assigneeId", "CONFLICT")]
    await cr.assign(staff.coordinator, [case.id], staff.bob.user_id)
    closed = await cr.decide(staff.bob, case.id, PASS, "")
    assert (closed.status, closed.closed_at is not None) == (CaseStatus.APPROVED, True)
    loan = await Loan.get(id=case.loan_id)  # type: ignore[attr-defined]
    assert loan.status is LoanStatus.APPROVED and loan.approved_at is not None
    event = await LoanEvent.filter(loan_id=loan.id).order_by("-id").first()
    assert event is not None and (event.from_status, event.to_status, event.actor_id) == (  # type: ignore[attr-defined]
        "manual_review", "approved", staff.bob.user_id)
    recs = await CreditReviewRecord.filter(case_id=case.id).order_by("id")
    assert [(r.stage, r.reviewer_id, r.decision, r.comment) for r in recs] == [  # type: ignore[attr-defined]
        (ReviewStage.FIRST, staff.alice.user_id, PASS, "收入核实无误"),
        (ReviewStage.SECOND, staff.bob.user_id, PASS, "")]
    assert await cr.pool(staff.coordinator) == []  # decided orders leave the pool
    with pytest.raises(UserError) as exc:
        await cr.decide(staff.bob, case.id, PASS)
    assert field_codes(exc) == [("caseId", "INVALID_STATE")]


@pytest.mark.parametrize("stage", ["first", "second"])
async def test_a_reject_at_either_stage_rejects_the_loan(world: ReviewWorld, staff: Staff, stage: str) -> None:
    (case,) = await opened(world)
    await cr.assign(staff.coordinator, [case.id], staff.alice.user_id)
    reviewer = staff.alice
    if stage == "second":
        await cr.decide(staff.alice, case.id, PASS)
        await cr.assign(staff.coordinator, [case.id], staff.bob.user_id)
        reviewer = staff.bob
    with pytest.raises(UserError) as exc:
        await cr.decide(reviewer, case.id, REJECT, "  ")
    assert field_codes(exc) == [("comment", "REQUIRED")]
    done = await cr.decide(reviewer, case.id, REJECT, "收入证明伪造")
    assert done.status is CaseStatus.REJECTED
    loan = await Loan.get(id=case.loan_id)  # type: ignore[attr-defined]
    assert (loan.status, loan.reject_reason) == (LoanStatus.REJECTED, "收入证明伪造")
    assert await OperationLog.filter(module="credit_review", action="decide_reject",
                                     operator_id=reviewer.user_id).count() == 1


async def test_batch_assignment_is_all_or_nothing_and_reassignment_moves_undecided_cases(
        world: ReviewWorld, staff: Staff) -> None:
    cases = await opened(world, 3)
    ids = [c.id for c in cases]
    assigned = await cr.assign(staff.coordinator, ids, staff.alice.user_id)
    assert {(c.status, c.assignee_id) for c in assigned} == {  # type: ignore[attr-defined]
        (CaseStatus.ASSIGNED, staff.alice.user_id)}
    assert await OperationLog.filter(module="credit_review", action="assign").count() == 3
    (extra,) = await opened(world)
    # one already-assigned case in the batch refuses the whole batch, naming it
    with pytest.raises(UserError) as exc:
        await cr.assign(staff.coordinator, [extra.id, ids[1]], staff.bob.user_id)
    assert field_codes(exc) == [("caseIds[1]", "INVALID_STATE")]
    assert (await CreditReviewCase.get(id=extra.id)).status is CaseStatus.UNASSIGNED
    with pytest.raises(UserError) as exc:
        await cr.assign(staff.coordinator, [extra.id, extra.id], staff.bob.user_id)
    assert field_codes(exc) == [("caseIds", "INVALID")]

    moved = await cr.assign(staff.coordinator, ids[:2], staff.bob.user_id, reassign=True)
    assert {c.assignee_id for c in moved} == {staff.bob.user_id}  # type: ignore[attr-defined]
    assert sorted(c.id for c in await cr.my_cases(staff.bob)) == sorted(ids[:2])
    assert [c.id for c in await cr.my_cases(staff.alice)] == [ids[2]]
    with pytest.raises(UserError) as exc:  # alice no longer holds them
        await cr.decide(staff.alice, ids[0], PASS)
    assert field_codes(exc) == [("caseId", "FORBIDDEN")]
    with pytest.raises(UserError) as exc:
        await cr.assign(staff.coordinator, [extra.id], staff.bob.user_id, reassign=True, field="caseId")
    assert field_codes(exc) == [("caseId", "INVALID_STATE")]
    with pytest.raises(UserError) as exc:
        await cr.assign(staff.coordinator, [ids[0]], staff.bob.user_id, reassign=True)
    assert field_codes(exc) == [("assigneeId", "INVALID")]


async def test_assignees_must_be_reviewers_who_may_see_the_product(world: ReviewWorld, staff: Staff) -> None:
    (zeta_case,) = await opened(world, product="z")
    with pytest.raises(UserError) as exc:
        await cr.assign(staff.coordinator, [zeta_case.id], staff.carol.user_id)
    assert field_codes(exc) == [("assigneeId", "FORBIDDEN")]
    with pytest.raises(UserError) as exc:
        await cr.assign(staff.coordinator, [zeta_case.id], staff.coordinator.user_id)
    assert field_codes(exc) == [("assigneeId", "INVALID")]  # a coordinator without credit_review.decide
    with pytest.raises(UserError) as exc:
        await cr.assign(staff.coordinator, [zeta_case.id], 999999)
    assert field_codes(exc) == [("assigneeId", "NOT_FOUND")]


async def test_data_scope_limits_pools_assignment_decisions_and_stats(world: ReviewWorld, staff: Staff) -> None:
    (a_case,) = await opened(world, product="a")
    (z_case,) = await opened(world, product="z")
    assert [c.id for c in await cr.pool(staff.alpha_coordinator)] == [a_case.id]
    assert sorted(c.id for c in await cr.pool(staff.coordinator)) == sorted([a_case.id, z_case.id])
    with pytest.raises(UserError) as exc:  # a coordinator cannot touch a case outside their scope
        await cr.assign(staff.alpha_coordinator, [z_case.id], staff.alice.user_id, field="caseId")
    assert field_codes(exc) == [("caseId", "NOT_FOUND")]
    await cr.assign(staff.coordinator, [z_case.id, a_case.id], staff.alice.user_id)
    await cr.decide(staff.alice, z_case.id, REJECT, "no")
    await cr.decide(staff.alice, a_case.id, REJECT, "no")
    assert [r.case_id for r in await cr.records(staff.alpha_coordinator)] == [a_case.id]  # type: ignore[attr-defined]
    (alpha_view,) = await cr.efficiency(staff.alpha_coordinator)
    assert (alpha_view.count, alpha_view.rejected) == (1, 1)
    (full_view,) = await cr.efficiency(staff.coordinator)
    assert full_view.count == 2
    # the operation log entries are tagged with the product, for the log's own scope filter
    assert set(await OperationLog.filter(module="credit_review", action="decide_reject")
               .values_list("scope_product_id", flat=True)) == {world.product_a.id, world.product_z.id}


async def test_efficiency_stats_are_exact(world: ReviewWorld, staff: Staff) -> None:
    cases = await opened(world, 4)
    ids = [c.id for c in cases]
    await cr.assign(staff.coordinator, ids[:3], staff.alice.user_id)
    await cr.assign(staff.coordinator, ids[3:], staff.bob.user_id)
    clock.travel(timedelta(seconds=60))
    await cr.decide(staff.alice, ids[0], PASS)  # 60 s
    clock.travel(timedelta(seconds=120))
    await cr.decide(staff.alice, ids[1], REJECT, "资料不全")  # 180 s
    clock.travel(timedelta(seconds=10))
    await cr.decide(staff.alice, ids[2], PASS)  # 190 s
    await cr.decide(staff.bob, ids[3], REJECT, "多头借贷")  # 190 s
    # second review of the first case, by bob: 45 s
    await cr.assign(staff.coordinator, [ids[0]], staff.bob.user_id)
    clock.travel(timedelta(seconds=45))
    await cr.decide(staff.bob, ids[0], PASS)

    stats = {s.reviewer_name: s for s in await cr.efficiency(staff.coordinator)}
    alice, bob = stats["审核甲"], stats["审核乙"]
    assert (alice.count, alice.passed, alice.rejected, alice.min_seconds, alice.max_seconds, alice.avg_seconds) == (
        3, 2, 1, 60, 190, Decimal("143.33"))
    assert (bob.count, bob.passed, bob.rejected, bob.min_seconds, bob.max_seconds, bob.avg_seconds) == (
        2, 1, 1, 45, 190, Decimal("117.50"))
    (first_only,) = [s for s in await cr.efficiency(staff.coordinator, cr.StatsFilter(stage=ReviewStage.SECOND))]
    assert (first_only.reviewer_name, first_only.count, first_only.min_seconds) == ("审核乙", 1, 45)
    later = await cr.efficiency(staff.coordinator, cr.StatsFilter(since=clock.now() - timedelta(seconds=30)))
    assert [(s.reviewer_name, s.count) for s in later] == [("审核乙", 1)]


async def test_two_coordinators_assigning_one_case_at_once_cannot_both_win(world: ReviewWorld, staff: Staff) -> None:
    import asyncio

    (case,) = await opened(world)
    results = await asyncio.gather(cr.assign(staff.coordinator, [case.id], staff.alice.user_id),
                                   cr.assign(staff.coordinator, [case.id], staff.bob.user_id),
                                   return_exceptions=True)
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, UserError)]
    assert len(winners) == 1 and len(losers) == 1
    assert losers[0].code.value in {"CONFLICT", "INVALID_STATE"}
    row = await CreditReviewCase.get(id=case.id)
    assert (row.version, row.assignee_id) == (2, winners[0][0].assignee_id)  # type: ignore[attr-defined]
    assert await OperationLog.filter(module="credit_review", action="assign").count() == 1
