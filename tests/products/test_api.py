"""Products, funding plans and LPR over GraphQL, as a bank's SPA calls them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from core import clock
from core.accounts.models import Role
from core.actor import Actor
from core.products.models import Product
from permissions import policy
from permissions.policy import policy_store
from permissions.scope import DataPolicy
from schema.relay import gid
from tests.products.helpers import Orgs, create_product, joint_funders, product_data, set_data
from tests.support import Api, make_user

CREATE = """mutation($i:ProductInput!,$c:ID!){createProduct(input:$i,checkerId:$c){
  change{id status entityLabel payload} errors{field code message}}}"""
UPDATE = """mutation($id:ID!,$i:ProductInput!,$c:ID!){updateProduct(id:$id,input:$i,checkerId:$c){
  change{id status payload} errors{field code message}}}"""
DELETE = "mutation($id:ID!,$c:ID!){deleteProduct(id:$id,checkerId:$c){change{id} errors{field code}}}"
APPROVE = "mutation($id:ID!){approveChange(id:$id,comment:\"ok\"){change{status entityId} errors{field code}}}"
PRODUCT = """query($id:ID!){product(id:$id){code name businessMode type repaymentMethod amountMin amountMax termUnit
  spreadBp lprTerm enhancementInstitutionId version lastAction penaltyDailyRate penaltyBase
  funders{bankId bankCode bankShortName share} channels{institutionId name number}
  fundingPlans{bankId status maxOrders maxAmount effectiveFrom channelLimits{channelId maxOrders maxAmount}}}}"""
PRODUCTS = "query($f:ProductFilter){products(filter:$f){totalCount edges{node{code funders{bankCode}}}}}"
SAVE_PLAN = """mutation($i:FundingPlanInput!,$now:Boolean!){saveFundingPlan(input:$i,effectiveNow:$now){
  plan{id status effectiveFrom maxAmount} errors{field code message}}}"""
QUOTA = """query($p:ID!,$c:ID!){remainingQuota(productId:$p,channelId:$c){ordersLeft amountLeft
  funders{bankId ordersLeft amountLeft planId}}}"""
PRODUCT_NODES = {"products", "products.create", "products.update", "products.delete", "funding_plans",
                 "funding_plans.save", "funding_plans.activate", "lpr", "lpr.save"}


def gql_input(orgs: Orgs, **over: Any) -> dict[str, Any]:
    """`product_data` in the GraphQL shape: enum names and global ids."""
    data = product_data(orgs, **over)
    data = data | {k: data[k].upper() for k in ("businessMode", "type", "termUnit", "paymentType")}
    data["funders"] = [{"bankId": gid("Bank", f["bankId"]), "share": f.get("share")} for f in data["funders"]]
    data["channelIds"] = [gid("AssistInstitution", c) for c in data["channelIds"]]
    return data


@pytest.fixture
async def tokens(api: Api, people: dict[str, Any], staff: dict[str, Actor]) -> dict[str, str]:
    async with in_transaction():
        await policy.set_role_pages("maker", policy_store().role_nodes("maker") | PRODUCT_NODES)
        viewer = policy_store().role_nodes("viewer") | {"products", "funding_plans", "lpr"}
        await policy.set_role_pages("viewer", viewer)
    await set_data("viewer", DataPolicy(all=True))
    return {k: await api.login(u.account) for k, u in people.items()}


async def test_a_product_goes_through_review_and_reads_back_whole(api: Api, orgs: Orgs, people: dict[str, Any],
                                                                  tokens: dict[str, str]) -> None:
    checker = gid("User", people["checker"].id)
    data = gql_input(orgs, businessMode="joint", funders=joint_funders(orgs), channelIds=[orgs.x.id, orgs.y.id],
                     enhancementInstitutionId=gid("EnhancementInstitution", orgs.enhancer.id))
    out = (await api(CREATE, {"i": data, "c": checker}, tokens["maker"]))["data"]["createProduct"]
    assert out["errors"] == [] and out["change"]["status"] == "PENDING"
    assert out["change"]["entityLabel"] == "P001 安心贷"
    own = (await api(APPROVE, {"id": out["change"]["id"]}, tokens["maker"]))["data"]["approveChange"]
    assert own["errors"][0]["code"] in {"SELF_REVIEW", "FORBIDDEN"}
    done = (await api(APPROVE, {"id": out["change"]["id"]}, tokens["checker"]))["data"]["approveChange"]
    assert done["errors"] == [] and done["change"]["status"] == "APPROVED"
    pid = gid("Product", done["change"]["entityId"])
    product = (await api(PRODUCT, {"id": pid}, tokens["viewer"]))["data"]["product"]
    assert product["businessMode"] == "JOINT" and product["repaymentMethod"] == "EQUAL_INSTALLMENT"
    assert (product["amountMin"], product["spreadBp"], product["lprTerm"]) == ("1000.00", 150, "ONE_YEAR")
    assert [(f["bankCode"], f["share"]) for f in product["funders"]] == [("BKA", "70.0000"), ("BKC", "30.0000")]
    assert [c["number"] for c in product["channels"]] == ["X001", "Y001"]
    assert product["fundingPlans"] == []
    assert (product["penaltyDailyRate"], product["penaltyBase"]) == (None, None)  # the platform default
    # an edit: omitted fields keep their value, null clears the enhancement institution
    upd = (await api(UPDATE, {"id": pid, "i": {"name": "安心贷二", "enhancementInstitutionId": None,
                                               "penaltyDailyRate": "0.0007", "penaltyBase": "PRINCIPAL_AND_INTEREST"},
                              "c": checker}, tokens["maker"]))["data"]["updateProduct"]
    assert upd["errors"] == []
    await api(APPROVE, {"id": upd["change"]["id"]}, tokens["checker"])
    product = (await api(PRODUCT, {"id": pid}, tokens["viewer"]))["data"]["product"]
    assert (product["name"], product["version"], product["enhancementInstitutionId"]) == ("安心贷二", 2, None)
    assert len(product["funders"]) == 2 and product["amountMax"] == "200000.00"
    assert (product["penaltyDailyRate"], product["penaltyBase"]) == ("0.000700", "PRINCIPAL_AND_INTEREST")
    # null puts the platform default back
    upd = (await api(UPDATE, {"id": pid, "i": {"penaltyDailyRate": None, "penaltyBase": None}, "c": checker},
                     tokens["maker"]))["data"]["updateProduct"]
    assert upd["errors"] == []
    await api(APPROVE, {"id": upd["change"]["id"]}, tokens["checker"])
    product = (await api(PRODUCT, {"id": pid}, tokens["viewer"]))["data"]["product"]
    assert (product["penaltyDailyRate"], product["penaltyBase"], product["version"]) == (None, None, 3)


async def test_problems_come_back_by_field_path(api: Api, orgs: Orgs, people: dict[str, Any],
                                                tokens: dict[str, str]) -> None:
    checker = gid("User", people["checker"].id)
    data = gql_input(orgs, businessMode="joint", funders=joint_funders(orgs, "70", "20"))
    out = (await api(CREATE, {"i": data, "c": checker}, tokens["maker"]))["data"]["createProduct"]
    assert [(e["field"], e["code"]) for e in out["errors"]] == [("funders", "INVALID")]
    bad = gql_input(orgs) | {"compensationEnabled": True, "compensationTime": "25:00", "amountMin": "abc"}
    bad["funders"][0]["bankId"] = gid("Bank", 999999)
    out = (await api(CREATE, {"i": bad, "c": checker}, tokens["maker"]))["data"]["createProduct"]
    assert {(e["field"], e["code"]) for e in out["errors"]} == {
        ("compensationBasis", "REQUIRED"), ("compensationDays", "REQUIRED"), ("compensationTime", "INVALID"),
        ("amountMin", "INVALID"), ("funders[0].bankId", "NOT_FOUND")}
    partial = {"code": "X1", "funders": [{"bankId": gid("Bank", orgs.a.id)}]}
    out = (await api(CREATE, {"i": partial, "c": checker}, tokens["maker"]))["data"]["createProduct"]
    assert {e["field"] for e in out["errors"]} >= {"name", "businessMode", "type", "amountMin", "termMin",
                                                    "paymentType", "channelIds"}
    viewer = (await api(CREATE, {"i": gql_input(orgs), "c": checker}, tokens["viewer"]))["data"]["createProduct"]
    assert viewer["errors"][0]["code"] == "FORBIDDEN"
    assert await Product.all().count() == 0


async def test_funding_plans_and_quota_over_http(api: Api, orgs: Orgs, staff: dict[str, Actor],
                                                 tokens: dict[str, str]) -> None:
    product = await create_product(staff["maker"], staff["checker"], product_data(orgs))
    pid, x = gid("Product", product.id), gid("AssistInstitution", orgs.x.id)
    plan = {"productId": pid, "bankId": gid("Bank", orgs.a.id), "maxOrders": 10, "maxAmount": "50000.00",
            "channels": [{"channelId": x, "maxOrders": 4, "maxAmount": "20000.00"}]}
    saved = (await api(SAVE_PLAN, {"i": plan, "now": False}, tokens["maker"]))["data"]["saveFundingPlan"]
    assert saved["errors"] == [] and saved["plan"]["status"] == "SCHEDULED"
    assert saved["plan"]["effectiveFrom"] == (clock.business_today() + timedelta(days=1)).isoformat()
    quota = (await api(QUOTA, {"p": pid, "c": x}, tokens["maker"]))["data"]["remainingQuota"]
    assert quota == {"ordersLeft": 0, "amountLeft": "0.00",
                     "funders": [{"bankId": gid("Bank", orgs.a.id), "ordersLeft": 0, "amountLeft": "0.00",
                                  "planId": None}]}
    now = (await api(SAVE_PLAN, {"i": plan, "now": True}, tokens["maker"]))["data"]["saveFundingPlan"]
    assert now["plan"]["status"] == "IN_FORCE"
    quota = (await api(QUOTA, {"p": pid, "c": x}, tokens["maker"]))["data"]["remainingQuota"]
    assert (quota["ordersLeft"], quota["amountLeft"]) == (4, "20000.00")
    plans = (await api(PRODUCT, {"id": pid}, tokens["maker"]))["data"]["product"]["fundingPlans"]
    assert [(p["status"], p["channelLimits"][0]["maxAmount"]) for p in plans] == [
        ("SCHEDULED", "20000.00"), ("IN_FORCE", "20000.00")]
    history = await api("query($p:ID!){fundingPlans(productId:$p){totalCount edges{node{status}}}}", {"p": pid},
                        tokens["maker"])
    assert history["data"]["fundingPlans"]["totalCount"] == 2
    bad = plan | {"channels": [{"channelId": gid("AssistInstitution", orgs.y.id), "maxOrders": 1, "maxAmount": "1"}]}
    out = (await api(SAVE_PLAN, {"i": bad, "now": True}, tokens["maker"]))["data"]["saveFundingPlan"]
    assert [(e["field"], e["code"]) for e in out["errors"]] == [("channels[0].channelId", "INVALID")]
    # a role that may save plans but not make them effective today
    async with in_transaction():
        await Role.create(name="计划员", key="planner", enabled=True)
        await policy.set_role_pages("planner", {"funding_plans.save"})
    await set_data("planner", DataPolicy(all=True))
    await make_user("planner1", ["planner"])
    planner = await api.login("planner1")
    out = (await api(SAVE_PLAN, {"i": plan, "now": True}, planner))["data"]["saveFundingPlan"]
    assert out["errors"][0]["code"] == "FORBIDDEN"
    assert (await api(SAVE_PLAN, {"i": plan, "now": False}, planner))["data"]["saveFundingPlan"]["errors"] == []


async def test_lpr_over_http(api: Api, tokens: dict[str, str]) -> None:
    saved = await api("mutation{saveLpr(term:ONE_YEAR,rate:\"3.1\"){lprRate{term rate effectiveFrom} "
                      "errors{field code}}}", token=tokens["maker"])
    tomorrow = (clock.business_today() + timedelta(days=1)).isoformat()
    assert saved["data"]["saveLpr"] == {"lprRate": {"term": "ONE_YEAR", "rate": "3.1000", "effectiveFrom": tomorrow},
                                        "errors": []}
    bad = await api("mutation{saveLpr(term:FIVE_YEAR,rate:\"-1\"){errors{field code}}}", token=tokens["maker"])
    assert bad["data"]["saveLpr"]["errors"] == [{"field": "rate", "code": "OUT_OF_RANGE"}]
    on = "query($d:Date){lprOn(term:ONE_YEAR,date:$d){rate}}"
    assert (await api(on, {}, tokens["viewer"]))["data"]["lprOn"] is None
    assert (await api(on, {"d": tomorrow}, tokens["viewer"]))["data"]["lprOn"] == {"rate": "3.1000"}
    listed = await api("{lprRates{totalCount edges{node{rate}}} nextLprReminder}", token=tokens["viewer"])
    assert listed["data"]["lprRates"]["totalCount"] == 1 and listed["data"]["nextLprReminder"]


async def test_a_bank_a_user_sees_only_bank_a_products_over_http(api: Api, orgs: Orgs, staff: dict[str, Actor],
                                                                 tokens: dict[str, str]) -> None:
    maker, checker = staff["maker"], staff["checker"]
    pa = await create_product(maker, checker, product_data(orgs, code="PA"))
    pb = await create_product(maker, checker, product_data(orgs, code="PB", funders=[{"bankId": orgs.b.id}]))
    async with in_transaction():
        await Role.create(name="甲行", key="bank_a", enabled=True)
        await policy.set_role_pages("bank_a", PRODUCT_NODES)
    await set_data("bank_a", DataPolicy(bank_ids=frozenset({orgs.a.id}), auto_bank_ids=frozenset({orgs.a.id})))
    await make_user("a_user", ["bank_a"])
    token = await api.login("a_user")
    listed = (await api(PRODUCTS, {}, token))["data"]["products"]
    assert listed == {"totalCount": 1, "edges": [{"node": {"code": "PA", "funders": [{"bankCode": "BKA"}]}}]}
    by_bank = (await api(PRODUCTS, {"f": {"bankId": gid("Bank", orgs.b.id)}}, token))["data"]["products"]
    assert by_bank["totalCount"] == 0
    assert (await api(PRODUCT, {"id": gid("Product", pb.id)}, token))["data"]["product"] is None
    assert (await api(PRODUCT, {"id": gid("Product", pa.id)}, token))["data"]["product"]["code"] == "PA"
    x = gid("AssistInstitution", orgs.x.id)
    hidden = await api(QUOTA, {"p": gid("Product", pb.id), "c": x}, token)
    missing = await api(QUOTA, {"p": gid("Product", 987654), "c": x}, token)
    assert hidden["errors"][0]["message"] == missing["errors"][0]["message"] == "Product not found"
    assert hidden["errors"][0]["extensions"] == missing["errors"][0]["extensions"]
    out = (await api(UPDATE, {"id": gid("Product", pb.id), "i": {"name": "改"}, "c": gid("User", checker.user_id)},
                     token))["data"]["updateProduct"]
    assert [(e["field"], e["code"]) for e in out["errors"]] == [("id", "NOT_FOUND")]
    admin = (await api(PRODUCTS, {}, tokens["admin"]))["data"]["products"]
    assert admin["totalCount"] == 2  # positive control
