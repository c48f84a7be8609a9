"""The fund-flow chain of a customer (资金流水链, F-MON-5): starts at the disbursement, in time order, with
running balance and loan/own composition, step kinds as seed 000's diagram shows them, and scope."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.errors import ErrorCode, UserError
from core.monitoring import views
from core.monitoring.models import TxDirection, ViolationStatus
from core.oplog.models import OperationLog
from tests.monitoring.factories import (
    World,
    days_ago,
    make_channel,
    make_customer,
    make_loan,
    make_tx,
    make_violation,
    make_world,
    scoped_user,
)
from tests.support import Api

OUT, IN = TxDirection.OUT, TxDirection.IN


@pytest.fixture
async def story(db: str) -> dict[str, object]:
    """Seed 000's diagram: loan money arrives, the borrower adds own money, pays a developer and a café."""
    channel = await make_channel()
    a, z = await make_world("ALPHA", channel), await make_world("ZETA", channel)
    txs = {
        "before": await make_tx(a, IN, "500", days_ago(8), balance_after="500"),
        "loan": await make_tx(a, IN, "10000", days_ago(5), disbursement=True, balance_after="10500",
                              counterparty="e网贷"),
        "own": await make_tx(a, IN, "10000", days_ago(4), counterparty="张三"),
        "house": await make_tx(a, OUT, "2000", days_ago(3, 10), loan_part="1000", counterparty="万科地产"),
        "coffee": await make_tx(a, OUT, "20", days_ago(3, 15), loan_part="10", counterparty="星巴克"),
        "repay": await make_tx(a, OUT, "500", days_ago(2), loan_part="250", repayment=True),
        "untraced": await make_tx(a, OUT, "30", days_ago(1)),
    }
    await make_violation(a, txs["house"], code="FDC", name="楼市")
    await make_violation(a, txs["coffee"], code="GS", name="股市", status=ViolationStatus.DISMISSED)
    other = await make_customer("ALPHA")
    other_loan = await make_loan("ALPHA", a.product, channel, other)
    await make_tx(a, IN, "999", days_ago(3), customer=other, loan=other_loan, disbursement=True)
    await make_tx(z, IN, "7777", days_ago(3), disbursement=True)
    return {"a": a, "z": z, "txs": txs}


def _steps(chain: views.FundFlowChain) -> list[tuple[str, str, str, str, str, str]]:
    return [(s.transaction.serial_no, s.kind, str(s.signed_amount), str(s.balance), str(s.loan_balance),
             str(s.own_balance)) for s in chain.steps]


async def test_the_chain_starts_at_the_disbursement_and_keeps_running_balances(story: dict[str, object]) -> None:
    a: World = story["a"]  # type: ignore[assignment]
    txs = story["txs"]
    _, user = await scoped_user("alpha", {a.bank.id}, None)
    chain = await views.fund_flow_chain(user.scope, a.customer.customer_no, since=days_ago(4, 0))
    s = {k: v.serial_no for k, v in txs.items()}  # type: ignore[attr-defined]
    assert chain.started_at_disbursement and chain.opening_balance == Decimal("500.00")
    assert _steps(chain) == [
        (s["loan"], "loan_funds", "10000.00", "10500.00", "10000.00", "500.00"),
        (s["own"], "incoming", "10000.00", "20500.00", "10000.00", "10500.00"),
        (s["house"], "diverted", "-2000.00", "18500.00", "9000.00", "9500.00"),
        (s["coffee"], "spending", "-20.00", "18480.00", "8990.00", "9490.00"),  # its violation was dismissed
        (s["repay"], "repayment", "-500.00", "17980.00", "8740.00", "9240.00"),
        (s["untraced"], "spending", "-30.00", "17950.00", "8740.00", "9210.00"),
    ]
    house = chain.steps[2]
    assert (house.loan_part, house.own_part, house.violation_types) == (Decimal("1000.00"), Decimal("1000.00"),
                                                                        ("楼市",))
    assert chain.steps[-1].traced is False and chain.steps[2].traced is True
    # own balance above counts the opening 500 as own money; without `since` the chain starts the same way
    whole = await views.fund_flow_chain(user.scope, a.customer.customer_no)
    assert [x.transaction.serial_no for x in whole.steps] == [x.transaction.serial_no for x in chain.steps]
    until = await views.fund_flow_chain(user.scope, a.customer.customer_no, since=days_ago(4, 0),
                                        until=days_ago(3, 0))
    assert [x.kind for x in until.steps] == ["loan_funds", "incoming"]


async def test_the_chain_applies_scope_and_validates_its_input(story: dict[str, object],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    a: World = story["a"]  # type: ignore[assignment]
    z: World = story["z"]  # type: ignore[assignment]
    _, user = await scoped_user("alpha", {a.bank.id}, None)
    hidden = await views.fund_flow_chain(user.scope, z.customer.customer_no)
    missing = await views.fund_flow_chain(user.scope, "NO-SUCH-CUSTOMER")
    assert hidden.steps == missing.steps == [] and hidden.opening_balance == missing.opening_balance
    _, admin = await scoped_user("all", None, None)
    assert len((await views.fund_flow_chain(admin.scope, z.customer.customer_no)).steps) == 1  # positive control
    with pytest.raises(UserError) as empty:
        await views.fund_flow_chain(user.scope, "  ")
    assert (empty.value.errors[0].field, empty.value.code) == ("customerNo", ErrorCode.REQUIRED)
    with pytest.raises(UserError) as order:
        await views.fund_flow_chain(user.scope, a.customer.customer_no, since=days_ago(1), until=days_ago(2))
    assert order.value.errors[0].field == "to"
    monkeypatch.setattr(views, "MAX_CHAIN_ROWS", 3)
    with pytest.raises(UserError) as long:
        await views.fund_flow_chain(user.scope, a.customer.customer_no)
    assert long.value.code is ErrorCode.OUT_OF_RANGE


CHAIN = """query($c: String!, $from: DateTime) { fundFlowChain(customerNo: $c, from: $from) {
  customerNo startsAtDisbursement openingBalance steps { kind amount balance loanBalance ownBalance loanPart
  violationTypes transaction { serialNo counterpartyName fundStructure } } } }"""


async def test_the_chain_over_http_and_a_viewer_search_is_logged(api: Api, story: dict[str, object]) -> None:
    a: World = story["a"]  # type: ignore[assignment]
    viewer, _ = await scoped_user("looker", {a.bank.id}, {"transactions"})
    token = await api.login(viewer.account)
    body = await api(CHAIN, {"c": a.customer.customer_no, "from": days_ago(4, 0).isoformat()}, token)
    assert "errors" not in body, body
    chain = body["data"]["fundFlowChain"]
    assert chain["startsAtDisbursement"] is True and chain["openingBalance"] == "500.00"
    assert [s["kind"] for s in chain["steps"]] == ["loan_funds", "incoming", "diverted", "spending", "repayment",
                                                   "spending"]
    house = chain["steps"][2]
    assert house["transaction"]["counterpartyName"] == "万科地产" and house["violationTypes"] == ["楼市"]
    assert house["transaction"]["fundStructure"] == ["50%", "50%"] and house["amount"] == "-2000.00"
    log = await OperationLog.get(action="fundFlowChain")
    assert log.operator_id == viewer.id and log.operator_kind.value == "viewer"  # type: ignore[attr-defined]
    assert log.detail["customerNo"] == a.customer.customer_no and log.detail["found"] == 6
    refused = await api(CHAIN, {"c": ""}, token)
    assert refused["errors"][0]["extensions"]["code"] == "REQUIRED"
