"""The operation log records every change and review, and can be filtered (F-MON-7)."""

from __future__ import annotations

from typing import Any

from core.oplog.models import OperationLog
from schema.relay import gid
from tests.support import Api


async def test_changes_reviews_and_refusals_are_logged_and_queryable(api: Api, people: dict[str, Any]) -> None:
    maker, checker = await api.login("maker1"), await api.login("checker1")
    role = (await api("{roles(enabled:true){edges{node{id key}}}}", token=maker))["data"]["roles"]["edges"]
    viewer_role = next(e["node"]["id"] for e in role if e["node"]["key"] == "viewer")
    out = await api("mutation($c:ID!,$r:ID!){createUser(input:{workNo:\"5\",account:\"zed\",name:\"赵\","
                    "password:\"pass1234\",roleIds:[$r]},checkerId:$c){change{id} errors{code}}}",
                    {"c": gid("User", people["checker"].id), "r": viewer_role}, maker)
    change_id = out["data"]["createUser"]["change"]["id"]
    await api("mutation($id:ID!){approveChange(id:$id){errors{code}}}", {"id": change_id}, checker)
    await api("mutation($id:ID!){setUserEnabled(id:$id,enabled:true){errors{code}}}",
              {"id": gid("User", people["maker2"].id)}, maker)  # refused: makers cannot enable users
    kinds = {(e.module, e.action, e.operator_kind.value, e.outcome) for e in await OperationLog.all()}
    assert ("users", "submit_create", "maker", "ok") in kinds
    assert ("users", "approve", "checker", "ok") in kinds
    assert ("users", "setUserEnabled", "maker", "refused") in kinds
    assert ("auth", "login", "anonymous", "ok") in kinds
    admin = await api.login("admin")
    q = ("query($f:OperationLogFilter){operationLogs(filter:$f){totalCount edges{node{operatorName operatorKind "
         "module action summary detail}}}}")
    body = await api(q, {"f": {"module": "users", "kind": "CHECKER"}}, admin)
    log = body["data"]["operationLogs"]
    assert log["totalCount"] == 1
    node = log["edges"][0]["node"]
    assert node["operatorName"] == "复核一" and node["action"] == "approve"
    assert node["detail"]["payload"]["passwordHash"] == "***"
    assert "pass1234" not in str([e.detail for e in await OperationLog.all()])
