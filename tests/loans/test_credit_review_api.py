"""The credit review page and risk reports over GraphQL, as an SPA calls them, within data scope."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from core.loans import credit_review as cr
from core.loans.models import Loan, LoanStatus
from core.risk.rule_models import RiskReportRecord
from permissions.scope import DataPolicy
from schema.relay import gid
from tests.loans.credit_review_support import (
    COORDINATOR_NODES,
    REVIEWER_NODES,
    bank_policy,
    make_review_world,
    manual_loan,
    role_user,
)
from tests.support import Api

POOL = """query($f: CreditReviewPoolFilter){creditReviewPool(filter:$f){totalCount edges{node{id orderNo customerName
  idNumber amount productCode stage status assigneeName}}}}"""
MINE = "{myCreditReviews{totalCount edges{node{id orderNo status}}}}"
BATCH = """mutation($ids:[ID!]!,$to:ID!){batchAssignCreditReviews(caseIds:$ids,assigneeId:$to){
  cases{id status assigneeName} errors{field code message}}}"""
DECIDE = """mutation($id:ID!,$d:CreditReviewDecision!,$c:String!){decideCreditReview(caseId:$id,decision:$d,comment:$c){
  case{stage status assigneeId} errors{field code}}}"""
STATS = "{creditReviewStats{reviewerName count passed rejected minSeconds maxSeconds avgSeconds}}"
REPORTS = "query($loan:ID){riskReports(loanId:$loan){totalCount edges{node{id orderNo outcome score quota subject}}}}"


async def test_pool_assignment_my_orders_and_decisions(api: Api, people: dict[str, Any]) -> None:
    world = await make_review_world()
    await role_user("coorda", "cr_coord_alpha", COORDINATOR_NODES, bank_policy(world.alpha))
    _, reviewer = await role_user("rev1", "cr_rev", REVIEWER_NODES, DataPolicy(all=True), "审核甲")
    loans = [await manual_loan(world.product_a, world.channel) for _ in range(2)]
    zeta_loan = await manual_loan(world.product_z, world.channel)
    for loan in [*loans, zeta_loan]:
        await cr.open_case(loan)
    coord = await api.login("coorda")
    rev = await api.login("rev1")

    pool = (await api(POOL, {"f": {"stage": "FIRST"}}, coord))["data"]["creditReviewPool"]
    assert pool["totalCount"] == 2  # the ZETA order is outside the coordinator's scope
    nodes = pool["edges"]
    assert {n["node"]["productCode"] for n in nodes} == {"CR-A"}
    assert all(n["node"]["idNumber"].startswith("**************") for n in nodes)
    ids = [n["node"]["id"] for n in nodes]
    out = (await api(BATCH, {"ids": ids, "to": gid("User", reviewer.user_id)}, coord))["data"][
        "batchAssignCreditReviews"]
    assert out["errors"] == [] and {(c["status"], c["assigneeName"]) for c in out["cases"]} == {("ASSIGNED", "审核甲")}
    mine = (await api(MINE, token=rev))["data"]["myCreditReviews"]
    assert mine["totalCount"] == 2
    assert (await api(MINE, token=coord))["data"]["myCreditReviews"]["totalCount"] == 0

    refused = (await api(DECIDE, {"id": ids[0], "d": "PASS", "c": ""}, coord))["data"]["decideCreditReview"]
    assert refused["errors"][0]["code"] == "FORBIDDEN"  # the coordinator lacks credit_review.decide
    first = (await api(DECIDE, {"id": ids[0], "d": "PASS", "c": "ok"}, rev))["data"]["decideCreditReview"]
    assert first == {"case": {"stage": "SECOND", "status": "UNASSIGNED", "assigneeId": None}, "errors": []}
    rejected = (await api(DECIDE, {"id": ids[1], "d": "REJECT", "c": "资料不全"}, rev))["data"]["decideCreditReview"]
    assert rejected["case"]["status"] == "REJECTED"
    assert {loan.status for loan in await Loan.filter(id__in=[x.id for x in loans])} == {
        LoanStatus.MANUAL_REVIEW, LoanStatus.REJECTED}
    stats = (await api(STATS, token=coord))["data"]["creditReviewStats"]
    assert [(s["reviewerName"], s["count"], s["passed"], s["rejected"]) for s in stats] == [("审核甲", 2, 1, 1)]
    second_pool = (await api(POOL, {"f": {"stage": "SECOND"}}, coord))["data"]["creditReviewPool"]
    assert [n["node"]["id"] for n in second_pool["edges"]] == [ids[0]]
    bad = (await api(BATCH, {"ids": [ids[1]], "to": gid("User", reviewer.user_id)}, coord))["data"][
        "batchAssignCreditReviews"]
    assert [(e["field"], e["code"]) for e in bad["errors"]] == [("caseIds", "INVALID_STATE")]


async def test_risk_reports_are_read_within_data_scope(api: Api, people: dict[str, Any]) -> None:
    world = await make_review_world()
    await role_user("alpharisk", "risk_alpha", {"risk_rules", "loan_orders"}, bank_policy(world.alpha))
    a_loan = await manual_loan(world.product_a, world.channel)
    z_loan = await manual_loan(world.product_z, world.channel)
    now = datetime.now(UTC)
    for loan, product in ((a_loan, world.product_a), (z_loan, world.product_z)):
        await RiskReportRecord.create(scene_key="admission", scene_kind="credit", rule_set_version=1, loan=loan,
                                      product=product, order_no=loan.order_no, subject_summary={"name": "王*"},
                                      outcome="pass", score=Decimal("10.5"), quota=Decimal("8000.00"),
                                      report={"rules": []}, created_at=now)
    token = await api.login("alpharisk")
    everything = (await api(REPORTS, {"loan": None}, token))["data"]["riskReports"]
    assert [e["node"]["orderNo"] for e in everything["edges"]] == [a_loan.order_no]
    assert everything["edges"][0]["node"]["score"] == "10.5000" and everything["edges"][0]["node"]["quota"] == "8000.00"
    other = (await api(REPORTS, {"loan": gid("Loan", z_loan.id)}, token))["data"]["riskReports"]
    assert other["totalCount"] == 0
    admin = await api.login(people["admin"].account)
    assert (await api(REPORTS, {"loan": gid("Loan", z_loan.id)}, admin))["data"]["riskReports"]["totalCount"] == 1


async def test_pool_and_scene_pages_cost_the_same_statements_whatever_their_size(
        api: Api, people: dict[str, Any]) -> None:
    from tests.loans.orders_helpers import SqlCounter

    world = await make_review_world()
    _, reviewer = await role_user("rev2", "cr_rev", REVIEWER_NODES, DataPolicy(all=True), "审核乙")
    cases = []
    for _ in range(12):
        loan = await manual_loan(world.product_a, world.channel)
        await cr.open_case(loan)
        cases.append(await cr.pool(reviewer, cr.PoolFilter(order_no=loan.order_no)))
    admin = await api.login(people["admin"].account)
    await cr.assign(reviewer, [c[0].id for c in cases], reviewer.user_id)

    async def statements(first: int) -> int:
        with SqlCounter() as counter:
            body = await api("query($n:Int){creditReviewPool(first:$n){edges{node{orderNo customerName productCode "
                             "assigneeName}}}}", {"n": first}, admin)
        assert len(body["data"]["creditReviewPool"]["edges"]) == first
        return counter.count

    small, large = await statements(2), await statements(12)
    print(f"credit review pool statements per page: 2 cases {small}, 12 cases {large}")
    assert small == large and large <= 12
