"""GraphQL for the risk rules page (SPEC §11): scenes, their rule sets, the indicator catalogue, risk reports.

Scene and rule-set changes go through maker-checker review and return the change request, like
products. Rules arrive in the engine's shape; problems come back in the payload's `errors` with the
input path (``rules[2].expressions[0].operator``). Scenes are platform configuration (no data scope);
risk reports are about one product's applicants, so they are read within the caller's data scope
(applied in SQL on the report's product). Lists load their nested rule sets through one dataloader
per request. Decimals travel as strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry import UNSET
from strawberry.dataloader import DataLoader
from strawberry.scalars import JSON
from strawberry.types import Info

from core.review.models import ChangeAction
from core.risk.engine import Aggregation, Logic, MissingPolicy, Outcome, ResultCombination, RuleMode, Scene
from core.risk.rule_entity import RISK_SCENE, indicator_catalog
from core.risk.rule_models import RiskReportRecord, RiskRuleSet, RiskScene
from schema.accounts import ChangePayload
from schema.guard import guarded, guarded_mutation
from schema.relay import Connection, connection, decode, decode_optional, gid, paginate
from schema.review import submit_change

SceneKindEnum = strawberry.enum(Scene, name="RiskSceneKind", description="注册登录 / 预审 / 授信 / 支用.")
RuleModeEnum = strawberry.enum(RuleMode, name="RiskRuleMode", description="结果 / 计分 / 额度.")
LogicEnum = strawberry.enum(Logic, name="RiskRuleLogic", description="All expressions must hit, or any one.")
OutcomeEnum = strawberry.enum(Outcome, name="RiskOutcome")
MissingPolicyEnum = strawberry.enum(MissingPolicy, name="RiskMissingPolicy",
                                    description="What a rule yields when missing data leaves it undecided.")
CombinationEnum = strawberry.enum(ResultCombination, name="RiskResultCombination",
                                  description="都通过就通过 (all_pass) / 有通过就通过 (any_pass).")
AggregationEnum = strawberry.enum(Aggregation, name="RiskAggregation", description="最大 / 最小 / 求和.")
REPORT_NODES = ("risk_rules", "loan_orders", "credit_review")


def _opt(type_name: str, pk: int | None) -> strawberry.ID | None:
    return gid(type_name, pk) if pk else None


@strawberry.type(name="RiskExpression", description="indicator · operator · value (the value as JSON).")
class ExpressionType:
    indicator: str
    operator: str
    value: JSON | None


@strawberry.type(name="RiskRule")
class RuleType:
    name: str
    mode: RuleModeEnum  # type: ignore[valid-type]
    logic: LogicEnum  # type: ignore[valid-type]
    outcome: OutcomeEnum | None  # type: ignore[valid-type]
    score: str | None
    quota: str | None
    on_missing: MissingPolicyEnum  # type: ignore[valid-type]
    expressions: list[ExpressionType]

    @classmethod
    def of(cls, r: Mapping[str, Any]) -> RuleType:
        return cls(name=r["name"], mode=RuleMode(r["mode"]), logic=Logic(r["logic"]),
                   outcome=Outcome(r["outcome"]) if r["outcome"] else None, score=r["score"], quota=r["quota"],
                   on_missing=MissingPolicy(r["onMissing"]),
                   expressions=[ExpressionType(indicator=e["indicator"], operator=e["operator"], value=e["value"])
                                for e in r["expressions"]])


@strawberry.type(name="RiskRuleIndicator", description="An indicator as a rule set uses it (snapshot at approval).")
class RuleIndicatorType:
    name: str = strawberry.field(description="<source>.<indicator>, e.g. own_data.age")
    source: str
    type: str = strawberry.field(description="number, string, bool or date")
    cost: str = strawberry.field(description="Price per call at approval, yuan")


@strawberry.type(name="RiskRuleSet", description="One approved version of a scene's ordered rules.")
class RuleSetType:
    id: strawberry.ID
    scene_id: strawberry.ID
    version: int
    result_combination: CombinationEnum  # type: ignore[valid-type]
    score_aggregation: AggregationEnum  # type: ignore[valid-type]
    quota_aggregation: AggregationEnum  # type: ignore[valid-type]
    rules: list[RuleType] = strawberry.field(description="In evaluation order; evaluation stops after a reject.")
    indicators: list[RuleIndicatorType]
    maker_id: strawberry.ID | None
    checker_id: strawberry.ID | None
    created_at: datetime

    @classmethod
    def of(cls, rs: RiskRuleSet) -> RuleSetType:
        d = rs.definition
        return cls(id=gid("RiskRuleSet", rs.id), scene_id=gid("RiskScene", rs.scene_id),  # type: ignore[attr-defined]
                   version=rs.version, result_combination=ResultCombination(d["resultCombination"]),
                   score_aggregation=Aggregation(d["scoreAggregation"]),
                   quota_aggregation=Aggregation(d["quotaAggregation"]), rules=[RuleType.of(r) for r in d["rules"]],
                   indicators=[RuleIndicatorType(name=k, source=v["source"], type=v["type"], cost=v["cost"])
                               for k, v in rs.indicators.items()],
                   maker_id=_opt("User", rs.maker_id), checker_id=_opt("User", rs.checker_id),  # type: ignore[attr-defined]
                   created_at=rs.created_at)


@strawberry.type(name="RiskScene", description="A risk scene (场景) and the rule set in force.")
class SceneType:
    id: strawberry.ID
    key: str = strawberry.field(description="What products name as their risk scene (riskSceneKey)")
    name: str
    kind: SceneKindEnum  # type: ignore[valid-type]
    description: str
    enabled: bool
    rule_set_version: int
    version: int
    last_action: str
    reviewed_at: datetime | None
    created_at: datetime
    pk: strawberry.Private[int]

    @classmethod
    def of(cls, s: RiskScene) -> SceneType:
        return cls(id=gid("RiskScene", s.id), key=s.key, name=s.name, kind=Scene(s.kind), description=s.description,
                   enabled=s.enabled, rule_set_version=s.rule_set_version, version=s.version,
                   last_action=s.last_action, reviewed_at=s.reviewed_at, created_at=s.created_at, pk=s.id)

    @strawberry.field(description="The rule set in force.")
    async def rule_set(self, info: Info) -> RuleSetType | None:
        cache = info.context.cache
        if "risk_rule_sets" not in cache:
            async def load(keys: list[tuple[int, int]]) -> list[RuleSetType | None]:
                rows = await RiskRuleSet.filter(scene_id__in=list({k[0] for k in keys}))
                by_key = {(r.scene_id, r.version): r for r in rows}  # type: ignore[attr-defined]
                return [RuleSetType.of(by_key[k]) if k in by_key else None for k in keys]
            cache["risk_rule_sets"] = DataLoader(load_fn=load)
        return await cache["risk_rule_sets"].load((self.pk, self.rule_set_version))


@strawberry.type(name="RiskReport", description="The stored result of one evaluation (风控报告); identity masked.")
class ReportType:
    id: strawberry.ID
    scene_key: str
    scene_kind: str
    rule_set_version: int
    loan_id: strawberry.ID | None
    product_id: strawberry.ID | None
    order_no: str
    outcome: OutcomeEnum  # type: ignore[valid-type]
    score: str | None
    quota: str | None
    total_cost: str = strawberry.field(description="Declared price of every source call attempted, yuan")
    subject: JSON = strawberry.field(description="Masked identity, amount, term, product, channel, order")
    report: JSON = strawberry.field(description="Rules, expressions, values, results, sources called, cost, billing")
    created_at: datetime

    @classmethod
    def of(cls, r: RiskReportRecord) -> ReportType:
        return cls(id=gid("RiskReport", r.id), scene_key=r.scene_key, scene_kind=r.scene_kind,
                   rule_set_version=r.rule_set_version, loan_id=_opt("Loan", r.loan_id),  # type: ignore[attr-defined]
                   product_id=_opt("Product", r.product_id), order_no=r.order_no,  # type: ignore[attr-defined]
                   outcome=Outcome(r.outcome), score=None if r.score is None else str(r.score),
                   quota=None if r.quota is None else str(r.quota), total_cost=str(r.total_cost),
                   subject=r.subject_summary, report=r.report, created_at=r.created_at)


@strawberry.type(name="RiskIndicatorOption", description="An indicator rules may use now, by qualified name.")
class IndicatorOptionType:
    name: str = strawberry.field(description="<source>.<indicator>: write this in an expression")
    source: str
    type: str
    cost: str


@strawberry.input(name="RiskExpressionInput")
class ExpressionInput:
    indicator: str = strawberry.field(description="<source>.<indicator>, e.g. own_data.age")
    operator: str = strawberry.field(description="==, !=, >, >=, <, <=, in, not_in, between, contains, is_null, "
                                                 "not_null")
    value: JSON | None = strawberry.field(default=None, description="Numbers as strings or integers (no floats); "
                                                                      "a list for in / not_in / between")


@strawberry.input(name="RiskRuleInput")
class RuleInput:
    name: str
    mode: RuleModeEnum  # type: ignore[valid-type]
    expressions: list[ExpressionInput]
    logic: LogicEnum = Logic.ALL  # type: ignore[valid-type]
    outcome: OutcomeEnum | None = strawberry.field(default=None, description="result rules")  # type: ignore[valid-type]
    score: str | None = strawberry.field(default=None, description="score rules: added when the rule hits")
    quota: str | None = strawberry.field(default=None, description="quota rules: proposed when the rule hits")
    on_missing: MissingPolicyEnum = MissingPolicy.MANUAL_REVIEW  # type: ignore[valid-type]


@strawberry.input(name="RiskSceneInput", description="A scene and its whole rule set. On update an omitted field "
                  "keeps its value (rules, when given, replace the rule set) and the key cannot change.")
class SceneInput:
    key: str | None = UNSET
    name: str | None = UNSET
    kind: SceneKindEnum | None = UNSET  # type: ignore[valid-type]
    description: str | None = UNSET
    enabled: bool | None = UNSET
    result_combination: CombinationEnum | None = UNSET  # type: ignore[valid-type]
    score_aggregation: AggregationEnum | None = UNSET  # type: ignore[valid-type]
    quota_aggregation: AggregationEnum | None = UNSET  # type: ignore[valid-type]
    rules: list[RuleInput] | None = UNSET


def _value(v: Any) -> Any:
    return v.value if isinstance(v, Enum) else v


def scene_data(inp: SceneInput) -> dict[str, Any]:
    """The entity's input dict (camelCase keys, enum values); omitted fields are left out."""
    out: dict[str, Any] = {}
    for attr, key in (("key", "key"), ("name", "name"), ("kind", "kind"), ("description", "description"),
                      ("enabled", "enabled"), ("result_combination", "resultCombination"),
                      ("score_aggregation", "scoreAggregation"), ("quota_aggregation", "quotaAggregation")):
        value = getattr(inp, attr)
        if value is not UNSET and value is not None:
            out[key] = _value(value)
    if inp.rules is not UNSET and inp.rules is not None:
        out["rules"] = [{"name": r.name, "mode": _value(r.mode), "logic": _value(r.logic),
                         "outcome": _value(r.outcome), "score": r.score, "quota": r.quota,
                         "onMissing": _value(r.on_missing),
                         "expressions": [{"indicator": e.indicator, "operator": e.operator, "value": e.value}
                                         for e in r.expressions]} for r in inp.rules]
    return out


