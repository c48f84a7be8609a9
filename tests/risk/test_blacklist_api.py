"""The blacklist page over GraphQL: masked list, add and remove as page actions, refusals logged safely."""

from __future__ import annotations

from typing import Any

from tortoise.transactions import in_transaction

from core.accounts.models import Role
from core.oplog.models import OperationLog
from core.risk.idnumber import check_char
from core.risk.models import BlacklistEntry
from permissions import policy
from tests.support import Api, make_user

ID_NUMBER = "44030519851120301" + check_char("44030519851120301")
ADD = """mutation($i:AddBlacklistEntryInput!){addBlacklistEntry(input:$i){
  entry{id idNumber phone name reason createdByName} errors{field code message}}}"""
REMOVE = "mutation($id:ID!){removeBlacklistEntry(id:$id){removedId errors{field code}}}"
LIST = """query($f:BlacklistFilter){blacklist(filter:$f){totalCount edges{node{idNumber phone name reason}}}}"""


async def test_admin_lists_adds_and_removes_people(api: Api, people: dict[str, Any]) -> None:
    admin = await api.login(people["admin"].account)
    out = (await api(ADD, {"i": {"idNumber": ID_NUMBER, "phone": "13912345678", "name": "赵六",
                                 "reason": "多头骗贷"}}, admin))["data"]["addBlacklistEntry"]
    assert out["errors"] == []
    entry = out["entry"]
    assert (entry["idNumber"], entry["phone"]) == ("*" * 14 + ID_NUMBER[-4:], "*******5678")
    assert (entry["name"], entry["createdByName"]) == ("赵六", people["admin"].name)
    found = (await api(LIST, {"f": {"idNumber": ID_NUMBER}}, admin))["data"]["blacklist"]
    assert found["totalCount"] == 1 and found["edges"][0]["node"]["reason"] == "多头骗贷"
    assert (await api(LIST, {"f": {"phone": "13800138000"}}, admin))["data"]["blacklist"]["totalCount"] == 0
    again = (await api(ADD, {"i": {"phone": "139 1234 5678", "reason": "重复"}}, admin))["data"]["addBlacklistEntry"]
    assert again["entry"] is None and again["errors"][0]["field"] == "phone"
    assert again["errors"][0]["code"] == "NOT_UNIQUE"
    removed = (await api(REMOVE, {"id": entry["id"]}, admin))["data"]["removeBlacklistEntry"]
    assert removed == {"removedId": entry["id"], "errors": []}
    assert not await BlacklistEntry.exists()
    assert [a async for a in OperationLog.filter(module="blacklist", outcome="ok").values_list(
        "action", flat=True)] == ["create", "delete"]


async def test_only_holders_of_the_blacklist_nodes_may_see_or_change_it(api: Api, people: dict[str, Any]) -> None:
    viewer = await api.login(people["viewer"].account)
    refused = await api(LIST, token=viewer)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    out = (await api(ADD, {"i": {"idNumber": ID_NUMBER, "phone": "13912345678", "reason": "x"}}, viewer))[
        "data"]["addBlacklistEntry"]
    assert out["errors"][0]["code"] == "FORBIDDEN" and not await BlacklistEntry.exists()
    log = await OperationLog.get(module="blacklist", outcome="refused")
    assert ID_NUMBER not in str(log.detail) and "13912345678" not in str(log.detail)  # personal data not kept
    # a role holding the page (not its buttons) may look but not change
    async with in_transaction():
        await Role.create(name="黑名单查询", key="bl_reader", enabled=True)
        await policy.set_role_pages("bl_reader", {"blacklist"})
    await policy.policy_store().refresh()
    await make_user("blreader", ["bl_reader"], "黑名单查询")
    reader = await api.login("blreader")
    admin = await api.login(people["admin"].account)
    added = (await api(ADD, {"i": {"idNumber": ID_NUMBER, "reason": "欺诈"}}, admin))["data"]["addBlacklistEntry"]
    assert added["errors"] == []
    assert (await api(LIST, token=reader))["data"]["blacklist"]["totalCount"] == 1
    out = (await api(REMOVE, {"id": added["entry"]["id"]}, reader))["data"]["removeBlacklistEntry"]
    assert out["errors"][0]["code"] == "FORBIDDEN" and await BlacklistEntry.exists()
