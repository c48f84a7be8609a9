"""GraphQL: repayment records, early-settlement quotes, recording, settlement, compensation and the
collection pool — guarded, scoped to the caller's banks in SQL, errors naming their fields."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from core import clock
from core.loans import overdue
from core.loans import repayment as rp
from core.loans.collection_models import CollectionCase
from core.loans.models import LoanStatus, RepaymentSource
from core.oplog.models import OperationLog
from schema.relay import gid
from tests.loans.factories import bank_user, installments, make_loan, make_world

D = Decimal
NODES = {"repayments", "repayments.deduct", "repayments.record", "repayments.settle", "repayments.compensate",
         "collection", "collection.assign", "collection.record", "settlement_query"}

LIST = """query($f: RepaymentFilterInput, $first: Int) { repayments(filter: $f, first: $first) {
  totalCount edges { node { id serialNo orderNo amount principal interest fee penalty kind source deductionChannel
  paidAt businessDate product { code } trafficPlatform { name }
  funderParts { bank { code } principal interest } } } } }"""
RECORD = """mutation($i: RecordRepaymentInput!) { recordRepayment(input: $i) {
  errors { field code message } repayment { serialNo amount kind principal interest } } }"""
QUOTE = """query($l: ID!, $d: Date) { earlySettlementQuote(loanId: $l, date: $d) {
  orderNo total principal interest waivedInterest currentInstallment settledInstallments
  lines { number position } } }"""
SETTLE = """mutation($i: SettleLoanEarlyInput!) { settleLoanEarly(input: $i) {
  errors { field code message } repayment { kind amount } payment { status } } }"""
CASES = """query($f: CollectionCaseFilterInput) { collectionCases(filter: $f, first: 50) {
  totalCount edges { node { id stage orderNo daysPastDue overdueAmount status assignee { account }
  product { code } records { contactResult remark } } } } }"""


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 4, tzinfo=UTC)


async def setup(people):
    alpha = await make_world("ALPHA")
    zeta = await make_world("ZETA")
    a_loan = await make_loan(alpha, mark="ALPHA")
    z_loan = await make_loan(zeta, mark="ZETA")
    for loan, serial in ((a_loan, "ALPHA-S1"), (z_loan, "ZETA-S1")):
        await rp.post_repayment(loan.id, D("300.00"), serial, RepaymentSource.MANUAL, at(date(2026, 2, 10)))
    user = await bank_user("alpha_ops", {alpha.banks[0].id}, NODES)
    return alpha, zeta, a_loan, z_loan, user


async def test_the_list_is_scoped_filtered_and_nested_without_leaks(api, people):
    alpha, _zeta, a_loan, z_loan, user = await setup(people)
    token = await api.login(user.account)
    body = await api(LIST, {"first": 10}, token)
    assert "errors" not in body, body
    conn = body["data"]["repayments"]
    assert conn["totalCount"] == 1
    node = conn["edges"][0]["node"]
    assert node["serialNo"] == "ALPHA-S1" and node["orderNo"] == a_loan.order_no and node["amount"] == "300.00"
    assert node["product"]["code"] == alpha.product.code and node["trafficPlatform"]["name"] == alpha.channel.name
    assert [p["bank"]["code"] for p in node["funderParts"]] == [alpha.banks[0].code]
    assert "ZETA" not in str(body)
    other = await api(LIST, {"f": {"loanId": gid("Loan", z_loan.id)}}, token)
    assert other["data"]["repayments"]["totalCount"] == 0
    admin = await api.login("admin")
    everything = await api(LIST, {"f": {"serialNo": "ZETA-S1"}}, admin)
    assert everything["data"]["repayments"]["totalCount"] == 1
    bad = await api(LIST, {"f": {"dateFrom": "2026-03-01", "dateTo": "2026-02-01"}}, token)
    assert bad["errors"][0]["extensions"]["field"] == "filter.dateTo"


async def test_record_repayment_errors_name_fields_and_scope_refuses(api, people):
    _alpha, _zeta, a_loan, z_loan, user = await setup(people)
    token = await api.login(user.account)
    ok = await api(RECORD, {"i": {"loanId": gid("Loan", a_loan.id), "amount": "120.00", "serialNo": "OFF-1",
                                  "paidAt": at(date(2026, 2, 11)).isoformat()}}, token)
    assert ok["data"]["recordRepayment"]["errors"] == [] and ok["data"]["recordRepayment"]["repayment"]["amount"] \
        == "120.00"
    assert await OperationLog.filter(module="repayments", action="post_manual", operator_id=user.id).exists()
    cases = [({"amount": "1.005", "serialNo": "X"}, "amount"), ({"amount": "0", "serialNo": "X"}, "amount"),
             ({"amount": "1.00", "serialNo": ""}, "serialNo")]
    for values, field in cases:
        r = await api(RECORD, {"i": {"loanId": gid("Loan", a_loan.id), **values}}, token)
        assert r["data"]["recordRepayment"]["errors"][0]["field"] == field
    hidden = await api(RECORD, {"i": {"loanId": gid("Loan", z_loan.id), "amount": "1.00", "serialNo": "Z"}}, token)
    assert hidden["data"]["recordRepayment"]["errors"][0]["code"] == "NOT_FOUND"
    future = await api(RECORD, {"i": {"loanId": gid("Loan", a_loan.id), "amount": "1.00", "serialNo": "F",
                                      "paidAt": (clock.now() + timedelta(days=2)).isoformat()}}, token)
    assert future["data"]["recordRepayment"]["errors"][0]["field"] == "paidAt"
    viewer = await api.login("viewer1")
    refused = await api(RECORD, {"i": {"loanId": gid("Loan", a_loan.id), "amount": "1.00", "serialNo": "V"}}, viewer)
    assert refused["data"]["recordRepayment"]["errors"][0]["code"] == "FORBIDDEN"


async def test_quote_then_settle_early_through_the_api(api, people):
    _alpha, _zeta, a_loan, z_loan, user = await setup(people)
    token = await api.login(user.account)
    day = date(2026, 3, 1)
    clock.travel(at(day) - clock.now())
    q = await api(QUOTE, {"l": gid("Loan", a_loan.id), "d": day.isoformat()}, token)
    quote = q["data"]["earlySettlementQuote"]
    assert quote["orderNo"] == a_loan.order_no and quote["currentInstallment"] == 2
    assert quote["settledInstallments"] == list(range(2, 13))
    assert D(quote["total"]) == D(quote["principal"]) + D(quote["interest"])
    hidden = await api(QUOTE, {"l": gid("Loan", z_loan.id)}, token)
    assert hidden["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    missing = await api(SETTLE, {"i": {"loanId": gid("Loan", a_loan.id)}}, token)
    assert missing["data"]["settleLoanEarly"]["errors"][0]["field"] == "amount"
    short = await api(SETTLE, {"i": {"loanId": gid("Loan", a_loan.id), "amount": str(D(quote["total"]) - D("1")),
                                     "serialNo": "ES-1", "paidAt": at(day).isoformat()}}, token)
    assert short["data"]["settleLoanEarly"]["errors"][0]["field"] == "amount"
    done = await api(SETTLE, {"i": {"loanId": gid("Loan", a_loan.id), "amount": quote["total"], "serialNo": "ES-1",
                                    "paidAt": at(day).isoformat()}}, token)
    assert done["data"]["settleLoanEarly"]["errors"] == [], done
    assert done["data"]["settleLoanEarly"]["repayment"]["kind"] == "EARLY_SETTLEMENT"
    await a_loan.refresh_from_db()
    assert a_loan.status is LoanStatus.SETTLED


async def test_collection_pool_assign_record_stats_and_compensate(api, people):
    _alpha, _zeta, a_loan, z_loan, user = await setup(people)
    first = (await installments(a_loan))[0]
    day = first.due_date + timedelta(days=5)
    clock.travel(at(day) - clock.now())
    await overdue.run_overdue(day)
    token = await api.login(user.account)
    body = await api(CASES, {}, token)
    assert "errors" not in body, body
    edges = body["data"]["collectionCases"]["edges"]
    assert [e["node"]["orderNo"] for e in edges] == [a_loan.order_no]
    case = edges[0]["node"]
    assert case["stage"] == "M1" and case["daysPastDue"] == 5 and case["assignee"] is None
    z_case = await CollectionCase.get(loan_id=z_loan.id)
    assign = """mutation($c: [ID!]!, $a: ID) { assignCollectionCases(caseIds: $c, assigneeId: $a) {
      errors { field code } cases { assignee { account } } } }"""
    refused = await api(assign, {"c": [case["id"], gid("CollectionCase", z_case.id)], "a": gid("User", user.id)},
                        token)
    assert refused["data"]["assignCollectionCases"]["errors"][0] == {"field": "caseIds[1]", "code": "NOT_FOUND"}
    ok = await api(assign, {"c": [case["id"]], "a": gid("User", user.id)}, token)
    assert ok["data"]["assignCollectionCases"]["cases"][0]["assignee"]["account"] == user.account
    mine = await api(CASES, {"f": {"mine": True}}, token)
    assert mine["data"]["collectionCases"]["totalCount"] == 1
    add = """mutation($i: CollectionRecordInput!) { addCollectionRecord(input: $i) { errors { field code }
      record { contactResult promiseAmount } } }"""
    promise = (day + timedelta(days=3)).isoformat()
    bad = await api(add, {"i": {"caseId": case["id"], "contactResult": "PROMISED"}}, token)
    assert bad["data"]["addCollectionRecord"]["errors"][0]["field"] == "promiseAmount"
    good = await api(add, {"i": {"caseId": case["id"], "contactResult": "PROMISED", "promiseAmount": "500.00",
                                 "promiseDate": promise, "remark": "will pay Friday"}}, token)
    assert good["data"]["addCollectionRecord"]["errors"] == []
    again = await api(CASES, {}, token)
    assert again["data"]["collectionCases"]["edges"][0]["node"]["records"][0]["remark"] == "will pay Friday"
    # a stage move unassigns the case
    later = first.due_date + timedelta(days=31)
    await overdue.run_overdue(later)
    moved = await api(CASES, {}, token)
    node = moved["data"]["collectionCases"]["edges"][0]["node"]
    assert node["stage"] == "M2" and node["assignee"] is None
    # recovery and stats
    owed = sum((rp.owed(i) for i in await installments(a_loan) if i.due_date <= later), D(0))
    await rp.post_repayment(a_loan.id, owed, "RECOVER-1", RepaymentSource.MANUAL, at(later))
    pool = await api(CASES, {}, token)
    assert pool["data"]["collectionCases"]["totalCount"] == 0  # paid: left the pool
    stats = await api("""query($a: Date!, $b: Date!) { collectionStats(dateFrom: $a, dateTo: $b) {
      stage casesEntered overdueAmount recoveredAmount rate } }""",
                      {"a": first.due_date.isoformat(), "b": later.isoformat()}, token)
    rows = {r["stage"]: r for r in stats["data"]["collectionStats"]}
    assert rows["M2"]["casesEntered"] == 1 and D(rows["M2"]["recoveredAmount"]) == owed
    assert D(rows["M2"]["rate"]) == (owed / D(rows["M2"]["overdueAmount"])).quantize(D("0.0001"))
    assert "ZETA" not in str(stats)
    comp = """mutation($l: ID!) { compensateLoan(loanId: $l) { errors { field code message } repayment { source } } }"""
    no_guarantor = await api(comp, {"l": gid("Loan", a_loan.id)}, token)
    assert no_guarantor["data"]["compensateLoan"]["errors"][0]["code"] == "INVALID_STATE"


PLANS = """query($f: RepaymentPlanFilterInput, $first: Int) { repaymentPlans(filter: $f, first: $first) {
  totalCount edges { node { orderNo channelOrderNo number dueDate principal interest paidPrincipal paidInterest
  status settled disbursementDate maturityDate product { code } } } } }"""


async def test_the_bank_repayment_plan_is_scoped_and_filtered(api, people):
    alpha, _zeta, a_loan, z_loan, user = await setup(people)
    token = await api.login(user.account)
    body = await api(PLANS, {"first": 50}, token)
    assert "errors" not in body, body
    plan = body["data"]["repaymentPlans"]
    assert plan["totalCount"] == 12 and {n["node"]["orderNo"] for n in plan["edges"]} == {a_loan.order_no}
    assert "ZETA" not in str(body)
    first = next(e["node"] for e in plan["edges"] if e["node"]["number"] == 1)
    assert first["status"] == "PARTIAL" and not first["settled"]
    assert D(first["paidPrincipal"]) + D(first["paidInterest"]) == D("300.00")
    assert first["product"]["code"] == alpha.product.code and first["channelOrderNo"] == a_loan.channel_order_no
    rows = await installments(a_loan)
    due = await api(PLANS, {"f": {"dueFrom": rows[2].due_date.isoformat(), "dueTo": rows[3].due_date.isoformat()}},
                    token)
    assert sorted(e["node"]["number"] for e in due["data"]["repaymentPlans"]["edges"]) == [3, 4]
    partial = await api(PLANS, {"f": {"statuses": ["PARTIAL"]}}, token)
    assert [e["node"]["number"] for e in partial["data"]["repaymentPlans"]["edges"]] == [1]
    hidden = await api(PLANS, {"f": {"orderNo": z_loan.order_no}}, token)
    assert hidden["data"]["repaymentPlans"]["totalCount"] == 0
    # early settlement: the settling installment and every later one show as settled
    day = date(2026, 3, 1)
    _loan, quote = await rp.quote_early_settlement(rp.EVERYTHING, a_loan.id, day)
    await rp.post_repayment(a_loan.id, quote.total, "PLAN-ES", RepaymentSource.MANUAL, at(day),
                            mode=rp.Mode.EARLY_SETTLEMENT)
    after = await api(PLANS, {"f": {"orderNo": a_loan.order_no}, "first": 50}, token)
    nodes = {e["node"]["number"]: e["node"] for e in after["data"]["repaymentPlans"]["edges"]}
    assert all(nodes[n]["settled"] for n in range(1, 13))
    assert {nodes[n]["status"] for n in range(quote.current_installment, 13)} == {"SETTLED_EARLY"}
    bad = await api(PLANS, {"f": {"maturityFrom": "2027-02-01", "maturityTo": "2027-01-01"}}, token)
    assert bad["errors"][0]["extensions"]["field"] == "filter.maturityTo"