@strawberry.input(name="RiskSceneFilter")
class SceneFilter:
    keyword: str | None = strawberry.field(default=None, description="Key or name contains")
    kind: SceneKindEnum | None = None  # type: ignore[valid-type]
    enabled: bool | None = None


@strawberry.type
class RiskRulesQuery:
    @guarded("risk_rules", description="Risk scenes with the rule set in force.")
    async def risk_scenes(self, info: Info, filter: SceneFilter | None = None, first: int | None = None,
                          after: str | None = None) -> Connection[SceneType]:
        from tortoise.expressions import Q

        f = filter or SceneFilter()
        qs = RiskScene.all()
        if f.keyword and f.keyword.strip():
            qs = qs.filter(Q(key__icontains=f.keyword.strip()) | Q(name__icontains=f.keyword.strip()))
        if f.kind is not None:
            qs = qs.filter(kind=_value(f.kind))
        if f.enabled is not None:
            qs = qs.filter(enabled=f.enabled)
        return connection(await paginate(qs, first, after), SceneType.of)

    @guarded("risk_rules", description="One scene by id, or by key.")
    async def risk_scene(self, info: Info, id: strawberry.ID | None = None, key: str | None = None
                         ) -> SceneType | None:
        if id is not None:
            row = await RiskScene.get_or_none(id=decode(id, "RiskScene", "id"))
        else:
            row = await RiskScene.get_or_none(key=key or "")
        return SceneType.of(row) if row else None

    @guarded("risk_rules", description="Every approved version of a scene's rules, newest first.")
    async def risk_rule_sets(self, info: Info, scene_id: strawberry.ID, first: int | None = None,
                             after: str | None = None) -> Connection[RuleSetType]:
        qs = RiskRuleSet.filter(scene_id=decode(scene_id, "RiskScene", "sceneId"))
        return connection(await paginate(qs, first, after), RuleSetType.of)

    @guarded("risk_rules")
    async def risk_rule_set(self, info: Info, id: strawberry.ID) -> RuleSetType | None:
        row = await RiskRuleSet.get_or_none(id=decode(id, "RiskRuleSet", "id"))
        return RuleSetType.of(row) if row else None

    @guarded("risk_rules", description="Indicators rules may use now (own data and every running data source).")
    async def risk_rule_indicators(self, info: Info) -> list[IndicatorOptionType]:
        catalog = await indicator_catalog()
        return [IndicatorOptionType(name=i.name, source=i.source, type=i.type.value, cost=format(i.cost, "f"))
                for i in sorted(catalog.values(), key=lambda i: i.name)]

    @guarded(*REPORT_NODES, description="Risk reports within your data permission, newest first (by loan, order "
             "number or scene).")
    async def risk_reports(self, info: Info, loan_id: strawberry.ID | None = None, order_no: str | None = None,
                           scene_key: str | None = None, first: int | None = None,
                           after: str | None = None) -> Connection[ReportType]:
        qs = RiskReportRecord.filter(info.context.scope.products("product_id"))
        loan = decode_optional(loan_id, "Loan", "loanId")
        if loan is not None:
            qs = qs.filter(loan_id=loan)
        if order_no:
            qs = qs.filter(order_no=order_no.strip())
        if scene_key:
            qs = qs.filter(scene_key=scene_key.strip())
        return connection(await paginate(qs, first, after), ReportType.of)

    @guarded(*REPORT_NODES, description="One risk report; another bank's answers null like a missing one.")
    async def risk_report(self, info: Info, id: strawberry.ID) -> ReportType | None:
        row = await RiskReportRecord.filter(info.context.scope.products("product_id"),
                                            id=decode(id, "RiskReport", "id")).first()
        return ReportType.of(row) if row else None


