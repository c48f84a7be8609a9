"""The system pages over HTTP, as an SPA calls them: guards, payload errors, masking, the log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from core import clock
from core.errors import UserError
from core.oplog.models import OperationLog
from core.system import parameters
from core.system.alerts import raise_alert
from core.system.models import Dictionary, SystemAlert
from core.system.seed import ensure_system_data
from core.system.switches import require_switch
from schema.relay import gid
from tests.support import Api


@pytest.fixture
async def tokens(api: Api, people: dict[str, Any]) -> dict[str, str]:
    await ensure_system_data()
    return {k: await api.login(people[k].account) for k in ("admin", "maker", "viewer")}


CREATE_DICT = """mutation($i:CreateDictionaryInput!){createDictionary(input:$i){
  dictionary{id serial name key builtin} errors{field code message}}}"""
CREATE_ITEM = """mutation($d:ID!,$i:CreateDictionaryItemInput!){createDictionaryItem(dictionaryId:$d,input:$i){
  item{id code name enabled} errors{field code message}}}"""


async def test_dictionary_page_and_drop_downs(api: Api, tokens: dict[str, str]) -> None:
    admin = tokens["admin"]
    out = (await api(CREATE_DICT, {"i": {"name": "证件类型", "key": "id_type", "remark": "借款人证件"}}, admin))[
        "data"]["createDictionary"]
    assert out["errors"] == [] and out["dictionary"]["serial"] == 16 and out["dictionary"]["builtin"] is False
    dict_id = out["dictionary"]["id"]
    bad = (await api(CREATE_DICT, {"i": {"name": "婚姻状况", "key": "x y"}}, admin))["data"]["createDictionary"]
    assert bad["dictionary"] is None
    assert {(e["field"], e["code"]) for e in bad["errors"]} == {("name", "NOT_UNIQUE"), ("key", "INVALID")}

    item = (await api(CREATE_ITEM, {"d": dict_id, "i": {"name": "身份证", "code": "1"}}, admin))["data"][
        "createDictionaryItem"]
    assert item["errors"] == [] and item["item"]["enabled"] is False
    options = "query($k:String!){dictionaryOptions(key:$k){code name}}"
    assert (await api(options, {"k": "id_type"}, tokens["viewer"]))["data"]["dictionaryOptions"] == []
    enable = "mutation($id:ID!){setDictionaryItemEnabled(id:$id,enabled:true){item{enabled} errors{code}}}"
    assert (await api(enable, {"id": item["item"]["id"]}, admin))["data"]["setDictionaryItemEnabled"]["item"] == {
        "enabled": True}
    # any signed-in user's SPA can fill a drop-down; only the dictionary page may manage them
    assert (await api(options, {"k": "id_type"}, tokens["viewer"]))["data"]["dictionaryOptions"] == [
        {"code": "1", "name": "身份证"}]
    marital = (await api(options, {"k": "marital_status"}, tokens["maker"]))["data"]["dictionaryOptions"]
    assert [o["name"] for o in marital] == ["未婚", "已婚", "丧偶", "离异"]
    refused = await api("{dictionaries{totalCount}}", token=tokens["viewer"])
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    maker = (await api(CREATE_DICT, {"i": {"name": "甲", "key": "jia"}}, tokens["maker"]))["data"]["createDictionary"]
    assert maker["errors"][0]["code"] == "FORBIDDEN"

    page = await api("query($d:ID!){dictionaryItems(dictionaryId:$d){totalCount edges{node{name code enabled}}}"
                     " dictionaries(filter:{keyword:\"证件\"}){totalCount edges{node{key}}}}", {"d": dict_id}, admin)
    assert page["data"]["dictionaryItems"]["totalCount"] == 1
    assert page["data"]["dictionaries"]["edges"] == [{"node": {"key": "id_type"}}]
    builtin = gid("Dictionary", (await Dictionary.get(key="education")).id)
    delete = "mutation($id:ID!){deleteDictionary(id:$id){deletedId errors{field code message}}}"
    out = (await api(delete, {"id": builtin}, admin))["data"]["deleteDictionary"]
    assert out["deletedId"] is None and out["errors"][0]["field"] == "id"
    assert (await api(delete, {"id": dict_id}, admin))["data"]["deleteDictionary"] == {"deletedId": dict_id,
                                                                                        "errors": []}
    actions = set(await OperationLog.filter(module="dictionaries", outcome="ok").values_list("action", flat=True))
    assert actions == {"create_dictionary", "create_item", "enable_item", "delete_dictionary"}


PARAMS = """query($f:SystemParameterFilter){systemParameters(filter:$f,first:50){totalCount edges{node{
  id number value valueSet isSecret active pending publishedValue}}}}"""
CREATE_PARAM = """mutation($i:CreateSystemParameterInput!){createSystemParameter(input:$i){
  parameter{id number value isSecret active pending} errors{field code message}}}"""
UPDATE_PARAM = """mutation($id:ID!,$i:UpdateSystemParameterInput!){updateSystemParameter(id:$id,input:$i){
  parameter{value pending publishedValue} errors{field code message}}}"""
ACTIVATE = "mutation($id:ID!){setSystemParameterActive(id:$id,active:true){parameter{active pending} errors{code}}}"
REFRESH = "mutation{refreshParameterCache{status{revision pending publishedBy} errors{code}}}"


async def test_parameters_are_published_by_refresh_and_secrets_stay_masked(api: Api,
                                                                         tokens: dict[str, str]) -> None:
    admin = tokens["admin"]
    clear = "9f8e7d6c5b4a-private-key-QZ"
    out = (await api(CREATE_PARAM, {"i": {"number": "lianlian.sign_key", "name": "连连签名密钥", "type": "KEY",
                                          "secret": clear}}, admin))["data"]["createSystemParameter"]
    assert out["errors"] == []
    node = out["parameter"]
    assert (node["value"], node["isSecret"], node["active"], node["pending"]) == ("••••••QZ", True, False, False)
    assert (await api(ACTIVATE, {"id": node["id"]}, admin))["data"]["setSystemParameterActive"]["parameter"] == {
        "active": True, "pending": True}
    assert await parameters.parameter("lianlian.sign_key") is None
    status = (await api(REFRESH, {}, admin))["data"]["refreshParameterCache"]
    assert status["errors"] == [] and status["status"]["pending"] == 0
    assert status["status"]["publishedBy"] == "管理员"
    assert await parameters.parameter("lianlian.sign_key") == clear

    # a secret sent in `value` is refused, and not even the refusal's log entry holds it
    leak = "leaky-secret-in-the-wrong-field"
    out = (await api(UPDATE_PARAM, {"id": node["id"], "i": {"value": leak}}, admin))["data"]["updateSystemParameter"]
    assert [(e["field"], e["code"]) for e in out["errors"]] == [("value", "INVALID")]
    out = (await api(UPDATE_PARAM, {"id": node["id"], "i": {"secret": clear + "v2"}}, admin))["data"][
        "updateSystemParameter"]
    assert out["errors"] == [] and out["parameter"]["pending"] is True
    assert out["parameter"]["value"] == "••••••v2" and out["parameter"]["publishedValue"] == "••••••QZ"

    # a caller without the permission is refused by the guard, whose refusal log blanks the value too
    out = (await api(UPDATE_PARAM, {"id": node["id"], "i": {"value": leak}}, tokens["viewer"]))["data"][
        "updateSystemParameter"]
    assert out["errors"][0]["code"] == "FORBIDDEN"
    assert await OperationLog.filter(action="updateSystemParameter", outcome="refused").count() >= 1

    listed = (await api(PARAMS, {"f": {"type": "KEY"}}, admin))["data"]["systemParameters"]
    everything = str(listed) + str(await OperationLog.all().values_list("detail", "summary"))
    assert clear not in everything and leak not in everything and "private-key" not in everything
    line = (await api(PARAMS, {"f": {"keyword": "warning_line"}}, admin))["data"]["systemParameters"]["edges"]
    assert [(e["node"]["value"], e["node"]["publishedValue"]) for e in line] == [("500000", "500000")]
    refused = await api(PARAMS, {}, tokens["maker"])
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    bad = (await api(CREATE_PARAM, {"i": {"number": "x", "name": "x", "type": "BUSINESS", "value": "abc",
                                          "format": "DECIMAL"}}, admin))["data"]["createSystemParameter"]
    assert bad["parameter"] is None and bad["errors"][0]["field"] == "value"
    cache = await api("{parameterCacheStatus{revision pending}}", token=admin)
    assert cache["data"]["parameterCacheStatus"]["pending"] == 1


async def test_console_pause_is_honoured_by_the_code_path_at_once(api: Api, tokens: dict[str, str]) -> None:
    toggle = "mutation($k:ConsoleSwitchKey!,$e:Boolean!){setConsoleSwitch(key:$k,enabled:$e){switch{key enabled " \
             "changedBy} errors{code}}}"
    out = (await api(toggle, {"k": "PAYMENTS", "e": False}, tokens["admin"]))["data"]["setConsoleSwitch"]
    assert out == {"switch": {"key": "PAYMENTS", "enabled": False, "changedBy": "管理员"}, "errors": []}
    with pytest.raises(UserError):
        await require_switch("payments")
    listed = (await api("{consoleSwitches{key title enabled}}", token=tokens["admin"]))["data"]["consoleSwitches"]
    assert [(s["key"], s["enabled"]) for s in listed] == [("DISTRIBUTION", True), ("REPAYMENT_PLANS", True),
                                                          ("PAYMENTS", False), ("SIGNING", True)]
    refused = (await api(toggle, {"k": "PAYMENTS", "e": True}, tokens["maker"]))["data"]["setConsoleSwitch"]
    assert refused["errors"][0]["code"] == "FORBIDDEN"
    await require_switch("signing")


ALERTS = """query($f:SystemAlertFilter){systemAlerts(filter:$f){totalCount edges{node{id number code read readByName}}}
  systemAlertUnreadCount}"""


async def test_alerts_page_filters_by_time_and_marks_results_read(api: Api, tokens: dict[str, str]) -> None:
    admin = tokens["admin"]
    await raise_alert("BALANCE_LOW", "余额不足", source="balance_monitor")
    since = clock.now()
    await SystemAlert.filter(code="BALANCE_LOW").update(created_at=since - timedelta(days=2))  # raised earlier
    for code in ("PLUGIN_ERROR", "PLUGIN_TIMEOUT"):
        await raise_alert(code, "插件失败", source="plugin:http_pay")
    window = {"since": since.isoformat(), "until": (since + timedelta(hours=1)).isoformat()}
    body = (await api(ALERTS, {"f": window}, admin))["data"]
    assert body["systemAlerts"]["totalCount"] == 2 and body["systemAlertUnreadCount"] == 3
    one = body["systemAlerts"]["edges"][0]["node"]
    read = await api("mutation($id:ID!){markSystemAlertRead(id:$id){alert{read readByName} errors{code}}}",
                     {"id": one["id"]}, admin)
    assert read["data"]["markSystemAlertRead"] == {"alert": {"read": True, "readByName": "管理员"}, "errors": []}
    out = (await api("mutation($f:SystemAlertFilter){markSystemAlertsRead(filter:$f){count unread errors{code}}}",
                     {"f": window}, admin))["data"]["markSystemAlertsRead"]
    assert out == {"count": 1, "unread": 1, "errors": []}
    unread = (await api(ALERTS, {"f": {"read": False}}, admin))["data"]["systemAlerts"]
    assert [e["node"]["code"] for e in unread["edges"]] == ["BALANCE_LOW"]
    by_number = (await api(ALERTS, {"f": {"number": one["number"]}}, admin))["data"]["systemAlerts"]
    assert by_number["totalCount"] == 1
    bad = await api(ALERTS, {"f": {"since": window["until"], "until": window["since"]}}, admin)
    assert bad["errors"][0]["extensions"] == {"code": "INVALID", "field": "filter.until"}
    viewer = (await api("mutation{markSystemAlertsRead{count errors{code}}}", token=tokens["viewer"]))["data"]
    assert viewer["markSystemAlertsRead"]["errors"][0]["code"] == "FORBIDDEN"
    assert await SystemAlert.filter(read=False).count() == 1
