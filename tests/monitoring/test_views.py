"""Transaction and violation views (F-MON-5): default 7-day window and reset, filters, totals to date,
per-type amounts, handling a violation, and the data scope on every one of them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from core import clock
from core.errors import ErrorCode, UserError
from core.ledger.models import LedgerTransaction
from core.monitoring import views
from core.monitoring.models import TxDirection, Violation, ViolationKind, ViolationStatus
from core.oplog.models import OperationLog
from schema.relay import gid
from tests.monitoring.factories import (
    World,
    days_ago,
    make_channel,
    make_tx,
    make_violation,
    make_world,
    scoped_user,
)
from tests.support import Api

OUT, IN = TxDirection.OUT, TxDirection.IN


@pytest.fixture
async def two_banks(db: str) -> tuple[World, World]:
    channel = await make_channel()
    return await make_world("ALPHA", channel), await make_world("ZETA", channel)


async def test_transactions_default_to_the_last_7_business_days_and_reset_shows_all(
        two_banks: tuple[World, World]) -> None:
    a, _ = two_banks
    today = await make_tx(a, IN, "100", days_ago(0))
    edge = await make_tx(a, OUT, "10", days_ago(6, hour=0), loan_part="5")  # 00:00 six days ago: inside
    old = await make_tx(a, OUT, "20", days_ago(7, hour=23))  # the day before: outside
    _, admin = await scoped_user("all", None, None)
    ids = set(await views.transactions_query(admin.scope).values_list("id", flat=True))
    assert {today.id, edge.id} <= ids and old.id not in ids
    all_ids = set(await views.transactions_query(admin.scope, views.TransactionFilter(reset=True))
                  .values_list("id", flat=True))
    assert old.id in all_ids
    window = views.TransactionFilter(since=days_ago(8, 0), until=days_ago(7, 0) + timedelta(days=1))
    assert await views.transactions_query(admin.scope, window).values_list("id", flat=True) == [old.id]
    by_dir = views.TransactionFilter(direction=OUT, reset=True)
    assert set(await views.transactions_query(admin.scope, by_dir).values_list("id", flat=True)) == {edge.id, old.id}
    with pytest.raises(UserError) as bad:
        views.transactions_query(admin.scope, views.TransactionFilter(since=days_ago(1), until=days_ago(2)))
    assert bad.value.errors[0].field == "filter.until"


async def test_a_bank_a_user_sees_only_bank_a_transactions_and_violations(two_banks: tuple[World, World]) -> None:
    a, z = two_banks
    ta = await make_tx(a, OUT, "300", days_ago(1), loan_part="100")
    tz = await make_tx(z, OUT, "900", days_ago(1), loan_part="900")
    va = await make_violation(a, ta)
    vz = await make_violation(z, tz)
    _, alpha = await scoped_user("alpha", {a.bank.id}, None)
    assert await views.transactions_query(alpha.scope).values_list("id", flat=True) == [ta.id]
    assert await views.violations_query(alpha.scope).values_list("id", flat=True) == [va.id]
    assert await views.get_violation(alpha.scope, vz.id) is None
    assert set(await views.transactions_by_id(alpha.scope, [ta.id, tz.id])) == {ta.id}
    assert set((await views.fund_parts_by_transaction(alpha.scope, [ta.id, tz.id]))[tz.id]) == set()
    assert set(await views.loans_by_id(alpha.scope, [a.loan.id, z.loan.id])) == {a.loan.id}
    assert (await views.violations_by_transaction(alpha.scope, [tz.id]))[tz.id] == []
    totals = await views.violation_totals(alpha.scope)
    assert (totals.count, totals.amount, totals.loan_amount) == (1, Decimal("300.00"), Decimal("100.00"))
    by_type = await views.amounts_by_type(alpha.scope)
    assert [(t.type_code, t.amount) for t in by_type] == [("GS", Decimal("300.00"))]
    with pytest.raises(UserError) as hidden:
        await views.handle_violation(alpha, vz.id, ViolationStatus.CONFIRMED, None)
    with pytest.raises(UserError) as missing:
        await views.handle_violation(alpha, 987654, ViolationStatus.CONFIRMED, None)
    assert hidden.value.errors == missing.value.errors
    _, admin = await scoped_user("all", None, None)  # positive control
    assert (await views.violation_totals(admin.scope)).count == 2


async def test_violation_window_filters_totals_to_date_and_amounts_per_type(two_banks: tuple[World, World]) -> None:
    a, _ = two_banks
    txs = [await make_tx(a, OUT, amt, days_ago(d), loan_part=lp)
           for amt, lp, d in (("1000.10", "500.05", 0), ("200.20", "200.20", 2), ("333.33", "111.11", 3),
                              ("50.01", "50.01", 9))]
    v = [await make_violation(a, txs[0], code="GS", name="股市", detected=days_ago(0)),
         await make_violation(a, txs[1], code="LS", name="债市", detected=days_ago(2)),
         await make_violation(a, txs[2], code="GS", name="股市", detected=days_ago(3)),
         await make_violation(a, txs[3], code="FC", name="期货", detected=days_ago(9)),
         await make_violation(a, None, code="large_cash", name="大额现金", kind=ViolationKind.AML,
                              amount="60000.00", loan_amount="0.00", detected=days_ago(1),
                              status=ViolationStatus.DISMISSED)]
    _, user = await scoped_user("alpha", {a.bank.id}, None)
    scope = user.scope
    recent = await views.violations_query(scope).values_list("id", flat=True)
    assert set(recent) == {v[0].id, v[1].id, v[2].id, v[4].id}
    assert set(await views.violations_query(scope, views.ViolationFilter(reset=True))
               .values_list("id", flat=True)) == {x.id for x in v}
    assert await views.violations_query(scope, views.ViolationFilter(type_code="GS", reset=True)).count() == 2
    assert await views.violations_query(scope, views.ViolationFilter(kind=ViolationKind.AML)).count() == 1
    assert await views.violations_query(scope, views.ViolationFilter(status=ViolationStatus.DISMISSED)).count() == 1
    assert await views.violations_query(scope, views.ViolationFilter(customer_no="nobody")).count() == 0
    assert await views.violations_query(scope, views.ViolationFilter(order_no=a.loan.order_no)).count() == 4
    # totals to date ignore the window; a dismissed one is counted apart
    t = await views.violation_totals(scope)
    assert (t.count, t.amount, t.loan_amount) == (4, Decimal("1583.64"), Decimal("861.37"))
    assert (t.open_count, t.confirmed_count, t.dismissed_count) == (4, 0, 1)
    # per type of the query's result, grouped in SQL
    rows = await views.amounts_by_type(scope, views.ViolationFilter())
    assert [(r.type_code, r.count, r.amount, r.loan_amount) for r in rows] == [
        ("GS", 2, Decimal("1333.43"), Decimal("611.16")), ("LS", 1, Decimal("200.20"), Decimal("200.20")),
        ("large_cash", 1, Decimal("60000.00"), Decimal("0.00"))]
    rows = await views.amounts_by_type(scope, views.ViolationFilter(reset=True, kind=ViolationKind.DIVERSION))
    assert {r.type_code: r.amount for r in rows} == {"GS": Decimal("1333.43"), "LS": Decimal("200.20"),
                                                     "FC": Decimal("50.01")}


async def test_handling_a_violation_is_once_logged_and_in_the_ledger(two_banks: tuple[World, World],
                                                                     people: dict[str, Any]) -> None:
    a, _ = two_banks
    tx = await make_tx(a, OUT, "800", days_ago(0), loan_part="800")
    v = await make_violation(a, tx)
    _, user = await scoped_user("alpha", {a.bank.id}, {"violations", "violations.handle"})
    with pytest.raises(UserError) as no_reason:
        await views.handle_violation(user, v.id, ViolationStatus.DISMISSED, "  ")
    assert (no_reason.value.errors[0].field, no_reason.value.code) == ("comment", ErrorCode.REQUIRED)
    with pytest.raises(UserError) as long:
        await views.handle_violation(user, v.id, ViolationStatus.CONFIRMED, "x" * 201)
    assert long.value.errors[0].field == "comment"
    done = await views.handle_violation(user, v.id, ViolationStatus.CONFIRMED, "真实炒股", request_id="r1")
    assert done.status is ViolationStatus.CONFIRMED and done.handle_comment == "真实炒股"
    assert done.handled_by_id == user.user_id and done.handled_at is not None  # type: ignore[attr-defined]
    with pytest.raises(UserError) as again:
        await views.handle_violation(user, v.id, ViolationStatus.DISMISSED, "no")
    assert again.value.code is ErrorCode.INVALID_STATE
    log = await OperationLog.get(action="handleViolation")
    assert log.operator_id == user.user_id and log.module == "violations"  # type: ignore[attr-defined]
    assert log.scope_product_id == a.product.id and log.detail["decision"] == "confirmed"
    entry = await LedgerTransaction.get(tx_type="violation.handle")
    assert entry.source_id == str(v.id) and entry.scope_product_id == a.product.id
    assert (await Violation.get(id=v.id)).status is ViolationStatus.CONFIRMED


async def test_two_people_handling_at_once_decide_once(two_banks: tuple[World, World]) -> None:
    import asyncio

    a, _ = two_banks
    v = await make_violation(a, await make_tx(a, OUT, "800", days_ago(0), loan_part="800"))
    _, one = await scoped_user("one", {a.bank.id}, None)
    _, two = await scoped_user("two", {a.bank.id}, None)
    results = await asyncio.gather(views.handle_violation(one, v.id, ViolationStatus.CONFIRMED, "a"),
                                   views.handle_violation(two, v.id, ViolationStatus.DISMISSED, "b"),
                                   return_exceptions=True)
    wins = [r for r in results if isinstance(r, Violation)]
    losses = [r for r in results if isinstance(r, UserError)]
    assert len(wins) == 1 and len(losses) == 1, results
    assert losses[0].code in (ErrorCode.CONFLICT, ErrorCode.INVALID_STATE)
    assert await LedgerTransaction.filter(tx_type="violation.handle").count() == 1


LIST = """query($f: AccountTransactionFilter) { accountTransactions(filter: $f, first: 50) { totalCount edges { node {
  serialNo orderNo customerNo direction amount loanPart ownPart fundStructure fundSource
  fundComponents { source orderNo label amount percent } isViolation violations { typeCode typeName status }
  trace { loanId orderNo customerNo amount status } } } } }"""
VIOLATIONS = """query($f: ViolationFilter) { violations(filter: $f) { totalCount edges { node {
  id typeCode typeName amount loanAmount loanShare status ledgerTxHash customerNo
  transaction { serialNo fundStructure } trace { loanId orderNo } } } }
  violationTotals { count amount loanAmount openCount dismissedCount }
  violationAmountsByType(filter: $f) { typeCode count amount loanAmount } }"""


async def test_over_http_rows_carry_fund_structure_source_and_trace_to_the_loan(
        api: Api, two_banks: tuple[World, World]) -> None:
    a, z = two_banks
    await make_tx(a, IN, "10000", days_ago(2), disbursement=True, balance_after="10000")
    spend = await make_tx(a, OUT, "7000", days_ago(1), loan_part="2100", counterparty="万科地产")
    va = await make_violation(a, spend, code="FDC", name="楼市")
    vz = await make_violation(z, await make_tx(z, OUT, "5000", days_ago(1), loan_part="5000"))
    user, _ = await scoped_user("alpha", {a.bank.id}, {"transactions", "violations"})
    token = await api.login(user.account)
    body = await api(LIST, {"f": {"customerNo": a.customer.customer_no}}, token)
    assert "errors" not in body, body
    conn = body["data"]["accountTransactions"]
    assert conn["totalCount"] == 2
    out, inflow = (e["node"] for e in conn["edges"])  # newest first
    assert out["serialNo"] == spend.serial_no and out["direction"] == "OUT"
    assert out["fundStructure"] == ["30%", "70%"] and out["fundSource"] == ["-2100.00", "-4900.00"]
    assert out["fundComponents"][0] == {"source": "LOAN", "orderNo": a.loan.order_no,
                                        "label": f"贷款 {a.loan.order_no}", "amount": "-2100.00", "percent": "30%"}
    assert out["isViolation"] is True and out["violations"] == [{"typeCode": "FDC", "typeName": "楼市",
                                                                 "status": "OPEN"}]
    assert out["trace"] == {"loanId": gid("Loan", a.loan.id), "orderNo": a.loan.order_no,
                            "customerNo": a.customer.customer_no, "amount": "10000.00", "status": "disbursed"}
    assert inflow["fundStructure"] == ["100%"] and inflow["fundSource"] == ["10000.00"]
    assert inflow["fundComponents"][0]["label"] == "贷款资金" and inflow["isViolation"] is False
    body = await api(VIOLATIONS, {"f": {}}, token)
    data = body["data"]
    node = data["violations"]["edges"][0]["node"]
    assert data["violations"]["totalCount"] == 1 and node["transaction"]["serialNo"] == spend.serial_no
    assert node["trace"] == {"loanId": gid("Loan", a.loan.id), "orderNo": a.loan.order_no}
    assert (node["amount"], node["loanAmount"], node["loanShare"]) == ("7000.00", "2100.00", "0.210000")
    assert data["violationTotals"] == {"count": 1, "amount": "7000.00", "loanAmount": "2100.00", "openCount": 1,
                                       "dismissedCount": 0}
    assert data["violationAmountsByType"] == [{"typeCode": "FDC", "count": 1, "amount": "7000.00",
                                               "loanAmount": "2100.00"}]
    assert "ZETA" not in str(body)
    # a guessed id of the other bank answers like a missing one
    one = "query($id: ID!) { violation(id: $id) { id customerNo } }"
    own = await api(one, {"id": gid("Violation", va.id)}, token)
    assert own["data"]["violation"]["id"] == gid("Violation", va.id)
    assert await api(one, {"id": gid("Violation", vz.id)}, token) == await api(one, {"id": gid("Violation", 987654)},
                                                                                 token)
    assert (await api(one, {"id": gid("Violation", vz.id)}, token))["data"]["violation"] is None


async def test_handle_violation_over_http_needs_the_action(api: Api, two_banks: tuple[World, World]) -> None:
    a, _ = two_banks
    v = await make_violation(a, await make_tx(a, OUT, "800", days_ago(0), loan_part="800"))
    reader, _ = await scoped_user("reader", {a.bank.id}, {"violations"})
    handler, _ = await scoped_user("handler", {a.bank.id}, {"violations", "violations.handle"})
    mutation = """mutation($id: ID!, $d: ViolationDecision!, $c: String) { handleViolation(id: $id, decision: $d,
      comment: $c) { errors { field code message } violation { status handleComment handledAt } } }"""
    args = {"id": gid("Violation", v.id), "d": "DISMISS", "c": "工资代发，非异化"}
    refused = await api(mutation, args, await api.login(reader.account))
    assert refused["data"]["handleViolation"]["errors"][0]["code"] == "FORBIDDEN"
    ok = await api(mutation, args, await api.login(handler.account))
    payload = ok["data"]["handleViolation"]
    assert payload["errors"] == [] and payload["violation"]["status"] == "DISMISSED"
    assert payload["violation"]["handleComment"] == "工资代发，非异化"


async def test_viewer_searches_by_customer_number_are_logged(api: Api, two_banks: tuple[World, World],
                                                             people: dict[str, Any]) -> None:
    a, _ = two_banks
    await make_tx(a, OUT, "800", days_ago(0), loan_part="800")
    viewer, _ = await scoped_user("looker", {a.bank.id}, {"transactions", "violations"})
    maker, _ = await scoped_user("doer", {a.bank.id}, {"transactions", "violations", "products.create"})
    for who in (viewer, maker):
        token = await api.login(who.account)
        body = await api(LIST, {"f": {"customerNo": a.customer.customer_no}}, token)
        assert body["data"]["accountTransactions"]["totalCount"] == 1
        await api(VIOLATIONS, {"f": {"customerNo": a.customer.customer_no}}, token)
        await api(LIST, {"f": {}}, token)  # no customer number: not a search of one customer's data
    logs = await OperationLog.filter(operator_kind="viewer").order_by("id")
    assert [(entry.operator_id, entry.module, entry.action) for entry in logs] == [  # type: ignore[attr-defined]
        (viewer.id, "transactions", "accountTransactions"), (viewer.id, "violations", "violations")]
    assert logs[0].detail["customerNo"] == a.customer.customer_no and logs[0].detail["found"] == 1
    assert logs[0].created_at <= clock.now()


WALK = [
    ("query { accountTransactions(filter: {reset: true}) { edges { node { serialNo counterpartyName "
     "fundComponents { orderNo label } trace { orderNo } violations { typeName } } } } }", {}),
    ("query($c: String!) { fundFlowChain(customerNo: $c) { steps { violationTypes transaction { serialNo } } } }",
     {"c": "ZETAMV001"}),
    ("query { violations(filter: {reset: true}) { edges { node { typeName reason detector handleComment "
     "transaction { serialNo } trace { orderNo } } } } violationTotals { count amount } "
     "violationAmountsByType(filter: {reset: true}) { typeCode typeName amount } }", {}),
    ("query { offsetCoefficients { day divertedToDate disbursedToDate } }", {}),
    ("query { blacklistSettlementQuery { totals { earlySettlements earlySettlementAmount } records { edges { node { "
     "customerNo name earlySettlements { orderNo serialNo } } } } } }", {}),
    ("query($c: String) { blacklistSettlementQuery(customerNo: $c) { records { edges { node { customerNo } } } } }",
     {"c": "ZETAMV001"}),
]


async def test_every_view_over_http_hides_the_other_banks_walk_rows(api: Api, people: dict[str, Any]) -> None:
    from tests.monitoring.views_walk_seed import seed_monitoring_views

    channel = await make_channel()
    a, z = await make_world("ALPHA", channel), await make_world("ZETA", channel)
    seeded = {w.mark: await seed_monitoring_views(w.mark, w.bank, w.product, channel, people) for w in (a, z)}
    assert set(seeded["ZETA"]) == {"AccountTransaction", "Violation", "Loan", "Customer", "Repayment"}
    alpha, _ = await scoped_user("alpha", {a.bank.id}, None)
    admin, _ = await scoped_user("all", None, None)
    alpha_token, admin_token = await api.login(alpha.account), await api.login(admin.account)
    for query, args in WALK:
        mine = await api(query, args, alpha_token)
        assert "errors" not in mine, (query, mine)
        assert "ZETA" not in str(mine), query
        everyone = await api(query, args, admin_token)
        assert "ZETA" in str(everyone) or "offsetCoefficients" in query, query  # positive control
    a_series = (await api(WALK[3][0], {}, alpha_token))["data"]["offsetCoefficients"][-1]
    all_series = (await api(WALK[3][0], {}, admin_token))["data"]["offsetCoefficients"][-1]
    assert a_series["disbursedToDate"] != all_series["disbursedToDate"]  # bank Z's loans count only for admin
    for pk in seeded["ZETA"]["Violation"]:
        body = await api("query($id: ID!) { violation(id: $id) { id } }", {"id": gid("Violation", pk)}, alpha_token)
        assert body["data"]["violation"] is None


async def test_lists_cost_the_same_number_of_statements_for_3_or_12_rows(api: Api, two_banks: tuple[World, World],
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """No N+1: fund parts, traced loans and violations load through per-request dataloaders."""
    from tortoise import connections

    a, _ = two_banks
    user, _ = await scoped_user("alpha", {a.bank.id}, {"transactions", "violations"})
    token = await api.login(user.account)
    client_cls = type(connections.get("default"))
    counted: list[str] = []
    for name in ("execute_query", "execute_query_dict"):
        original = getattr(client_cls, name)

        def wrap(fn: Any) -> Any:
            async def counting(self: Any, query: str, *args: Any, **kw: Any) -> Any:
                counted.append(query)
                return await fn(self, query, *args, **kw)
            return counting
        monkeypatch.setattr(client_cls, name, wrap(original))

    async def statements(query: str) -> int:
        counted.clear()
        body = await api(query, {"f": {}}, token)
        assert "errors" not in body, body
        return len(counted)

    costs: dict[str, list[int]] = {"tx": [], "v": []}
    for n in (3, 9):
        for _ in range(n):
            tx = await make_tx(a, OUT, "100", days_ago(1), loan_part="40")
            await make_violation(a, tx)
        costs["tx"].append(await statements(LIST))
        costs["v"].append(await statements(VIOLATIONS))
    assert costs["tx"][0] == costs["tx"][1] and costs["v"][0] == costs["v"][1], costs
    assert min(costs["tx"] + costs["v"]) >= 4, costs  # the counter sees the statements (auth, page, loaders)


async def test_times_without_offset_are_business_time(api: Api, two_banks: tuple[World, World]) -> None:
    a, _ = two_banks
    tx = await make_tx(a, OUT, "100", days_ago(2, hour=10), loan_part="40")  # 10:00 business time
    user, _ = await scoped_user("alpha", {a.bank.id}, {"transactions"})
    token = await api.login(user.account)
    day = (clock.business_today() - timedelta(days=2)).isoformat()
    query = "query($f: AccountTransactionFilter) { accountTransactions(filter: $f) { edges { node { serialNo } } } }"

    async def serials(since: str) -> list[str]:
        body = await api(query, {"f": {"since": since}}, token)
        return [e["node"]["serialNo"] for e in body["data"]["accountTransactions"]["edges"]]
    assert await serials(f"{day}T09:30:00") == [tx.serial_no]
    assert await serials(f"{day}T10:30:00") == []  # read as UTC, 10:30 would be 18:30 business time: same answer
    assert await serials(f"{day}T01:30:00+00:00") == [tx.serial_no] == await serials(f"{day}T09:30:00+08:00")
    assert await serials(f"{day}T02:30:00+00:00") == []