async def _submit(info: Info, action: ChangeAction, scene_id: int | None, data: dict[str, Any],
                  checker_id: strawberry.ID, change_id: strawberry.ID | None) -> ChangePayload:
    return ChangePayload(change=await submit_change(info, RISK_SCENE.entity_type, action, scene_id, data,
                                                    checker_id, change_id))


@strawberry.type
class RiskRulesMutation:
    @guarded_mutation("risk_rules.create", description="Propose a new scene with its rules; the named checker must "
                      "approve it. With changeId, revise your pending proposal instead.")
    async def create_risk_scene(self, info: Info, input: SceneInput, checker_id: strawberry.ID,
                                change_id: strawberry.ID | None = None) -> ChangePayload:
        return await _submit(info, ChangeAction.CREATE, None, scene_data(input), checker_id, change_id)

    @guarded_mutation("risk_rules.update", description="Propose an edit of a scene or its rules (checked whole).")
    async def update_risk_scene(self, info: Info, id: strawberry.ID, input: SceneInput, checker_id: strawberry.ID,
                                change_id: strawberry.ID | None = None) -> ChangePayload:
        return await _submit(info, ChangeAction.UPDATE, decode(id, "RiskScene", "id"), scene_data(input),
                             checker_id, change_id)

    @guarded_mutation("risk_rules.delete", description="Propose deleting a scene (refused while products use it).")
    async def delete_risk_scene(self, info: Info, id: strawberry.ID, checker_id: strawberry.ID) -> ChangePayload:
        return await _submit(info, ChangeAction.DELETE, decode(id, "RiskScene", "id"), {}, checker_id, None)

