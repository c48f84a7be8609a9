"""Property: no source is ever called for a rule that comes after a reject (F-RISK-3)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from core.risk.engine import (
    MissingPolicy,
    Outcome,
    ResultCombination,
    RiskEngine,
    Rule,
    RuleMode,
    RuleSet,
    RuleStatus,
    Scene,
)
from core.risk.expressions import OWN_SOURCE, Expression, Indicator, IndicatorType

CATALOG = {
    i.name: i
    for i in (
        Indicator("own_a", IndicatorType.NUMBER),
        Indicator("own_b", IndicatorType.NUMBER),
        Indicator("paid_a1", IndicatorType.NUMBER, source="paid_a", cost=Decimal("0.10")),
        Indicator("paid_a2", IndicatorType.NUMBER, source="paid_a", cost=Decimal("0.25")),
        Indicator("paid_b1", IndicatorType.NUMBER, source="paid_b", cost=Decimal("1.00")),
        Indicator("paid_b2", IndicatorType.NUMBER, source="paid_b", cost=Decimal("2.50")),
    )
}
NAMES = sorted(CATALOG)


class LoggingProvider:
    def __init__(self, values: Mapping[str, Any], log: list[str]) -> None:
        self.values = values
        self.log = log

    async def fetch(self, names: Sequence[str], subject: Mapping[str, Any]) -> Mapping[str, Any]:
        self.log.extend(names)
        return {n: self.values[n] for n in names if n in self.values}


small = st.integers(min_value=0, max_value=5).map(str)
expressions = st.one_of(
    st.builds(Expression, st.sampled_from(NAMES), st.sampled_from(["==", "!=", ">", ">=", "<", "<="]), small),
    st.builds(Expression, st.sampled_from(NAMES), st.just("in"), st.lists(small, min_size=1, max_size=3)),
    st.builds(Expression, st.sampled_from(NAMES), st.just("between"),
              st.tuples(small, small).map(lambda t: sorted(t, key=int))),
    st.builds(Expression, st.sampled_from(NAMES), st.sampled_from(["is_null", "not_null"])),
)


@st.composite
def rules(draw: st.DrawFn, index: int) -> Rule:
    mode = draw(st.sampled_from(list(RuleMode)))
    exprs = tuple(draw(st.lists(expressions, min_size=1, max_size=3)))
    payload: dict[str, Any] = {
        RuleMode.RESULT: {"outcome": draw(st.sampled_from(list(Outcome)))},
        RuleMode.SCORE: {"score": Decimal(draw(st.integers(-10, 10)))},
        RuleMode.QUOTA: {"quota": Decimal(draw(st.integers(0, 10_000)))},
    }[mode]
    return Rule(f"rule {index}", mode, exprs, logic=draw(st.sampled_from(["all", "any"])),
                on_missing=draw(st.sampled_from(list(MissingPolicy))), **payload)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[RuleSet, dict[str, int]]:
    count = draw(st.integers(min_value=1, max_value=8))
    rule_list = tuple(draw(rules(i)) for i in range(count))
    combination = draw(st.sampled_from(list(ResultCombination)))
    values = draw(st.dictionaries(st.sampled_from(NAMES), st.integers(0, 5)))
    return RuleSet(Scene.CREDIT, rule_list, result_combination=combination), values


def run(rule_set: RuleSet, values: dict[str, int]) -> tuple[Any, list[str]]:
    log: list[str] = []
    providers = {src: LoggingProvider(values, log) for src in (OWN_SOURCE, "paid_a", "paid_b")}
    report = asyncio.run(RiskEngine(CATALOG, providers).evaluate(rule_set, {}))
    return report, log


@settings(max_examples=300, deadline=None, database=None)
@given(scenarios())
def test_no_source_is_called_for_a_rule_after_a_reject(scenario: tuple[RuleSet, dict[str, int]]) -> None:
    rule_set, values = scenario
    report, log = run(rule_set, values)

    evaluated = [r for r in report.rules if r.status is RuleStatus.EVALUATED]
    needed_by_evaluated = {e.indicator for r in evaluated for e in r.expressions}
    assert set(log) <= needed_by_evaluated  # only rules that ran caused fetches
    assert len(log) == len(set(log))  # each indicator fetched at most once
    assert report.total_cost == sum((CATALOG[n].cost for n in log), Decimal(0))

    if rule_set.result_combination is ResultCombination.ALL_PASS:
        rejects = [r.index for r in evaluated if r.outcome is Outcome.REJECT]
        if rejects:
            first = rejects[0]
            assert report.decision is Outcome.REJECT
            assert rejects == [first]
            assert all(r.status is RuleStatus.SKIPPED for r in report.rules[first + 1:])
            allowed = {e.indicator for rule in rule_set.rules[: first + 1] for e in rule.expressions}
            assert set(log) <= allowed
        else:
            assert report.decision is not Outcome.REJECT
            assert len(evaluated) == len(rule_set.rules)


@settings(max_examples=100, deadline=None, database=None)
@given(scenarios())
def test_every_report_is_json_ready(scenario: tuple[RuleSet, dict[str, int]]) -> None:
    report, _ = run(*scenario)
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert len(data["rules"]) == len(scenario[0].rules)
