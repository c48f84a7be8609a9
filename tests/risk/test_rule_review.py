"""Risk scenes and rule sets through maker-checker review, by service and over GraphQL (SPEC §11, F-REV-1)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from core.actor import Actor
from core.errors import UserError
from core.ledger.models import LedgerTransaction
from core.oplog.models import OperationLog
from core.review import service as review
from core.review.models import ChangeAction, ChangeRequest, ChangeStatus
from core.risk.rule_entity import RISK_SCENE
from core.risk.rule_models import RiskReportRecord, RiskRuleSet, RiskScene
from core.risk.scenes import evaluate_scene
from plugins.facade import PluginHost
from tests.products.helpers import actor_of
from tests.risk.scene_support import TEEN_ID, expr, scene_data, subject
from tests.support import Api

BAD_RULES = [
    {"name": "ok", "mode": "result", "outcome": "reject", "expressions": [expr("own_data.age", "<", 18)]},
    {"name": "", "mode": "bogus", "expressions": []},
    {"name": "typed", "mode": "score", "score": "abc", "outcome": "pass",
     "expressions": [expr("own_data.age", "~", 1), expr("own_data.nope", "==", 1),
                     expr("own_data.age", "between", ["60", "18"])]},
    {"name": "ok", "mode": "quota", "quota": "-5", "expressions": [expr("own_data.blacklist_hit", ">", True)]},
]


async def _actors(people: dict[str, Any]) -> tuple[Actor, Actor]:
    return await actor_of(people["maker"]), await actor_of(people["checker"])


async def test_an_invalid_rule_set_is_refused_with_every_problem_named_by_path(
        people: dict[str, Any], risk_host: PluginHost) -> None:
    maker, checker = await _actors(people)
    with pytest.raises(UserError) as exc:
        await review.submit(maker, RISK_SCENE.entity_type, ChangeAction.CREATE, None,
                            scene_data(rules=BAD_RULES, kind="nonsense", key="bad key!"), checker.user_id)
    fields = [e.field for e in exc.value.errors]
    assert fields == ["key", "kind", "rules[3].name", "rules[1].name", "rules[1].mode", "rules[1].expressions",
                      "rules[2].expressions[0].operator", "rules[2].expressions[1].indicator",
                      "rules[2].expressions[2].value", "rules[2].outcome", "rules[2].score",
                      "rules[3].expressions[0].operator", "rules[3].quota"]
    by_field = {e.field: e.message for e in exc.value.errors}
    assert "unknown operator '~'" in by_field["rules[2].expressions[0].operator"]
    assert "unknown indicator 'own_data.nope'" in by_field["rules[2].expressions[1].indicator"]
    assert "does not apply to bool" in by_field["rules[3].expressions[0].operator"]
    assert await ChangeRequest.all().count() == 0
    with pytest.raises(UserError) as exc:
        await review.submit(maker, RISK_SCENE.entity_type, ChangeAction.CREATE, None,
                            scene_data(rules=[{"name": "f", "mode": "score", "score": 1.5,
                                               "expressions": [expr("own_data.age", ">", 0.5)]}]), checker.user_id)
    assert [e.field for e in exc.value.errors] == ["rules[0].expressions[0].value", "rules[0].score"]


async def test_review_cycle_versions_the_rules_and_writes_log_and_ledger(
        people: dict[str, Any], risk_host: PluginHost) -> None:
    maker, checker = await _actors(people)
    change = await review.submit(maker, RISK_SCENE.entity_type, ChangeAction.CREATE, None, scene_data(),
                                 checker.user_id)
    assert change.status is ChangeStatus.PENDING and not await RiskScene.exists()
    with pytest.raises(UserError) as exc:
        await evaluate_scene("admission", subject())
    assert exc.value.code.value == "NOT_FOUND"  # nothing applies before approval
    await review.approve(checker, change.id, "ok")
    scene = await RiskScene.get(key="admission")
    assert (scene.version, scene.rule_set_version, scene.last_action) == (1, 1, "create")
    v1 = await RiskRuleSet.get(scene_id=scene.id, version=1)
    assert [r["name"] for r in v1.definition["rules"]] == ["blacklisted", "age out of range", "low credit score"]
    assert v1.indicators["bureau.credit_score"] == {"type": "number", "source": "bureau", "cost": "2.00"}
    assert (v1.maker_id, v1.checker_id) == (maker.user_id, checker.user_id)  # type: ignore[attr-defined]
    tx = await LedgerTransaction.get(tx_type="risk_scene.create")
    assert json.loads(tx.payload)["data"]["ruleSet"]["rules"][0]["name"] == "blacklisted"
    assert await OperationLog.filter(module="risk_rules", action="approve").count() == 1
    first = await evaluate_scene("admission", subject(TEEN_ID))

    # an edit of the rules adds version 2; the old report still names version 1
    rules = [*scene_data()["rules"][:2], {"name": "too much", "mode": "result", "outcome": "manual_review",
                                          "expressions": [expr("own_data.requested_amount", ">", "100000")]}]
    change = await review.submit(maker, RISK_SCENE.entity_type, ChangeAction.UPDATE, scene.id, {"rules": rules},
                                 checker.user_id)
    assert change.base_version == 1
    await review.approve(checker, change.id)
    await scene.refresh_from_db()
    assert (scene.version, scene.rule_set_version) == (2, 2)
    assert await RiskRuleSet.filter(scene_id=scene.id).count() == 2
    second = await evaluate_scene("admission", subject(amount=Decimal("150000.00")))
    assert second.outcome == "manual_review"
    assert [(await RiskReportRecord.get(id=d.report_id)).rule_set_version for d in (first, second)] == [1, 2]

    # renaming keeps the rule set; an empty edit and a key change are refused
    change = await review.submit(maker, RISK_SCENE.entity_type, ChangeAction.UPDATE, scene.id, {"name": "授信"},
                                 checker.user_id)
    await review.approve(checker, change.id)
    await scene.refresh_from_db()
    assert (scene.name, scene.version, scene.rule_set_version) == ("授信", 3, 2)
    with pytest.raises(UserError) as exc:
        await review.submit(maker, RISK_SCENE.entity_type, ChangeAction.UPDATE, scene.id, {"name": "授信"},
                            checker.user_id)
    assert exc.value.code.value == "REQUIRED"
    with pytest.raises(UserError) as exc:
        await review.submit(maker, RISK_SCENE.entity_type, ChangeAction.UPDATE, scene.id, {"key": "other"},
                            checker.user_id)
    assert (exc.value.errors[0].field, exc.value.code.value) == ("key", "IMMUTABLE")


async def test_a_stale_change_and_a_scene_in_use_are_refused(people: dict[str, Any], risk_host: PluginHost) -> None:
    from tests.loans.credit_review_support import make_review_world

    maker, checker = await _actors(people)
    change = await review.submit(maker, RISK_SCENE.entity_type, ChangeAction.CREATE, None, scene_data(),
                                 checker.user_id)
    scene = await RiskScene.get(id=(await review.approve(checker, change.id)).entity_id)
    one = await review.submit(maker, RISK_SCENE.entity_type, ChangeAction.UPDATE, scene.id, {"name": "一"},
                              checker.user_id)
    await RiskScene.filter(id=scene.id).update(version=5)  # someone else's approved change landed meanwhile
    with pytest.raises(UserError) as exc:
        await review.approve(checker, one.id)
    assert exc.value.code.value == "STALE"
    await review.withdraw(maker, one.id)
    await make_review_world()  # products whose risk event runs scene "admission"
    with pytest.raises(UserError) as exc:
        await review.submit(maker, RISK_SCENE.entity_type, ChangeAction.DELETE, scene.id, {}, checker.user_id)
    assert exc.value.code.value == "CONFLICT" and "CR-A, CR-Z" in exc.value.errors[0].message
    with pytest.raises(UserError) as exc:
        await review.submit(maker, RISK_SCENE.entity_type, ChangeAction.CREATE, None, scene_data(), checker.user_id)
    assert (exc.value.errors[0].field, exc.value.code.value) == ("key", "NOT_UNIQUE")


async def test_deleting_an_unused_scene_keeps_its_reports(people: dict[str, Any], risk_host: PluginHost) -> None:
    maker, checker = await _actors(people)
    change = await review.submit(maker, RISK_SCENE.entity_type, ChangeAction.CREATE, None, scene_data("spare"),
                                 checker.user_id)
    scene_id = (await review.approve(checker, change.id)).entity_id
    decision = await evaluate_scene("spare", subject())
    change = await review.submit(maker, RISK_SCENE.entity_type, ChangeAction.DELETE, scene_id, {}, checker.user_id)
    await review.approve(checker, change.id)
    assert not await RiskScene.filter(id=scene_id).exists() and not await RiskRuleSet.exists()
    report = await RiskReportRecord.get(id=decision.report_id)
    assert (report.scene_id, report.scene_key, report.outcome) == (None, "spare", "pass")  # type: ignore[attr-defined]
    assert await LedgerTransaction.filter(tx_type="risk_scene.delete").count() == 1


CREATE = """mutation($input: RiskSceneInput!, $checker: ID!) {
  createRiskScene(input: $input, checkerId: $checker) { change { id status entityType } errors { field code message } }
}"""
APPROVE = "mutation($id: ID!){approveChange(id:$id){change{status} errors{field code}}}"
SCENES = """{ riskScenes { totalCount edges { node { key kind ruleSetVersion ruleSet { version resultCombination
  rules { name mode logic outcome onMissing expressions { indicator operator value } }
  indicators { name source type cost } } } } } }"""


def gql_rules(bad_operator: bool = False) -> list[dict[str, Any]]:
    return [
        {"name": "blacklisted", "mode": "RESULT", "outcome": "REJECT",
         "expressions": [{"indicator": "own_data.blacklist_hit", "operator": "==", "value": True}]},
        {"name": "age", "mode": "RESULT", "outcome": "REJECT", "logic": "ANY",
         "expressions": [{"indicator": "own_data.age", "operator": "<", "value": 18},
                         {"indicator": "own_data.age", "operator": "bigger" if bad_operator else ">", "value": 60}]},
        {"name": "quota", "mode": "QUOTA", "quota": "200000",
         "expressions": [{"indicator": "own_data.requested_amount", "operator": "<=", "value": "200000"}]},
    ]


async def test_the_risk_rules_page_over_graphql(api: Api, people: dict[str, Any], risk_host: PluginHost) -> None:
    from schema.relay import gid

    maker = await api.login(people["maker"].account)
    checker = await api.login(people["checker"].account)
    checker_id = gid("User", people["checker"].id)
    inp = {"key": "gql_scene", "name": "接口场景", "kind": "CREDIT", "rules": gql_rules(bad_operator=True)}
    out = (await api(CREATE, {"input": inp, "checker": checker_id}, maker))["data"]["createRiskScene"]
    assert out["change"] is None
    assert [(e["field"], e["code"]) for e in out["errors"]] == [("rules[1].expressions[1].operator", "INVALID")]
    inp["rules"] = gql_rules()
    out = (await api(CREATE, {"input": inp, "checker": checker_id}, maker))["data"]["createRiskScene"]
    assert out["errors"] == [] and out["change"]["entityType"] == "risk_scene"
    pending = await api("{changeRequests(filter:{queue: PENDING_FOR_ME}){edges{node{entityType entityLabel}}}}",
                        token=checker)
    assert [e["node"] for e in pending["data"]["changeRequests"]["edges"]] == [
        {"entityType": "risk_scene", "entityLabel": "gql_scene 接口场景"}]
    approved = (await api(APPROVE, {"id": out["change"]["id"]}, checker))["data"]["approveChange"]
    assert approved == {"change": {"status": "APPROVED"}, "errors": []}
    scenes = (await api(SCENES, token=maker))["data"]["riskScenes"]
    node = scenes["edges"][0]["node"]
    assert (scenes["totalCount"], node["key"], node["kind"], node["ruleSetVersion"]) == (1, "gql_scene", "CREDIT", 1)
    assert node["ruleSet"]["resultCombination"] == "ALL_PASS"
    assert node["ruleSet"]["rules"][1] == {"name": "age", "mode": "RESULT", "logic": "ANY", "outcome": "REJECT",
                                           "onMissing": "MANUAL_REVIEW", "expressions": [
                                               {"indicator": "own_data.age", "operator": "<", "value": 18},
                                               {"indicator": "own_data.age", "operator": ">", "value": 60}]}
    assert {i["name"] for i in node["ruleSet"]["indicators"]} == {
        "own_data.blacklist_hit", "own_data.age", "own_data.requested_amount"}
    options = (await api("{riskRuleIndicators{name source type cost}}", token=maker))["data"]["riskRuleIndicators"]
    assert {"name": "bureau.credit_score", "source": "bureau", "type": "number", "cost": "2.00"} in options
    assert {"name": "own_data.loans_in_progress", "source": "own_data", "type": "number", "cost": "0"} in options
    # a viewer holds the page but no action: proposing is refused in the payload
    viewer = await api.login(people["viewer"].account)
    refused = (await api(CREATE, {"input": inp, "checker": checker_id}, viewer))["data"]["createRiskScene"]
    assert refused["errors"][0]["code"] == "FORBIDDEN"


UPDATE = """mutation($id: ID!, $input: RiskSceneInput!, $checker: ID!, $change: ID) {
  updateRiskScene(id: $id, input: $input, checkerId: $checker, changeId: $change) {
    change { id status payload } errors { field code message } } }"""


async def test_a_pending_rule_change_can_be_revised_and_withdrawn(api: Api, people: dict[str, Any],
                                                                  risk_host: PluginHost) -> None:
    from schema.relay import gid
    from tests.risk.scene_support import install_scene

    scene = await install_scene(scene_data())
    maker = await api.login(people["maker"].account)
    checker_id = gid("User", people["checker"].id)
    variables: dict[str, Any] = {"id": gid("RiskScene", scene.id), "checker": checker_id, "change": None,
                                 "input": {"quotaAggregation": "MAX"}}
    first = (await api(UPDATE, variables, maker))["data"]["updateRiskScene"]
    assert first["errors"] == [] and first["change"]["payload"]["ruleSet"]["quotaAggregation"] == "max"
    variables |= {"change": first["change"]["id"], "input": {"quotaAggregation": "SUM", "name": "改名"}}
    revised = (await api(UPDATE, variables, maker))["data"]["updateRiskScene"]
    assert revised["errors"] == [] and revised["change"]["id"] == first["change"]["id"]
    assert (revised["change"]["payload"]["name"], revised["change"]["payload"]["ruleSet"]["quotaAggregation"]) == (
        "改名", "sum")
    withdrawn = await api("mutation($id:ID!){withdrawChange(id:$id){change{status} errors{code}}}",
                          {"id": first["change"]["id"]}, maker)
    assert withdrawn["data"]["withdrawChange"] == {"change": {"status": "WITHDRAWN"}, "errors": []}
    await scene.refresh_from_db()
    assert (scene.name, scene.version) == ("准入风控", 1)
    by_key = await api("query($k:String){riskScene(key:$k){key name ruleSet{version}}}", {"k": "admission"}, maker)
    assert by_key["data"]["riskScene"] == {"key": "admission", "name": "准入风控", "ruleSet": {"version": 1}}
