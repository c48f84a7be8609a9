"""Risk scenes on the database (SPEC §11): evaluation through the plugin facade, reports, failures."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from core.errors import UserError
from core.risk import blacklist
from core.risk.rule_models import RiskReportRecord, RiskScene
from core.risk.scenes import evaluate_scene
from core.system.models import SystemAlert
from plugins.facade import PluginHost
from plugins.runtime import plugin_runtime
from plugins.testkit import host_from_dict
from tests.risk.scene_support import ADULT_ID, TEEN_ID, bureau_of, expr, install_scene, scene_data, subject
from tests.support import make_user


async def test_a_reject_by_free_data_stops_before_the_paid_source(risk_host: PluginHost) -> None:
    await install_scene(scene_data())
    bureau = bureau_of(risk_host)
    decision = await evaluate_scene("admission", subject(TEEN_ID), loan_id=None)
    assert decision.outcome == "reject"
    assert bureau.requests == []  # the paid bureau was never called, so never billed
    assert decision.reasons == ("age out of range: reject",)
    record = await RiskReportRecord.get(id=decision.report_id)
    rules = record.report["rules"]
    assert [(r["name"], r["status"]) for r in rules] == [
        ("blacklisted", "evaluated"), ("age out of range", "evaluated"), ("low credit score", "skipped")]
    assert rules[2]["skip_reason"] == "short-circuited after reject at rule 1"
    assert [s["source"] for s in record.report["sources"]] == ["own_data"]
    assert record.total_cost == Decimal("0") and record.report["billed"] == {"own_data": "0"}

    # the same scene for an adult reaches the bureau exactly once (one call for its one rule)
    passed = await evaluate_scene("admission", subject(ADULT_ID))
    assert passed.outcome == "pass" and passed.reasons == () and len(bureau.requests) == 1
    assert bureau.requests[0].indicators == ("credit_score",)
    assert bureau.requests[0].amount == Decimal("50000.00") and bureau.requests[0].scene == "admission"
    record = await RiskReportRecord.get(id=passed.report_id)
    assert {s["source"]: (s["calls"], s["cost"]) for s in record.report["sources"]} == {
        "own_data": (2, "0"), "bureau": (1, "2.00")}
    assert record.total_cost == Decimal("2.00") and record.report["billed"]["bureau"] == "2.00"
    expression = record.report["rules"][2]["expressions"][0]
    assert (expression["indicator"], expression["operator"], expression["expected"], expression["actual"],
            expression["hit"]) == ("bureau.credit_score", "<", "600", "720", False)


async def test_a_blacklisted_person_is_rejected_by_the_first_rule(risk_host: PluginHost) -> None:
    admin = await make_user("bladmin", ["admin"])
    from core.actor import Actor

    await blacklist.add(Actor(admin.id, admin.account, admin.name, ("admin",)), id_number=ADULT_ID, reason="欺诈")
    await install_scene(scene_data())
    decision = await evaluate_scene("admission", subject(ADULT_ID))
    assert (decision.outcome, decision.reasons) == ("reject", ("blacklisted: reject",))
    record = await RiskReportRecord.get(id=decision.report_id)
    assert [r["status"] for r in record.report["rules"]] == ["evaluated", "skipped", "skipped"]
    assert bureau_of(risk_host).requests == []
    assert record.report["sourceNotes"]["own_data"] == ["blacklisted: 欺诈"]


async def test_scores_and_quotas_combine_and_are_stored_with_the_report(risk_host: PluginHost) -> None:
    rules = [
        {"name": "base score", "mode": "score", "score": "50", "expressions": [expr("own_data.age", ">=", 18)]},
        {"name": "good bureau", "mode": "score", "score": "30.5",
         "expressions": [expr("bureau.credit_score", ">=", 700)]},
        {"name": "few platforms", "mode": "score", "score": "10",
         "expressions": [expr("bureau.multi_platform_count", "<=", 2)]},
        {"name": "never hits", "mode": "score", "score": "1000", "expressions": [expr("own_data.age", ">", 99)]},
        {"name": "small amount quota", "mode": "quota", "quota": "200000",
         "expressions": [expr("own_data.requested_amount", "<=", "200000")]},
        {"name": "young quota", "mode": "quota", "quota": "80000", "expressions": [expr("own_data.age", "<", 40)]},
    ]
    await install_scene(scene_data("scoring", rules, scoreAggregation="sum", quotaAggregation="min"))
    decision = await evaluate_scene("scoring", subject())
    assert (decision.outcome, decision.score, decision.quota) == ("pass", Decimal("90.5"), Decimal("80000"))
    record = await RiskReportRecord.get(id=decision.report_id)
    assert (record.outcome, record.score, record.quota) == ("pass", Decimal("90.5"), Decimal("80000.00"))
    assert record.report["score"] == "90.5" and record.report["quota"] == "80000"
    # both bureau indicators fetched in ONE call (each rule fetches only what no earlier rule fetched)
    assert [r.indicators for r in bureau_of(risk_host).requests] == [("credit_score",), ("multi_platform_count",)]
    assert record.total_cost == Decimal("2.80")

    await install_scene(scene_data("scoring_max", rules, scoreAggregation="max", quotaAggregation="max"))
    best = await evaluate_scene("scoring_max", subject())
    assert (best.score, best.quota) == (Decimal("50"), Decimal("200000"))
    # a rejected evaluation proposes no quota
    await install_scene(scene_data("reject_quota", [
        rules[4], {"name": "too young", "mode": "result", "outcome": "reject",
                   "expressions": [expr("own_data.age", "<", 18)]}]))
    rejected = await evaluate_scene("reject_quota", subject(TEEN_ID))
    assert (rejected.outcome, rejected.quota) == ("reject", None)
    assert (await RiskReportRecord.get(id=rejected.report_id)).quota is None


async def test_the_report_keeps_no_clear_identity(risk_host: PluginHost) -> None:
    await install_scene(scene_data())
    decision = await evaluate_scene("admission", subject(), loan_id=None)
    record = await RiskReportRecord.get(id=decision.report_id)
    text = json.dumps(record.subject_summary, ensure_ascii=False) + json.dumps(record.report, ensure_ascii=False)
    assert ADULT_ID not in text and "13800138000" not in text and "王小明" not in text
    assert record.subject_summary["idNumber"] == "*" * 14 + ADULT_ID[-4:]
    assert record.subject_summary["name"] == "王**" and record.subject_summary["amount"] == "50000.00"
    assert record.order_no == "ORD-0001" and record.scene_key == "admission" and record.rule_set_version == 1


async def test_a_failing_paid_source_follows_the_rules_missing_data_policy(risk_host: PluginHost) -> None:
    bureau = bureau_of(risk_host)
    bureau.fail = True
    await install_scene(scene_data())
    refer = await evaluate_scene("admission", subject())
    assert refer.outcome == "manual_review"
    assert refer.reasons[0] == "low credit score: manual_review (data missing: bureau.credit_score)"
    assert refer.reasons[1].startswith("source bureau unavailable: ")
    record = await RiskReportRecord.get(id=refer.report_id)
    assert record.report["source_failures"][0]["indicators"] == ["bureau.credit_score"]
    assert record.total_cost == Decimal("2.00")  # a failed paid request is still charged
    assert await SystemAlert.filter(code="PLUGIN_FAILURE").exists()

    strict = scene_data("strict")
    strict["rules"][2]["onMissing"] = "fail"
    await install_scene(strict)
    assert (await evaluate_scene("strict", subject())).outcome == "reject"
    lenient = scene_data("lenient")
    lenient["rules"][2]["onMissing"] = "pass"
    await install_scene(lenient)
    assert (await evaluate_scene("lenient", subject())).outcome == "pass"


async def test_a_source_switched_off_after_approval_is_missing_data_not_a_crash(risk_host: PluginHost) -> None:
    await install_scene(scene_data())
    alone = host_from_dict({"plugins": {"own_data": {}}}, entry_points=False)
    async with plugin_runtime(alone):
        decision = await evaluate_scene("admission", subject())
        assert decision.outcome == "manual_review"
        assert any("source bureau unavailable" in r for r in decision.reasons)
        # a decisive free rule still short-circuits without the missing source
        assert (await evaluate_scene("admission", subject(TEEN_ID))).outcome == "reject"


async def test_unknown_disabled_or_ruleless_scenes_are_typed_errors(risk_host: PluginHost) -> None:
    with pytest.raises(UserError) as exc:
        await evaluate_scene("nope", subject())
    assert (exc.value.errors[0].field, exc.value.code.value) == ("riskSceneKey", "NOT_FOUND")
    scene = await install_scene(scene_data())
    await RiskScene.filter(id=scene.id).update(enabled=False)
    with pytest.raises(UserError) as exc:
        await evaluate_scene("admission", subject())
    assert (exc.value.errors[0].field, exc.value.code.value) == ("riskSceneKey", "INVALID_STATE")
    await RiskScene.filter(id=scene.id).update(enabled=True, rule_set_version=7)
    with pytest.raises(UserError) as exc:
        await evaluate_scene("admission", subject())
    assert (exc.value.errors[0].field, exc.value.code.value) == ("riskSceneKey", "NOT_FOUND")
    await RiskScene.filter(id=scene.id).update(rule_set_version=1)
    with pytest.raises(UserError) as exc:
        await evaluate_scene("admission", subject(amount=Decimal("-1")))
    assert exc.value.errors[0].field == "amount"
    assert await RiskReportRecord.all().count() == 0
