"""Institutions over GraphQL as an SPA calls them: CRUD with field errors, money as strings, the
assist list's page size, guards, and above all the data scope on lists, single objects, nested
fields and mutations (F-ROLE-4)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from core.actor import SYSTEM
from core.oplog.models import OperationLog
from core.orgs import bank_products, margins
from core.orgs.bank_products import BankProductInput
from core.orgs.models import Bank, BankProduct, BankProductType, MarginAccount
from permissions.scope import EVERYTHING
from schema.relay import gid
from tests.orgs.helpers import admin_actor, new_account, new_bank, scoped_user
from tests.support import Api

pytestmark = pytest.mark.db
MISSING = 987654

BANK_FIELDS = "id code shortName fullName email servicePhone address"
CREATE_BANK = ("mutation($i:CreateBankInput!){createBank(input:$i){bank{" + BANK_FIELDS + "} "
               "errors{field code message}}}")


def errors(body: dict[str, Any], name: str) -> dict[str, str]:
    assert "errors" not in body, body
    return {e["field"]: e["code"] for e in body["data"][name]["errors"]}


async def test_admin_registers_a_bank_and_sees_every_field_error_at_once(api: Api, people: dict[str, Any]) -> None:
    admin = await api.login("admin")
    bad = await api(CREATE_BANK, {"i": {"code": "华夏", "shortName": " ", "fullName": "华夏银行股份有限公司",
                                        "email": "service@hxb", "servicePhone": "95577-"}}, admin)
    assert errors(bad, "createBank") == {"code": "INVALID", "shortName": "REQUIRED", "email": "INVALID",
                                         "servicePhone": "INVALID"}
    assert bad["data"]["createBank"]["bank"] is None and await Bank.all().count() == 0
    good = await api(CREATE_BANK, {"i": {"code": "HXB", "shortName": "华夏银行", "fullName": "华夏银行股份有限公司",
                                         "email": "service@hxb.com.cn", "servicePhone": "95577"}}, admin)
    bank = good["data"]["createBank"]["bank"]
    assert good["data"]["createBank"]["errors"] == [] and bank["code"] == "HXB" and bank["address"] == ""
    upd = await api("mutation($id:ID!,$i:UpdateBankInput!){updateBank(id:$id,input:$i){bank{address} errors{code}}}",
                    {"id": bank["id"], "i": {"address": "北京市东城区"}}, admin)
    assert upd["data"]["updateBank"] == {"bank": {"address": "北京市东城区"}, "errors": []}
    listed = await api("{banks(filter:{keyword:\"华夏\"}){totalCount edges{node{code}}}}", token=admin)
    assert listed["data"]["banks"] == {"totalCount": 1, "edges": [{"node": {"code": "HXB"}}]}


async def test_margin_money_travels_as_decimal_strings_and_top_up_shows_in_history(
        api: Api, people: dict[str, Any]) -> None:
    admin = await api.login("admin")
    bank = await new_bank(await admin_actor("orgadmin2"))
    out = await api("mutation($i:CreateMarginAccountInput!){createMarginAccount(input:$i){marginAccount{id "
                    "balance leverage warningLine warningAmount warning} errors{field code}}}",
                    {"i": {"bankId": gid("Bank", bank.id), "project": "华夏-众享", "accountBank": "华夏银行北京分行",
                           "accountNo": "6230580000012345", "leverage": "10", "warningLine": "0.2"}}, admin)
    assert errors(out, "createMarginAccount") == {"warningAmount": "REQUIRED"}
    out = await api("mutation($i:CreateMarginAccountInput!){createMarginAccount(input:$i){marginAccount{id "
                    "balance leverage warningLine warningAmount warning} errors{field code}}}",
                    {"i": {"bankId": gid("Bank", bank.id), "project": "华夏-众享", "accountBank": "华夏银行北京分行",
                           "accountNo": "6230580000012345", "leverage": "10", "warningLine": "0.2",
                           "warningAmount": "100000"}}, admin)
    account = out["data"]["createMarginAccount"]["marginAccount"]
    assert account == {"id": account["id"], "balance": "0.00", "leverage": "10.00", "warningLine": "0.2000",
                       "warningAmount": "100000.00", "warning": True}
    top = await api("mutation($i:TopUpMarginInput!){topUpMargin(input:$i){marginAccount{balance free frozen warning} "
                    "movement{kind amount balanceAfter voucherNo voucherUrl operatorName} errors{field code}}}",
                    {"i": {"accountId": account["id"], "amount": "500000.10", "voucherNo": "PZ-001",
                           "voucherUrl": "https://files.test/pz-001.pdf"}}, admin)
    payload = top["data"]["topUpMargin"]
    assert payload["errors"] == []
    assert payload["marginAccount"] == {"balance": "500000.10", "free": "500000.10", "frozen": "0.00",
                                        "warning": False}
    assert payload["movement"] == {"kind": "TOPUP", "amount": "500000.10", "balanceAfter": "500000.10",
                                   "voucherNo": "PZ-001", "voucherUrl": "https://files.test/pz-001.pdf",
                                   "operatorName": "管理员"}
    await margins.freeze((await MarginAccount.get()).id, Decimal("4500001.00"), "L-1", SYSTEM)
    hist = await api("query($id:ID!){marginAccount(id:$id){frozen warning movements(first:1){totalCount "
                     "pageInfo{hasNextPage} edges{node{kind amount loanAmount reference}}}}}", {"id": account["id"]},
                     admin)
    acc = hist["data"]["marginAccount"]
    assert acc["frozen"] == "450000.10" and acc["warning"] is True  # free 50000.00 < warning amount
    assert acc["movements"]["totalCount"] == 2 and acc["movements"]["pageInfo"]["hasNextPage"] is True
    assert acc["movements"]["edges"] == [{"node": {"kind": "FREEZE", "amount": "450000.10",
                                                   "loanAmount": "4500001.00", "reference": "L-1"}}]


async def test_delete_in_use_is_a_conflict_in_the_payload(api: Api, people: dict[str, Any]) -> None:
    admin = await api.login("admin")
    actor = await admin_actor("orgadmin2")
    bank = await new_bank(actor)
    await bank_products.create(actor, EVERYTHING, bank.id, BankProductInput(
        name="消费贷", type=BankProductType.MULTI, repayment_method="EQUAL_INSTALLMENT"))
    out = await api("mutation($id:ID!){deleteBank(id:$id){deletedId errors{field code message}}}",
                    {"id": gid("Bank", bank.id)}, admin)
    payload = out["data"]["deleteBank"]
    assert payload["deletedId"] is None and payload["errors"][0]["code"] == "CONFLICT"
    assert "bank credit products" in payload["errors"][0]["message"]


async def test_assist_institutions_page_ten_at_a_time(api: Api, people: dict[str, Any]) -> None:
    admin = await api.login("admin")
    for i in range(12):
        out = await api("mutation($i:CreateAssistInstitutionInput!){createAssistInstitution(input:$i){errors{code}}}",
                        {"i": {"name": f"流量平台{i}", "number": f"AST-{i:03d}", "phone": "400-820-1001"}}, admin)
        assert out["data"]["createAssistInstitution"]["errors"] == []
    page = await api("{assistInstitutions{totalCount pageInfo{hasNextPage endCursor} edges{node{name createdAt}}}}",
                     token=admin)
    data = page["data"]["assistInstitutions"]
    assert data["totalCount"] == 12 and len(data["edges"]) == 10 and data["pageInfo"]["hasNextPage"]
    rest = await api("query($a:String){assistInstitutions(after:$a){edges{node{name}}}}",
                     {"a": data["pageInfo"]["endCursor"]}, admin)
    assert [e["node"]["name"] for e in rest["data"]["assistInstitutions"]["edges"]] == ["流量平台1", "流量平台0"]


async def test_guards_refuse_callers_without_the_action(api: Api, people: dict[str, Any]) -> None:
    viewer = await api.login("viewer1")
    out = await api(CREATE_BANK, {"i": {"code": "HXB", "shortName": "华夏", "fullName": "华夏银行",
                                        "email": "a@b.cn", "servicePhone": "95577"}}, viewer)
    assert errors(out, "createBank") == {None: "FORBIDDEN"}
    out = await api("mutation{createPaymentPlatform(input:{name:\"沙箱\",identifier:\"sandbox\"}){errors{code}}}",
                    token=viewer)
    assert out["data"]["createPaymentPlatform"]["errors"][0]["code"] == "FORBIDDEN"
    assert await Bank.all().count() == 0


@pytest.fixture
async def two_banks(people: dict[str, Any]) -> dict[str, Any]:
    """Banks A and B with a product and a topped-up margin account each; a user scoped to A."""
    actor = await admin_actor("orgadmin2")
    out: dict[str, Any] = {}
    for key, code, name in (("a", "HXB", "华夏银行"), ("b", "JNRCB", "江南农商银行")):
        bank = await new_bank(actor, code, name)
        product = await bank_products.create(actor, EVERYTHING, bank.id, BankProductInput(
            name=f"{name}消费贷", type=BankProductType.MULTI, repayment_method="EQUAL_INSTALLMENT"))
        account = await new_account(actor, bank, f"{code}-项目", top_up="1000")
        out[key] = {"bank": gid("Bank", bank.id), "product": gid("BankProduct", product.id),
                    "account": gid("MarginAccount", account.id), "pk": bank.id, "account_pk": account.id,
                    "product_pk": product.id, "name": name}
    await scoped_user("ops_a", "bank_a_ops", {out["a"]["pk"]})
    return out


NESTED = ("{banks{totalCount edges{node{shortName creditProducts{name bank{shortName}} "
          "marginAccounts{project movements{totalCount edges{node{voucherNo}}}}}}} "
          "bankProducts{totalCount edges{node{name bank{shortName}}}} "
          "marginAccounts{totalCount edges{node{project bank{shortName}}}}}")


async def test_a_user_scoped_to_bank_a_sees_a_and_nothing_of_b(api: Api, two_banks: dict[str, Any]) -> None:
    a, b = two_banks["a"], two_banks["b"]
    token = await api.login("ops_a")
    body = await api(NESTED, token=token)
    assert "errors" not in body, body
    data = body["data"]
    assert data["banks"]["totalCount"] == 1
    bank = data["banks"]["edges"][0]["node"]
    assert bank["shortName"] == "华夏银行"
    assert bank["creditProducts"] == [{"name": "华夏银行消费贷", "bank": {"shortName": "华夏银行"}}]
    assert bank["marginAccounts"] == [{"project": "HXB-项目", "movements": {
        "totalCount": 1, "edges": [{"node": {"voucherNo": "V-HXB-项目"}}]}}]
    assert data["bankProducts"]["totalCount"] == 1 and data["marginAccounts"]["totalCount"] == 1
    assert "江南" not in str(body) and "JNRCB" not in str(body)

    # Positive control: admin sees both banks through the very same query.
    admin = await api.login("admin")
    every = (await api(NESTED, token=admin))["data"]
    assert every["banks"]["totalCount"] == 2 and every["marginAccounts"]["totalCount"] == 2

    # By id: B's rows answer exactly like ids that do not exist.
    singles = [("bank", "Bank", b["bank"], a["bank"]), ("bankProduct", "BankProduct", b["product"], a["product"]),
               ("marginAccount", "MarginAccount", b["account"], a["account"])]
    for field, type_name, other, own in singles:
        query = f"query($id:ID!){{{field}(id:$id){{id}}}}"
        theirs = await api(query, {"id": other}, token)
        missing = await api(query, {"id": gid(type_name, MISSING)}, token)
        assert theirs == missing == {"data": {field: None}}
        assert (await api(query, {"id": own}, token))["data"][field] == {"id": own}
    moves = "query($id:ID!){marginMovements(accountId:$id){totalCount edges{node{id}}}}"
    assert (await api(moves, {"id": b["account"]}, token)) == (await api(
        moves, {"id": gid("MarginAccount", MISSING)}, token)) == {"data": {"marginMovements": {
            "totalCount": 0, "edges": []}}}
    assert (await api(moves, {"id": a["account"]}, token))["data"]["marginMovements"]["totalCount"] == 1
    filtered = await api("query($b:ID){bankProducts(filter:{bankId:$b}){totalCount}}", {"b": b["bank"]}, token)
    assert filtered["data"]["bankProducts"]["totalCount"] == 0


async def test_a_user_scoped_to_bank_a_cannot_change_bs_rows(api: Api, two_banks: dict[str, Any]) -> None:
    a, b = two_banks["a"], two_banks["b"]
    token = await api.login("ops_a")
    attempts = [
        ("updateBank", "mutation($id:ID!){updateBank(id:$id,input:{address:\"x\"}){errors{field code message}}}",
         {"id": b["bank"]}),
        ("deleteBank", "mutation($id:ID!){deleteBank(id:$id){errors{field code message}}}", {"id": b["bank"]}),
        ("createBankProduct", "mutation($b:ID!){createBankProduct(input:{bankId:$b,name:\"越权\",type:MULTI,"
         "repaymentMethod:EQUAL_PRINCIPAL}){errors{field code message}}}", {"b": b["bank"]}),
        ("updateBankProduct", "mutation($id:ID!){updateBankProduct(id:$id,input:{description:\"x\"})"
         "{errors{field code message}}}", {"id": b["product"]}),
        ("deleteBankProduct", "mutation($id:ID!){deleteBankProduct(id:$id){errors{field code message}}}",
         {"id": b["product"]}),
        ("updateMarginAccount", "mutation($id:ID!){updateMarginAccount(id:$id,input:{leverage:\"1\"})"
         "{errors{field code message}}}", {"id": b["account"]}),
        ("topUpMargin", "mutation($id:ID!){topUpMargin(input:{accountId:$id,amount:\"1000000\",voucherNo:\"PZ-X\","
         "voucherUrl:\"https://files.test/x.pdf\"}){errors{field code message}}}", {"id": b["account"]}),
    ]
    for name, query, variables in attempts:
        out = await api(query, variables, token)
        codes = [e["code"] for e in out["data"][name]["errors"]]
        assert codes == ["NOT_FOUND"], (name, out)
    b_account = await MarginAccount.get(id=b["account_pk"])
    assert (b_account.balance, b_account.leverage) == (Decimal("1000.00"), Decimal("10.00"))
    assert await BankProduct.filter(bank_id=b["pk"]).count() == 1
    assert (await Bank.get(id=b["pk"])).address != "x"

    # Within scope the same mutations work, and the log entries are tagged with bank A.
    ok = await api("mutation($id:ID!){topUpMargin(input:{accountId:$id,amount:\"1\",voucherNo:\"PZ-A\","
                   "voucherUrl:\"https://files.test/a.pdf\"}){marginAccount{balance} errors{code}}}",
                   {"id": a["account"]}, token)
    assert ok["data"]["topUpMargin"] == {"marginAccount": {"balance": "1001.00"}, "errors": []}
    entry = await OperationLog.filter(module="margins", action="topup", outcome="ok").order_by("-id").first()
    assert entry is not None and entry.scope_bank_id == a["pk"] and entry.request_id
