"""Users and roles through maker-checker review, over HTTP (F-USER-1/3, F-ROLE-1/2, F-REV-1)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from core.accounts.models import Role, User
from core.accounts.roles import BUILTIN_ROLES
from core.oplog.models import OperationLog
from core.review.models import ChangeRequest, ChangeStatus
from permissions.tree import closure
from schema.relay import gid
from tests.support import PASSWORD, Api

CREATE_USER = """mutation($i:CreateUserInput!,$c:ID!,$ch:ID){createUser(input:$i,checkerId:$c,changeId:$ch){
  change{id status action entityLabel makerName checkerName payload} errors{field code message}}}"""
UPDATE_USER = """mutation($id:ID!,$i:UpdateUserInput!,$c:ID!){updateUser(id:$id,input:$i,checkerId:$c){
  change{id status} errors{field code message}}}"""
DELETE_USER = "mutation($id:ID!,$c:ID!){deleteUser(id:$id,checkerId:$c){change{id} errors{field code}}}"
APPROVE = "mutation($id:ID!){approveChange(id:$id,comment:\"ok\"){change{status entityId} errors{field code message}}}"
REJECT = "mutation($id:ID!,$c:String!){rejectChange(id:$id,comment:$c){change{status comment} errors{field code}}}"
WITHDRAW = "mutation($id:ID!){withdrawChange(id:$id){change{status} errors{code}}}"


def new_user(**over: Any) -> dict[str, Any]:
    base = {"workNo": "300001", "account": "bob_z", "name": "张三", "password": "abc12345",
            "roleIds": [], "email": "bob@example.com", "phone": "13800000000"}
    return base | over


@pytest.fixture
async def tokens(api: Api, people: dict[str, Any]) -> dict[str, str]:
    return {k: await api.login(u.account) for k, u in people.items()}


async def _role_id(key: str) -> str:
    return gid("Role", (await Role.get(key=key)).id)


async def propose(api: Api, tokens: dict[str, str], people: dict[str, Any], **over: Any) -> dict[str, Any]:
    data = new_user(roleIds=[await _role_id("viewer")], **over)
    body = await api(CREATE_USER, {"i": data, "c": gid("User", people["checker"].id)}, tokens["maker"])
    return body["data"]["createUser"]


async def test_create_user_goes_through_review_and_starts_disabled(api: Api, people: dict[str, Any],
                                                                   tokens: dict[str, str]) -> None:
    out = await propose(api, tokens, people)
    assert out["errors"] == []
    change = out["change"]
    assert change["status"] == "PENDING" and change["makerName"] == "经办一" and change["checkerName"] == "复核一"
    assert "passwordHash" not in change["payload"] and "password" not in change["payload"]
    assert not await User.filter(account="bob_z").exists()
    approved = (await api(APPROVE, {"id": change["id"]}, tokens["checker"]))["data"]["approveChange"]
    assert approved["errors"] == [] and approved["change"]["status"] == "APPROVED"
    bob = await User.get(account="bob_z")
    assert bob.enabled is False and bob.last_maker_id == people["maker"].id  # type: ignore[attr-defined]
    login = await api("mutation{login(account:\"bob_z\",password:\"abc12345\"){errors{code}}}")
    assert login["data"]["login"]["errors"][0]["code"] == "ACCOUNT_DISABLED"
    # the "completed" list shows who made and who checked it
    users = await api("{users(filter:{keyword:\"张三\"}){totalCount edges{node{account makerName checkerName "
                      "lastAction enabled roles{key}}}}}", token=tokens["checker"])
    node = users["data"]["users"]["edges"][0]["node"]
    assert node == {"account": "bob_z", "makerName": "经办一", "checkerName": "复核一", "lastAction": "create",
                    "enabled": False, "roles": [{"key": "viewer"}]}


@pytest.mark.parametrize(("over", "field", "code"), [
    ({"workNo": "12a"}, "workNo", "INVALID"),
    ({"workNo": "1" * 16}, "workNo", "TOO_LONG"),
    ({"workNo": ""}, "workNo", "REQUIRED"),
    ({"account": "bob-z"}, "account", "INVALID"),
    ({"account": "a" * 21}, "account", "TOO_LONG"),
    ({"account": "1abc"}, "account", "INVALID"),
    ({"name": "一二三四五六七八九十一"}, "name", "TOO_LONG"),
    ({"name": " "}, "name", "REQUIRED"),
    ({"password": "abc12"}, "password", "TOO_SHORT"),
    ({"password": "abc1234567890abcd"}, "password", "TOO_LONG"),
    ({"password": "abc_12345"}, "password", "INVALID"),
    ({"phone": "138-0000"}, "phone", "INVALID"),
    ({"phone": "1" * 21}, "phone", "TOO_LONG"),
    ({"landline": "010-1234567#"}, "landline", "INVALID"),
    ({"email": "bob.example.com"}, "email", "INVALID"),
    ({"email": "b" * 45 + "@x.com"}, "email", "TOO_LONG"),
    ({"roleIds": []}, "roleIds", "REQUIRED"),
])
async def test_each_field_rule_has_a_code_and_field(api: Api, people: dict[str, Any], tokens: dict[str, str],
                                                    over: dict[str, Any], field: str, code: str) -> None:
    data = new_user(roleIds=[await _role_id("viewer")]) | over
    out = (await api(CREATE_USER, {"i": data, "c": gid("User", people["checker"].id)}, tokens["maker"]))["data"][
        "createUser"]
    assert out["change"] is None
    assert [(e["field"], e["code"]) for e in out["errors"]] == [(field, code)], out["errors"]
    assert out["errors"][0]["message"]
    assert await ChangeRequest.all().count() == 0  # nothing half-written
    refused = await OperationLog.get(action="createUser", outcome="refused")
    assert refused.detail["input"]["input"]["password"] == "***"


async def test_uniqueness_and_disabled_roles_are_refused(api: Api, people: dict[str, Any],
                                                         tokens: dict[str, str]) -> None:
    taken = new_user(account="maker1", workNo=people["maker"].work_no, roleIds=[await _role_id("viewer")])
    out = (await api(CREATE_USER, {"i": taken, "c": gid("User", people["checker"].id)}, tokens["maker"]))["data"][
        "createUser"]
    assert {(e["field"], e["code"]) for e in out["errors"]} == {("account", "NOT_UNIQUE"), ("workNo", "NOT_UNIQUE")}
    await Role.create(name="停用角色", key="off_role", enabled=False)
    off = new_user(roleIds=[await _role_id("off_role")])
    out = (await api(CREATE_USER, {"i": off, "c": gid("User", people["checker"].id)}, tokens["maker"]))["data"][
        "createUser"]
    assert [(e["field"], e["code"]) for e in out["errors"]] == [("roleIds", "INVALID")]


async def test_checker_rules(api: Api, people: dict[str, Any], tokens: dict[str, str]) -> None:
    data = new_user(roleIds=[await _role_id("viewer")])
    own = (await api(CREATE_USER, {"i": data, "c": gid("User", people["maker"].id)}, tokens["maker"]))["data"][
        "createUser"]
    assert own["errors"][0]["code"] == "SELF_REVIEW"
    not_reviewer = (await api(CREATE_USER, {"i": data, "c": gid("User", people["maker2"].id)}, tokens["maker"]))[
        "data"]["createUser"]
    assert not_reviewer["errors"][0] == {"field": "checkerId", "code": "INVALID",
                                         "message": "The chosen user is not allowed to review changes"}
    change = (await propose(api, tokens, people))["change"]
    other = (await api(APPROVE, {"id": change["id"]}, tokens["checker2"]))["data"]["approveChange"]
    assert other["errors"][0]["code"] == "FORBIDDEN"
    viewer = (await api(APPROVE, {"id": change["id"]}, tokens["viewer"]))["data"]["approveChange"]
    assert viewer["errors"][0]["code"] == "FORBIDDEN"


async def test_maker_never_checks_own_change(api: Api, people: dict[str, Any], tokens: dict[str, str]) -> None:
    # an admin holds every permission, yet cannot approve a change they submitted
    data = new_user(roleIds=[await _role_id("viewer")])
    out = (await api(CREATE_USER, {"i": data, "c": gid("User", people["checker"].id)}, tokens["admin"]))["data"][
        "createUser"]
    await ChangeRequest.filter(id=1).update(checker_id=people["admin"].id)  # even if named as checker
    own = (await api(APPROVE, {"id": out["change"]["id"]}, tokens["admin"]))["data"]["approveChange"]
    assert own["errors"][0]["code"] == "SELF_REVIEW"
    assert (await ChangeRequest.get(id=1)).status == ChangeStatus.PENDING


async def test_stale_change_is_refused_on_approval(api: Api, people: dict[str, Any], tokens: dict[str, str]) -> None:
    target = gid("User", people["viewer"].id)
    first = (await api(UPDATE_USER, {"id": target, "i": {"phone": "111"}, "c": gid("User", people["checker"].id)},
                       tokens["maker"]))["data"]["updateUser"]
    assert first["errors"] == []
    # the user moves on meanwhile (an admin disables and re-enables them)
    for enabled in (False, True):
        await api("mutation($id:ID!,$e:Boolean!){setUserEnabled(id:$id,enabled:$e){errors{code}}}",
                  {"id": target, "e": enabled}, tokens["admin"])
    stale = (await api(APPROVE, {"id": first["change"]["id"]}, tokens["checker"]))["data"]["approveChange"]
    assert stale["errors"][0]["code"] == "STALE"
    assert (await User.get(id=people["viewer"].id)).phone == ""
    assert (await ChangeRequest.get(id=1)).status == ChangeStatus.PENDING
    # the maker re-bases it by editing; then it applies
    edit = await api("mutation($id:ID!,$i:UpdateUserInput!,$c:ID!,$ch:ID){updateUser(id:$id,input:$i,checkerId:$c,"
                     "changeId:$ch){errors{code}}}", {"id": target, "i": {"phone": "222"},
                                                      "c": gid("User", people["checker"].id),
                                                      "ch": first["change"]["id"]}, tokens["maker"])
    assert edit["data"]["updateUser"]["errors"] == []
    ok = (await api(APPROVE, {"id": first["change"]["id"]}, tokens["checker"]))["data"]["approveChange"]
    assert ok["errors"] == [] and (await User.get(id=people["viewer"].id)).phone == "222"


async def test_concurrent_approvals_apply_once(api: Api, people: dict[str, Any], tokens: dict[str, str]) -> None:
    change = (await propose(api, tokens, people))["change"]
    results = await asyncio.gather(*[api(APPROVE, {"id": change["id"]}, tokens["checker"]) for _ in range(5)])
    outcomes = [r["data"]["approveChange"] for r in results]
    assert sum(1 for o in outcomes if o["errors"] == []) == 1
    assert {o["errors"][0]["code"] for o in outcomes if o["errors"]} <= {"CONFLICT", "INVALID_STATE"}
    assert await User.filter(account="bob_z").count() == 1
    assert await OperationLog.filter(action="approve").count() == 1


async def test_reject_withdraw_and_one_pending_change_per_record(api: Api, people: dict[str, Any],
                                                                 tokens: dict[str, str]) -> None:
    change = (await propose(api, tokens, people))["change"]
    no_reason = (await api(REJECT, {"id": change["id"], "c": " "}, tokens["checker"]))["data"]["rejectChange"]
    assert no_reason["errors"][0] == {"field": "comment", "code": "REQUIRED"}
    rejected = (await api(REJECT, {"id": change["id"], "c": "wrong role"}, tokens["checker"]))["data"]["rejectChange"]
    assert rejected["change"] == {"status": "REJECTED", "comment": "wrong role"}
    again = (await api(APPROVE, {"id": change["id"]}, tokens["checker"]))["data"]["approveChange"]
    assert again["errors"][0]["code"] == "INVALID_STATE"
    assert not await User.filter(account="bob_z").exists()
    target = gid("User", people["viewer"].id)
    c = gid("User", people["checker"].id)
    first = (await api(UPDATE_USER, {"id": target, "i": {"phone": "1"}, "c": c}, tokens["maker"]))["data"]["updateUser"]
    second = (await api(UPDATE_USER, {"id": target, "i": {"phone": "2"}, "c": c}, tokens["maker2"]))["data"][
        "updateUser"]
    assert second["errors"][0]["code"] == "CONFLICT"
    foreign = (await api(WITHDRAW, {"id": first["change"]["id"]}, tokens["maker2"]))["data"]["withdrawChange"]
    assert foreign["errors"][0]["code"] == "NOT_FOUND"
    mine = (await api(WITHDRAW, {"id": first["change"]["id"]}, tokens["maker"]))["data"]["withdrawChange"]
    assert mine["change"]["status"] == "WITHDRAWN"


async def test_immutable_fields_and_enabled_switch_kept(api: Api, people: dict[str, Any],
                                                        tokens: dict[str, str]) -> None:
    target = gid("User", people["viewer"].id)
    c = gid("User", people["checker"].id)
    out = (await api(UPDATE_USER, {"id": target, "i": {"account": "other", "name": "新名字", "workNo": "9"}, "c": c},
                     tokens["maker"]))["data"]["updateUser"]
    assert {(e["field"], e["code"]) for e in out["errors"]} == {("account", "IMMUTABLE"), ("name", "IMMUTABLE"),
                                                               ("workNo", "IMMUTABLE")}
    out = (await api(UPDATE_USER, {"id": target, "i": {"email": "v@x.cn"}, "c": c}, tokens["maker"]))["data"][
        "updateUser"]
    await api(APPROVE, {"id": out["change"]["id"]}, tokens["checker"])
    viewer = await User.get(id=people["viewer"].id)
    assert viewer.email == "v@x.cn" and viewer.enabled is True and viewer.account == "viewer1"


async def test_deleted_user_keeps_viewer_rights_only(api: Api, people: dict[str, Any],
                                                     tokens: dict[str, str]) -> None:
    out = (await api(DELETE_USER, {"id": gid("User", people["maker2"].id), "c": gid("User", people["checker"].id)},
                     tokens["maker"]))["data"]["deleteUser"]
    await api(APPROVE, {"id": out["change"]["id"]}, tokens["checker"])
    token = await api.login("maker2", PASSWORD)
    me = (await api("{me{pagePermissions user{deleted roles{key}}}}", token=token))["data"]["me"]
    assert me["user"] == {"deleted": True, "roles": [{"key": "viewer"}]}
    viewer_pages = BUILTIN_ROLES["viewer"][1] or set()
    assert me["pagePermissions"] == sorted(closure(viewer_pages))
    assert "users" not in me["pagePermissions"] and not any("." in p for p in me["pagePermissions"])
    assert await ChangeRequest.filter(maker_id=people["maker2"].id).count() == 0  # history rows intact
    assert await OperationLog.filter(action="approve").count() == 1


async def test_role_lifecycle_with_page_permissions(api: Api, people: dict[str, Any],
                                                    tokens: dict[str, str]) -> None:
    c = gid("User", people["checker"].id)
    bad = await api("mutation($c:ID!){createRole(input:{name:\"分析\",key:\"ana-1\",pages:[\"nope\"]},checkerId:$c)"
                    "{errors{field code}}}", {"c": c}, tokens["maker"])
    assert {(e["field"], e["code"]) for e in bad["data"]["createRole"]["errors"]} == {("key", "INVALID"),
                                                                                     ("pages", "INVALID")}
    out = await api("mutation($c:ID!){createRole(input:{name:\"分析\",key:\"analyst\",pages:[\"users.create\"]},"
                    "checkerId:$c){change{id} errors{code}}}", {"c": c}, tokens["maker"])
    await api(APPROVE, {"id": out["data"]["createRole"]["change"]["id"]}, tokens["checker"])
    role = await Role.get(key="analyst")
    assert role.enabled is False
    tree = (await api("query($r:ID){permissionTree(roleId:$r){key checked children{key checked}}}",
                      {"r": gid("Role", role.id)}, tokens["checker"]))["data"]["permissionTree"]
    users_page = next(n for n in tree if n["key"] == "users")
    assert users_page["checked"] is True  # holding a button implies its page
    assert {ch["key"]: ch["checked"] for ch in users_page["children"]}["users.create"] is True
    assert {ch["key"]: ch["checked"] for ch in users_page["children"]}["users.delete"] is False
    upd = await api("mutation($id:ID!,$c:ID!){updateRole(id:$id,input:{key:\"x\"},checkerId:$c){errors{field code}}}",
                    {"id": gid("Role", role.id), "c": c}, tokens["maker"])
    assert upd["data"]["updateRole"]["errors"] == [{"field": "key", "code": "IMMUTABLE"}]
    upd = await api("mutation($id:ID!,$c:ID!){updateRole(id:$id,input:{pages:[\"oplog\"]},checkerId:$c)"
                    "{change{id} errors{code}}}", {"id": gid("Role", role.id), "c": c}, tokens["maker"])
    await api(APPROVE, {"id": upd["data"]["updateRole"]["change"]["id"]}, tokens["checker"])
    role_after = (await api("query($id:ID!){role(id:$id){pages version}}", {"id": gid("Role", role.id)},
                            tokens["checker"]))["data"]["role"]
    assert role_after == {"pages": ["oplog"], "version": 2}


async def test_review_queues(api: Api, people: dict[str, Any], tokens: dict[str, str]) -> None:
    await propose(api, tokens, people)
    q = "query($f:ChangeFilterInput){changeRequests(filter:$f){totalCount edges{node{entityLabel status}}}}"
    mine = await api(q, {"f": {"queue": "PENDING_FOR_ME"}}, tokens["checker"])
    assert mine["data"]["changeRequests"]["totalCount"] == 1
    other = await api(q, {"f": {"queue": "PENDING_FOR_ME"}}, tokens["checker2"])
    assert other["data"]["changeRequests"]["totalCount"] == 0
    subs = await api(q, {"f": {"queue": "MY_SUBMISSIONS"}}, tokens["maker"])
    assert subs["data"]["changeRequests"]["edges"][0]["node"] == {"entityLabel": "张三", "status": "PENDING"}
    done = await api(q, {"f": {"queue": "COMPLETED"}}, tokens["maker"])
    assert done["data"]["changeRequests"]["totalCount"] == 0
    reviewers = (await api("{reviewers{account}}", token=tokens["maker"]))["data"]["reviewers"]
    assert {r["account"] for r in reviewers} == {"checker1", "checker2", "admin"}


async def test_user_list_filters(api: Api, people: dict[str, Any], tokens: dict[str, str]) -> None:
    out = await propose(api, tokens, people)
    await api(APPROVE, {"id": out["change"]["id"]}, tokens["checker"])
    c = gid("User", people["checker"].id)
    await api(UPDATE_USER, {"id": gid("User", people["viewer"].id), "i": {"phone": "9"}, "c": c}, tokens["maker"])
    q = "query($f:UserFilter){users(filter:$f){totalCount edges{node{account}}}}"

    async def accounts(f: dict[str, Any]) -> set[str]:
        body = await api(q, {"f": f}, tokens["checker"])
        return {e["node"]["account"] for e in body["data"]["users"]["edges"]}

    assert await accounts({"makerId": gid("User", people["maker"].id)}) == {"bob_z"}
    assert await accounts({"roleId": await _role_id("viewer")}) == {"bob_z", "viewer1"}
    assert await accounts({"reviewState": "PENDING"}) == {"viewer1"}
    assert "viewer1" not in await accounts({"reviewState": "SETTLED"})
    assert await accounts({"keyword": "复核一"}) == {"bob_z", "checker1"}  # checked by, or named
    page = await api("{users(first:2){totalCount pageInfo{hasNextPage endCursor} edges{node{account}}}}",
                     token=tokens["checker"])
    info = page["data"]["users"]
    assert info["totalCount"] == 7 and info["pageInfo"]["hasNextPage"] is True
    rest = await api("query($a:String){users(first:10,after:$a){edges{node{account}}}}",
                     {"a": info["pageInfo"]["endCursor"]}, tokens["checker"])
    seen = [e["node"]["account"] for e in info["edges"]] + [e["node"]["account"] for e in
                                                            rest["data"]["users"]["edges"]]
    assert len(seen) == len(set(seen)) == 7


@pytest.mark.parametrize(("inp", "field", "code"), [
    ({"name": "一二三四五六七八九十一二三四五六七八九十一", "key": "k"}, "name", "TOO_LONG"),
    ({"name": "", "key": "k"}, "name", "REQUIRED"),
    ({"name": "经办", "key": "k"}, "name", "NOT_UNIQUE"),
    ({"name": "新角色", "key": "maker"}, "key", "NOT_UNIQUE"),
    ({"name": "新角色", "key": "k" * 51}, "key", "TOO_LONG"),
    ({"name": "新角色", "key": "k1"}, "key", "INVALID"),
    ({"name": "新角色", "key": "k", "remark": "r" * 201}, "remark", "TOO_LONG"),
])
async def test_role_field_rules(api: Api, people: dict[str, Any], tokens: dict[str, str], inp: dict[str, Any],
                                field: str, code: str) -> None:
    body = await api("mutation($i:CreateRoleInput!,$c:ID!){createRole(input:$i,checkerId:$c){errors{field code}}}",
                     {"i": inp, "c": gid("User", people["checker"].id)}, tokens["maker"])
    assert body["data"]["createRole"]["errors"] == [{"field": field, "code": code}]
