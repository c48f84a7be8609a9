"""Loan orders over GraphQL: admission, cancel, masking, data scope, constant SQL per page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from core.loans.admission import submit_application
from core.loans.models import Customer, Loan, LoanStatus
from core.oplog.models import OperationLog
from core.orgs.models import AssistInstitution, Bank
from core.products.models import Product
from schema.relay import gid
from tests.loans.orders_helpers import (
    SqlCounter,
    actor_for,
    add_schedule,
    application,
    id_number,
    make_bank,
    make_channel,
    make_product,
    scoped_user,
)
from tests.support import Api

SUBMIT = """mutation($input: LoanApplicationInput!) { submitLoanApplication(input: $input) {
  errors { field code message }
  loan { id orderNo channelOrderNo status amount term termUnit repaymentMethod rejectReason
         customer { customerNo name idNumber phone masked }
         product { code } channel { number }
         funders { bank { code } share amount position }
         events { fromStatus toStatus actorLabel } } } }"""

PAGE = """query($first: Int, $filter: LoanFilterInput) { loans(first: $first, filter: $filter) { totalCount
  edges { node { id orderNo status amount customer { name idNumber phone masked } product { id code name }
                 channel { name } funders { bank { id code shortName } share amount }
                 installments { number dueDate principal interest status }
                 events { toStatus } repayments { serialNo } payments { status } } } } }"""


@dataclass
class World:
    a: Bank
    b: Bank
    x: AssistInstitution
    pa: Product
    pb: Product


@pytest.fixture
async def world(people: dict[str, Any]) -> World:
    a, b = await make_bank("GA", "ALPHA"), await make_bank("GB", "ZETA")
    x = await make_channel("GX")
    pa = await make_product("GPA", [(a, "100")], [x], name="ALPHA贷")
    pb = await make_product("GPB", [(b, "100")], [x], name="ZETA贷")
    return World(a, b, x, pa, pb)


def app_input(product: Product, channel: AssistInstitution, **over: Any) -> dict[str, Any]:
    n = over.pop("n", 1)
    base = {"idempotencyKey": f"api-{n}", "channelId": gid("AssistInstitution", channel.id),
            "channelOrderNo": f"API-{n}", "productId": gid("Product", product.id), "name": "张小三",
            "idNumber": id_number(300 + n), "phone": "13812345678", "amount": "20000.00", "term": 12,
            "termUnit": "MONTH"}
    return base | over


async def submit(api: Api, token: str, data: dict[str, Any]) -> dict[str, Any]:
    body = await api(SUBMIT, {"input": data}, token)
    assert "errors" not in body, body
    return body["data"]["submitLoanApplication"]


async def test_submit_repeat_and_refusals_over_graphql(api: Api, world: World) -> None:
    token = await api.login("admin")
    data = app_input(world.pa, world.x)
    first = await submit(api, token, data)
    assert first["errors"] == []
    loan = first["loan"]
    assert (loan["status"], loan["amount"], loan["termUnit"], loan["repaymentMethod"]) == (
        "APPROVED", "20000.00", "MONTH", "EQUAL_INSTALLMENT")
    assert loan["product"] == {"code": "GPA"} and loan["channel"] == {"number": "GX"}
    assert loan["funders"] == [{"bank": {"code": "GA"}, "share": "100.0000", "amount": "20000.00", "position": 0}]
    assert [(e["fromStatus"], e["toStatus"]) for e in loan["events"]] == [(None, "APPLIED"), ("APPLIED", "APPROVED")]
    assert loan["customer"]["idNumber"] == id_number(301) and loan["customer"]["masked"] is False  # admin
    again = await submit(api, token, data)
    assert again["loan"]["id"] == loan["id"]
    conflict = await submit(api, token, data | {"amount": "20000.01"})
    assert conflict["loan"] is None
    assert [(e["field"], e["code"]) for e in conflict["errors"]] == [("idempotencyKey", "CONFLICT")]
    bad = await submit(api, token, app_input(world.pa, world.x, n=2, amount="5", term=99, idNumber="123"))
    assert {(e["field"], e["code"]) for e in bad["errors"]} == {("idNumber", "INVALID")}
    bad = await submit(api, token, app_input(world.pa, world.x, n=2, amount="5", term=99))
    assert {(e["field"], e["code"]) for e in bad["errors"]} == {("amount", "OUT_OF_RANGE"), ("term", "OUT_OF_RANGE")}
    # the refusal log never keeps the applicant's identity in clear
    refusal = await OperationLog.filter(outcome="refused", action="submitLoanApplication").first()
    assert refusal is not None and id_number(302) not in str(refusal.detail)


async def test_permissions_to_apply_and_cancel(api: Api, world: World) -> None:
    await scoped_user("reader", "reader_role", [world.a], {"loan_orders"})
    await scoped_user("platform", "platform_role", [world.a], {"loan_orders", "loans.apply"})
    reader, platform = await api.login("reader"), await api.login("platform")
    refused = await submit(api, reader, app_input(world.pa, world.x))
    assert refused["errors"][0]["code"] == "FORBIDDEN" and await Loan.all().count() == 0
    made = await submit(api, platform, app_input(world.pa, world.x))
    loan_id = made["loan"]["id"]
    cancel = """mutation($id: ID!, $r: String!) { cancelLoan(id: $id, reason: $r) {
        errors { field code } loan { status } } }"""
    body = await api(cancel, {"id": loan_id, "r": "客户撤回"}, platform)
    assert body["data"]["cancelLoan"]["errors"][0]["code"] == "FORBIDDEN"
    admin = await api.login("admin")
    body = await api(cancel, {"id": loan_id, "r": "客户撤回"}, admin)
    assert body["data"]["cancelLoan"] == {"errors": [], "loan": {"status": "CANCELLED"}}
    body = await api(cancel, {"id": loan_id, "r": "again"}, admin)
    assert body["data"]["cancelLoan"]["errors"] == [{"field": "status", "code": "INVALID_STATE"}]


async def test_identity_is_masked_without_the_right_and_clear_views_are_logged(api: Api, world: World) -> None:
    admin = await actor_for("admin")
    loan = await submit_application(admin, application(world.pa, world.x, name="欧阳小明",
                                                       id_number=id_number(401), phone="13987654321"))
    await scoped_user("masked", "masked_role", [world.a], {"loan_orders"})
    await scoped_user("clear", "clear_role", [world.a], {"loan_orders", "loans.view_identity"})
    q = "query($id: ID!) { loan(id: $id) { customer { customerNo name idNumber phone masked } } }"
    body = await api(q, {"id": gid("Loan", loan.id)}, await api.login("masked"))
    number = id_number(401)
    assert body["data"]["loan"]["customer"] | {"customerNo": None} == {
        "customerNo": None, "name": "欧**明", "idNumber": number[:6] + "********" + number[-4:],
        "phone": "139****4321", "masked": True}
    assert not await OperationLog.filter(action="view_identity").exists()
    body = await api(q, {"id": gid("Loan", loan.id)}, await api.login("clear"))
    assert body["data"]["loan"]["customer"]["idNumber"] == number
    assert body["data"]["loan"]["customer"]["masked"] is False
    entry = await OperationLog.get(action="view_identity")
    customer = await Customer.get(id=loan.customer_id)  # type: ignore[attr-defined]
    assert entry.operator_kind == "viewer" and entry.scope_product_id == world.pa.id
    assert entry.detail["customerNos"] == [customer.customer_no]
    # a list of many orders logs one entry per product, not one per order
    for _ in range(3):
        await submit_application(admin, application(world.pa, world.x))
    body = await api(PAGE, {"first": 10}, await api.login("clear"))
    assert body["data"]["loans"]["totalCount"] == 4
    assert await OperationLog.filter(action="view_identity").count() == 2
    # searching by an identifier is a read of customer data too, logged with the value masked
    body = await api(PAGE, {"filter": {"idNumber": number}}, await api.login("masked"))
    assert body["data"]["loans"]["totalCount"] == 1
    search = await OperationLog.get(action="search_customer")
    assert number not in str(search.detail) and search.detail["idNumber"].endswith(number[-4:])


async def test_a_user_of_bank_a_sees_nothing_of_bank_b(api: Api, world: World) -> None:
    admin = await actor_for("admin")
    mine = await submit_application(admin, application(world.pa, world.x, name="甲客户"))
    theirs = await submit_application(admin, application(world.pb, world.x, name="乙客户"))
    await scoped_user("alpha", "alpha_role", [world.a])
    token = await api.login("alpha")
    body = await api(PAGE, {"first": 50}, token)
    text = str(body)
    assert body["data"]["loans"]["totalCount"] == 1 and "ZETA" not in text and theirs.order_no not in text
    assert [e["node"]["orderNo"] for e in body["data"]["loans"]["edges"]] == [mine.order_no]
    for flt in ({"bankId": gid("Bank", world.b.id)}, {"productId": gid("Product", world.pb.id)},
                {"orderNo": theirs.order_no}, {"name": "乙客户"}):
        body = await api(PAGE, {"filter": flt}, token)
        assert body["data"]["loans"] == {"totalCount": 0, "edges": []}, flt
    single = "query($id: ID!) { loan(id: $id) { orderNo } }"
    assert (await api(single, {"id": gid("Loan", theirs.id)}, token)) == {"data": {"loan": None}}
    assert (await api(single, {"id": gid("Loan", 987654)}, token)) == {"data": {"loan": None}}
    by_no = "query($n: String!) { loanByOrderNo(orderNo: $n) { orderNo } }"
    assert (await api(by_no, {"n": theirs.order_no}, token)) == {"data": {"loanByOrderNo": None}}
    assert (await api(by_no, {"n": mine.order_no}, token))["data"]["loanByOrderNo"] == {"orderNo": mine.order_no}
    # control: admin sees both
    assert (await api(PAGE, {"first": 50}, await api.login("admin")))["data"]["loans"]["totalCount"] == 2


async def test_a_page_costs_the_same_sql_for_2_or_12_loans(api: Api, world: World) -> None:
    admin = await actor_for("admin")
    joint = await make_product("GJ", [(world.a, "50"), (world.b, "50")], [world.x])
    token = await api.login("admin")

    async def statements(first: int) -> int:
        with SqlCounter() as counter:
            body = await api(PAGE, {"first": first}, token)
        edges = body["data"]["loans"]["edges"]
        assert len(edges) == first and all(len(e["node"]["installments"]) == 36 for e in edges)
        assert all(len(e["node"]["funders"]) == 2 for e in edges)
        first_row = edges[-1]["node"]["installments"][0]
        assert first_row | {"dueDate": None} == {"number": 1, "dueDate": None, "principal": "100.00",
                                                 "interest": "3.21", "status": "PENDING"}
        return counter.count

    ids = [(await submit_application(admin, application(joint, world.x))).id for _ in range(12)]
    await add_schedule(ids)
    small, large = await statements(2), await statements(12)
    print(f"statements per page: 2 loans {small}, 12 loans {large}")
    assert small == large, (small, large)
    assert large < 25
    assert (await Loan.filter(status=LoanStatus.APPROVED).count()) == 12


async def test_the_walk_seed_of_another_bank_never_shows_through_any_loan_field(api: Api, world: World,
                                                                                people: dict[str, Any]) -> None:
    from tests.loans.walk_seed import seed_loans

    ours = await seed_loans("ALPHA", world.a, world.pa, world.x, people)
    theirs = await seed_loans("ZETA", world.b, world.pb, world.x, people)
    await scoped_user("alpha", "alpha_role", [world.a], None)  # every page incl. view_identity
    token = await api.login("alpha")
    body = await api(PAGE, {"first": 50}, token)
    text = str(body)
    assert "ALPHA" in text and "ZETA" not in text
    assert body["data"]["loans"]["totalCount"] == 1
    node = body["data"]["loans"]["edges"][0]["node"]
    assert node["repayments"] == [{"serialNo": "ALPHA-RP1"}] and node["payments"] == [{"status": "SUCCEEDED"}]
    assert node["customer"]["name"] == "ALPHA客户"  # clear: the role holds loans.view_identity
    single = "query($id: ID!) { loan(id: $id) { orderNo events { reason } } }"
    assert (await api(single, {"id": gid("Loan", theirs["Loan"][0])}, token)) == {"data": {"loan": None}}
    mine = await api(single, {"id": gid("Loan", ours["Loan"][0])}, token)
    assert mine["data"]["loan"]["events"] == [{"reason": "ALPHA disbursed"}]
    admin = await api(PAGE, {"first": 50}, await api.login("admin"))
    assert "ZETA" in str(admin)  # control: the seed is visible to someone
