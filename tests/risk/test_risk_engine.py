"""Rule modes, combinations, short-circuit, lazy fetching, missing values, validation, report."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import pytest

from core.risk.engine import (
    Aggregation,
    Logic,
    MissingPolicy,
    Outcome,
    ResultCombination,
    RiskEngine,
    Rule,
    RuleMode,
    RuleSet,
    RuleSetInvalid,
    RuleStatus,
    Scene,
)
from core.risk.expressions import OWN_SOURCE, Expression

E = Expression
SUBJECT = {"customer_id": 42}


def result(name: str, *exprs: Expression, outcome: Outcome = Outcome.REJECT, logic: Logic = Logic.ALL,
           on_missing: MissingPolicy = MissingPolicy.MANUAL_REVIEW) -> Rule:
    return Rule(name, RuleMode.RESULT, exprs, logic=logic, outcome=outcome, on_missing=on_missing)


def score(name: str, points: str, *exprs: Expression) -> Rule:
    return Rule(name, RuleMode.SCORE, exprs, score=Decimal(points))


def quota(name: str, amount: str, *exprs: Expression) -> Rule:
    return Rule(name, RuleMode.QUOTA, exprs, quota=Decimal(amount))


def rule_set(*rules: Rule, **kwargs: Any) -> RuleSet:
    return RuleSet(Scene.CREDIT, rules, **kwargs)


# --------------------------------------------------------------------------- result mode


async def test_all_pass_with_no_hits_passes(engine: RiskEngine) -> None:
    report = await engine.evaluate(rule_set(
        result("too young", E("age", "<", "18")),
        result("blacklisted", E("blacklist_hit", "==", True)),
    ), SUBJECT)
    assert report.decision is Outcome.PASS
    assert [r.hit for r in report.rules] == [False, False]
    assert [r.outcome for r in report.rules] == [None, None]


async def test_all_pass_reject_beats_manual_review(engine: RiskEngine) -> None:
    report = await engine.evaluate(rule_set(
        result("check city", E("city", "==", "Shanghai"), outcome=Outcome.MANUAL_REVIEW),
        result("adult", E("age", ">=", "18")),
    ), SUBJECT)
    assert [r.outcome for r in report.rules] == [Outcome.MANUAL_REVIEW, Outcome.REJECT]
    assert report.decision is Outcome.REJECT


async def test_all_pass_manual_review_when_no_reject(engine: RiskEngine) -> None:
    report = await engine.evaluate(rule_set(
        result("check city", E("city", "==", "Shanghai"), outcome=Outcome.MANUAL_REVIEW),
        result("too young", E("age", "<", "18")),
    ), SUBJECT)
    assert report.decision is Outcome.MANUAL_REVIEW


async def test_any_pass_passes_through_an_explicit_pass(engine: RiskEngine) -> None:
    report = await engine.evaluate(rule_set(
        result("adult", E("age", ">=", "18")),  # rejects, but any-pass keeps going
        result("employed", E("has_job", "==", True), outcome=Outcome.PASS),
        result("not needed", E("court_records", ">", "0")),  # paid, skipped after the pass
        result_combination=ResultCombination.ANY_PASS,
    ), SUBJECT)
    assert report.decision is Outcome.PASS
    assert report.rules[2].status is RuleStatus.SKIPPED
    assert report.rules[2].skip_reason == "not needed: any-pass satisfied at rule 1"
    assert [s.source for s in report.sources] == [OWN_SOURCE]


async def test_any_pass_without_a_pass_rejects_or_asks_for_review(engine: RiskEngine) -> None:
    rejecting = await engine.evaluate(rule_set(
        result("adult", E("age", ">=", "18")),
        result("rich", E("income", ">", "1000000"), outcome=Outcome.PASS),
        result_combination=ResultCombination.ANY_PASS,
    ), SUBJECT)
    assert rejecting.decision is Outcome.REJECT
    nothing_hit = await engine.evaluate(rule_set(
        result("rich", E("income", ">", "1000000"), outcome=Outcome.PASS),
        result_combination=ResultCombination.ANY_PASS,
    ), SUBJECT)
    assert nothing_hit.decision is Outcome.MANUAL_REVIEW


async def test_expression_logic_all_and_any(engine: RiskEngine) -> None:
    exprs = (E("age", ">", "18"), E("city", "==", "Beijing"))
    report = await engine.evaluate(rule_set(
        result("and", *exprs, logic=Logic.ALL, outcome=Outcome.MANUAL_REVIEW),
        result("or", *exprs, logic=Logic.ANY, outcome=Outcome.MANUAL_REVIEW),
    ), SUBJECT)
    assert [r.hit for r in report.rules] == [False, True]
    assert [e.hit for e in report.rules[0].expressions] == [True, False]


# --------------------------------------------------------------------------- score and quota


@pytest.mark.parametrize(("how", "expected"), [(Aggregation.SUM, "35"), (Aggregation.MAX, "20"),
                                               (Aggregation.MIN, "-5")])
async def test_scores_combine(engine: RiskEngine, how: Aggregation, expected: str) -> None:
    report = await engine.evaluate(rule_set(
        score("adult", "20", E("age", ">=", "18")),
        score("employed", "20", E("has_job", "==", True)),
        score("no hit", "100", E("city", "==", "Lhasa")),
        score("many loans", "-5", E("multi_loans", ">=", "2")),
        score_aggregation=how,
    ), SUBJECT)
    assert report.score == Decimal(expected)
    assert report.decision is Outcome.PASS
    assert [r.score for r in report.rules] == [Decimal(20), Decimal(20), None, Decimal(-5)]


@pytest.mark.parametrize(("how", "expected"), [(Aggregation.SUM, "15000"), (Aggregation.MAX, "10000"),
                                               (Aggregation.MIN, "5000")])
async def test_quotas_combine(engine: RiskEngine, how: Aggregation, expected: str) -> None:
    report = await engine.evaluate(rule_set(
        quota("base", "5000", E("age", "between", ["18", "60"])),
        quota("income", "10000", E("income", ">", "8000")),
        quota("no hit", "99999", E("has_job", "==", False)),
        quota_aggregation=how,
    ), SUBJECT)
    assert report.quota == Decimal(expected)


async def test_no_hits_sum_is_zero_max_is_none(engine: RiskEngine) -> None:
    rules = (score("never", "10", E("age", ">", "200")), quota("never", "10", E("age", ">", "200")))
    summed = await engine.evaluate(rule_set(*rules), SUBJECT)
    assert (summed.score, summed.quota) == (Decimal(0), None)  # quota default is MIN
    maxed = await engine.evaluate(rule_set(*rules, score_aggregation=Aggregation.MAX), SUBJECT)
    assert maxed.score is None
    only_result = await engine.evaluate(rule_set(result("x", E("age", ">", "200"))), SUBJECT)
    assert (only_result.score, only_result.quota) == (None, None)


async def test_rejected_evaluation_proposes_no_quota(engine: RiskEngine) -> None:
    report = await engine.evaluate(rule_set(
        quota("base", "5000", E("age", ">=", "18")),
        result("employed", E("has_job", "==", True)),
    ), SUBJECT)
    assert report.decision is Outcome.REJECT
    assert report.quota is None
    assert report.rules[0].quota == Decimal(5000)  # still visible per rule


# --------------------------------------------------------------------------- short-circuit and costs


async def test_reject_short_circuits_paid_sources(engine: RiskEngine, providers: dict[str, Any]) -> None:
    report = await engine.evaluate(rule_set(
        result("adult", E("age", ">=", "18")),  # free, rejects
        result("court", E("court_records", ">", "0")),
        score("loans", "10", E("multi_loans", "<", "3")),
        result("blacklist", E("blacklist_hit", "==", True)),
    ), SUBJECT)
    assert report.decision is Outcome.REJECT
    assert providers["bureau"].calls == []
    assert providers["blacklist"].calls == []
    assert [r.status for r in report.rules] == [RuleStatus.EVALUATED] + [RuleStatus.SKIPPED] * 3
    assert {r.skip_reason for r in report.rules[1:]} == {"short-circuited after reject at rule 0"}
    assert report.total_cost == Decimal(0)
    assert [(s.source, s.calls, s.cost) for s in report.sources] == [(OWN_SOURCE, 1, Decimal(0))]
    assert report.score is None  # the only score rule never ran


async def test_fetches_lazily_per_rule_grouped_by_source_and_bills(
    engine: RiskEngine, providers: dict[str, Any]
) -> None:
    report = await engine.evaluate(rule_set(
        result("young", E("age", "<", "18"), E("city", "==", "Lhasa"), logic=Logic.ANY),
        result("bureau", E("multi_loans", ">", "5"), E("court_records", ">", "0"), E("age", ">", "70")),
        result("court again", E("court_records", ">", "3")),  # already fetched: no new call
        result("blacklist", E("blacklist_hit", "==", True)),
    ), SUBJECT)
    assert report.decision is Outcome.PASS
    assert providers[OWN_SOURCE].calls == [("age", "city")]
    assert providers["bureau"].calls == [("multi_loans", "court_records")]
    assert providers["blacklist"].calls == [("blacklist_hit",)]
    usage = {s.source: (s.calls, s.cost) for s in report.sources}
    assert usage == {OWN_SOURCE: (1, Decimal(0)), "bureau": (1, Decimal("1.70")),
                     "blacklist": (1, Decimal("0.30"))}
    assert report.total_cost == Decimal("2.00")


async def test_reject_in_the_middle_stops_later_paid_calls(
    engine: RiskEngine, providers: dict[str, Any]
) -> None:
    providers["bureau"].values["court_records"] = 2
    report = await engine.evaluate(rule_set(
        result("court", E("court_records", ">", "0")),
        result("blacklist", E("blacklist_hit", "==", True)),
    ), SUBJECT)
    assert report.decision is Outcome.REJECT
    assert providers["bureau"].calls == [("court_records",)]
    assert providers["blacklist"].calls == []
    assert report.total_cost == Decimal("1.20")


# --------------------------------------------------------------------------- missing values


@pytest.mark.parametrize(
    ("policy", "outcome", "decision"),
    [(MissingPolicy.MANUAL_REVIEW, Outcome.MANUAL_REVIEW, Outcome.MANUAL_REVIEW),
     (MissingPolicy.FAIL, Outcome.REJECT, Outcome.REJECT),
     (MissingPolicy.PASS, Outcome.PASS, Outcome.PASS)],
)
async def test_missing_value_policy(engine: RiskEngine, providers: dict[str, Any], policy: MissingPolicy,
                                    outcome: Outcome, decision: Outcome) -> None:
    del providers["bureau"].values["court_records"]
    report = await engine.evaluate(rule_set(
        result("court", E("court_records", ">", "0"), on_missing=policy),
        result("after", E("blacklist_hit", "==", True)),
    ), SUBJECT)
    rule = report.rules[0]
    assert (rule.hit, rule.outcome, rule.missing_policy_applied) == (None, outcome, policy)
    assert rule.expressions[0].note == "missing value"
    assert report.decision is decision
    assert (report.rules[1].status is RuleStatus.SKIPPED) is (policy is MissingPolicy.FAIL)


async def test_default_missing_policy_is_manual_review() -> None:
    assert Rule("x", RuleMode.RESULT, (E("age", ">", "1"),), outcome=Outcome.REJECT).on_missing \
        is MissingPolicy.MANUAL_REVIEW


async def test_missing_value_does_not_matter_when_another_expression_decides(
    engine: RiskEngine, providers: dict[str, Any]
) -> None:
    del providers["bureau"].values["court_records"]
    report = await engine.evaluate(rule_set(
        result("all", E("court_records", ">", "0"), E("age", ">", "100")),  # age is False: ALL is False
        result("any", E("court_records", ">", "0"), E("age", ">", "18"), logic=Logic.ANY,
               outcome=Outcome.MANUAL_REVIEW),  # age is True: ANY is True
    ), SUBJECT)
    assert [(r.hit, r.missing_policy_applied) for r in report.rules] == [(False, None), (True, None)]


async def test_missing_value_in_score_rule(engine: RiskEngine, providers: dict[str, Any]) -> None:
    del providers["bureau"].values["multi_loans"]
    rule = Rule("loans", RuleMode.SCORE, (E("multi_loans", "<", "3"),), score=Decimal(10),
                on_missing=MissingPolicy.PASS)
    report = await engine.evaluate(rule_set(rule), SUBJECT)
    assert (report.decision, report.score, report.rules[0].outcome) == (Outcome.PASS, Decimal(0), None)
    default = await engine.evaluate(rule_set(score("loans", "10", E("multi_loans", "<", "3"))), SUBJECT)
    assert default.decision is Outcome.MANUAL_REVIEW


class _Broken:
    async def fetch(self, names: Sequence[str], subject: Mapping[str, Any]) -> Mapping[str, Any]:
        raise ConnectionError("bureau down")


class _Slow:
    async def fetch(self, names: Sequence[str], subject: Mapping[str, Any]) -> Mapping[str, Any]:
        await asyncio.sleep(5)
        return {}


class _NotAMapping:
    async def fetch(self, names: Sequence[str], subject: Mapping[str, Any]) -> Any:
        return [1, 2]


@pytest.mark.parametrize(("provider", "error"), [(_Broken(), "ConnectionError: bureau down"),
                                                 (_Slow(), "timed out after 0.05s"),
                                                 (_NotAMapping(), "expected a mapping")])
async def test_failing_source_is_isolated_and_still_billed(
    catalog: dict[str, Any], providers: dict[str, Any], provider: Any, error: str
) -> None:
    engine = RiskEngine(catalog, {**providers, "bureau": provider}, fetch_timeout=0.05)
    report = await engine.evaluate(rule_set(
        result("court", E("court_records", ">", "0"), E("court_records", "is_null", None), logic=Logic.ANY),
        result("adult", E("age", "<", "18")),
    ), SUBJECT)
    assert report.rules[0].hit is None  # a failed source proves nothing, not even null
    assert report.rules[0].outcome is Outcome.MANUAL_REVIEW
    assert report.rules[0].expressions[0].note == "source unavailable"
    assert report.decision is Outcome.MANUAL_REVIEW
    assert [(f.source, f.indicators) for f in report.source_failures] == [("bureau", ("court_records",))]
    assert error in report.source_failures[0].error
    assert report.total_cost == Decimal("1.20")


async def test_subject_is_passed_read_only(catalog: dict[str, Any]) -> None:
    seen: list[Mapping[str, Any]] = []

    class Spy:
        async def fetch(self, names: Sequence[str], subject: Mapping[str, Any]) -> Mapping[str, Any]:
            seen.append(subject)
            return {"age": 40}

    engine = RiskEngine(catalog, {OWN_SOURCE: Spy()})
    await engine.evaluate(rule_set(result("x", E("age", "<", "18"))), {"id": 1})
    assert seen[0]["id"] == 1
    with pytest.raises(TypeError):
        seen[0]["id"] = 2  # type: ignore[index]


# --------------------------------------------------------------------------- validation


async def test_validation_reports_every_problem_with_rule_index_and_field(engine: RiskEngine) -> None:
    bad = RuleSet("nowhere", (  # type: ignore[arg-type]
        Rule("", RuleMode.RESULT, (E("age", "~=", 1), E("city", ">", "A")), outcome=Outcome.REJECT),
        Rule("no exprs", RuleMode.RESULT, (), outcome=Outcome.REJECT),
        Rule("types", RuleMode.RESULT, (E("age", "==", "old"), E("unknown", "==", 1)), outcome="deny"),  # type: ignore[arg-type]
        Rule("score", RuleMode.SCORE, (E("age", ">", "1"),), outcome=Outcome.PASS),
        Rule("quota", RuleMode.QUOTA, (E("age", ">", "1"),), quota=Decimal(-1)),
        Rule("float score", RuleMode.SCORE, (E("age", ">", "1"),), score=1.5),  # type: ignore[arg-type]
        Rule("mode", "magic", (E("age", ">", "1"),), logic="xor"),  # type: ignore[arg-type]
    ), score_aggregation="avg")  # type: ignore[arg-type]
    errors = {(e.rule_index, e.field) for e in bad.validate(engine.catalog)}
    assert errors == {
        (None, "scene"), (None, "score_aggregation"),
        (0, "name"), (0, "expressions[0].operator"), (0, "expressions[1].operator"),
        (1, "expressions"),
        (2, "expressions[0].value"), (2, "expressions[1].indicator"), (2, "outcome"),
        (3, "outcome"), (3, "score"),
        (4, "quota"),
        (5, "score"),
        (6, "mode"), (6, "logic"),
    }
    with pytest.raises(RuleSetInvalid) as info:
        await engine.evaluate(bad, SUBJECT)
    assert "rule 2, expressions[0].value: type mismatch for number indicator" in str(info.value)


async def test_empty_rule_set_and_unknown_source_are_refused(catalog: dict[str, Any],
                                                            providers: dict[str, Any]) -> None:
    engine = RiskEngine(catalog, {OWN_SOURCE: providers[OWN_SOURCE]})
    assert [str(e) for e in engine.check(rule_set())] == ["rule set, rules: a rule set needs at least one rule"]
    with pytest.raises(RuleSetInvalid, match="no provider for source 'bureau'"):
        await engine.evaluate(rule_set(result("x", E("court_records", ">", "0"))), SUBJECT)
    assert providers[OWN_SOURCE].calls == []  # nothing fetched for an invalid rule set


def test_duplicate_indicators_are_refused(catalog: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="duplicate indicator 'age'"):
        RiskEngine([catalog["age"], catalog["age"]], {})


def test_rule_modes_accept_stored_strings(engine: RiskEngine) -> None:
    stored = RuleSet("pre_review", (  # type: ignore[arg-type]
        Rule("x", "result", (E("age", ">", "1"),), logic="any", outcome="manual_review",  # type: ignore[arg-type]
             on_missing="fail"),  # type: ignore[arg-type]
    ), result_combination="any_pass", quota_aggregation="max")  # type: ignore[arg-type]
    assert stored.validate(engine.catalog) == []


# --------------------------------------------------------------------------- report


async def test_report_serializes_to_json(engine: RiskEngine, providers: dict[str, Any]) -> None:
    providers["bureau"].values["multi_loans"] = 0.5
    report = await engine.evaluate(RuleSet(Scene.DRAWDOWN, (
        score("loans", "12.5", E("multi_loans", "<", "1")),
        quota("registered", "3000.00", E("registered_on", "between", ["2024-01-01", "2024-12-31"])),
        result("city", E("city", "in", ["Beijing", "Shanghai"]), outcome=Outcome.MANUAL_REVIEW),
        result("adult", E("age", ">=", "18")),
        result("skipped", E("blacklist_hit", "==", True)),
    )), SUBJECT)
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["scene"] == "drawdown"
    assert data["decision"] == "reject"
    assert data["score"] == "12.5"
    assert data["quota"] is None
    assert data["total_cost"] == "0.50"
    assert data["sources"] == [{"source": "bureau", "calls": 1, "cost": "0.50"},
                               {"source": "OWN", "calls": 3, "cost": "0"}]
    loans = data["rules"][0]
    assert loans["mode"] == "score" and loans["status"] == "evaluated" and loans["score"] == "12.5"
    assert loans["expressions"] == [{"indicator": "multi_loans", "operator": "<", "expected": "1",
                                     "actual": "0.5", "hit": True, "note": None}]
    registered = data["rules"][1]["expressions"][0]
    assert registered["expected"] == ["2024-01-01", "2024-12-31"]
    assert registered["actual"] == "2024-03-01"
    assert data["rules"][2]["expressions"][0]["expected"] == ["Beijing", "Shanghai"]
    skipped = data["rules"][4]
    assert skipped["status"] == "skipped"
    assert skipped["skip_reason"] == "short-circuited after reject at rule 3"
    assert skipped["expressions"][0]["note"] == "not evaluated"
    assert "float" not in json.dumps(data)


async def test_report_keeps_unreadable_values_visible(engine: RiskEngine, providers: dict[str, Any]) -> None:
    providers[OWN_SOURCE].values["age"] = object()
    report = await engine.evaluate(rule_set(result("x", E("age", ">", "1"))), SUBJECT)
    expression = report.to_dict()["rules"][0]["expressions"][0]
    assert expression["actual"].startswith("<object object")
    assert expression["note"].startswith("unreadable value")


@pytest.mark.parametrize("scene", list(Scene))
async def test_every_scene_can_be_evaluated(engine: RiskEngine, scene: Scene) -> None:
    report = await engine.evaluate(RuleSet(scene, (result("x", E("age", "<", "18")),)), SUBJECT)
    assert report.scene is scene
    assert {s.value for s in Scene} == {"register_login", "pre_review", "credit", "drawdown"}
