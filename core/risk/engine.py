"""Risk engine: evaluate a scene's rule set against one subject (F-RISK-1..3, seed 003).

Pure evaluation, no database: rule sets and the indicator catalogue are passed in, indicator
values come from :class:`IndicatorProvider` objects (the platform's own data and plugin data
sources, keyed by source name).

Semantics, decided here so every caller gets the same answer:

* **Lazy, per-rule fetching.** Before a rule runs, the engine fetches only the indicators that rule
  needs and that no earlier rule fetched, one call per source (sources of one rule in parallel).
  A paid source is therefore called only if a rule needing it actually runs. Every call attempted
  is counted and charged (the sum of the requested indicators' ``cost``), even if it fails:
  paid APIs bill per request.
* **Three-valued rules.** Expressions combine with ALL / ANY over ``True`` / ``False`` / unknown
  (Kleene logic): ``ALL`` is false as soon as one expression is false, even if another value is
  missing, because the missing value cannot change the result. Only a rule whose result is still
  unknown applies its :class:`MissingPolicy` (default: manual review, because a bank should not
  auto-approve or auto-reject on data it does not have).
* **Result combination.** ``ALL_PASS``: any reject → reject, else any manual review → manual
  review, else pass (a rule that did not hit raised no objection). ``ANY_PASS``: any rule that
  explicitly passed → pass, else any reject → reject, else manual review — a subject passes an
  any-pass set only through a rule that says "pass".
* **Short-circuit.** Under ``ALL_PASS`` a reject decides the result, so every later rule (of any
  mode) is skipped and its indicators are never fetched. Under ``ANY_PASS`` a reject decides
  nothing (a later rule may still pass), so evaluation continues; instead, once a rule passes,
  later *result* rules are skipped (score and quota rules still run, their values are wanted).
* **Scores and quotas** combine with max / min / sum over the rules that hit. With no hit, ``sum``
  gives 0 and ``max`` / ``min`` give ``None`` (they have no neutral element). A rejected
  evaluation proposes no quota.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import Enum, StrEnum
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

from core.risk.expressions import (
    UNAVAILABLE,
    CompiledExpression,
    Expression,
    ExpressionError,
    Indicator,
    IndicatorType,
    ValueTypeError,
    coerce_value,
    compile_expression,
)


class Scene(StrEnum):
    REGISTER_LOGIN = "register_login"
    PRE_REVIEW = "pre_review"
    CREDIT = "credit"
    DRAWDOWN = "drawdown"


class RuleMode(StrEnum):
    RESULT = "result"
    SCORE = "score"
    QUOTA = "quota"


class Outcome(StrEnum):
    PASS = "pass"
    REJECT = "reject"
    MANUAL_REVIEW = "manual_review"


class Logic(StrEnum):
    ALL = "all"
    ANY = "any"


class ResultCombination(StrEnum):
    ALL_PASS = "all_pass"
    ANY_PASS = "any_pass"


class Aggregation(StrEnum):
    MAX = "max"
    MIN = "min"
    SUM = "sum"


class MissingPolicy(StrEnum):
    """What a rule yields when a missing / unreadable value leaves its result unknown.

    ``FAIL`` → the rule rejects (any mode; under all-pass this short-circuits). ``PASS`` → a
    result rule passes; a score / quota rule contributes nothing. ``MANUAL_REVIEW`` (default) →
    the rule asks for manual review (any mode).
    """

    FAIL = "fail"
    PASS = "pass"
    MANUAL_REVIEW = "manual_review"


class RuleStatus(StrEnum):
    EVALUATED = "evaluated"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Rule:
    """N expressions combined with ``logic``; what a hit means depends on ``mode``:
    ``outcome`` for RESULT, ``score`` (added) for SCORE, ``quota`` (proposed) for QUOTA."""

    name: str
    mode: RuleMode
    expressions: Sequence[Expression]
    logic: Logic = Logic.ALL
    outcome: Outcome | None = None
    score: Decimal | None = None
    quota: Decimal | None = None
    on_missing: MissingPolicy = MissingPolicy.MANUAL_REVIEW


@dataclass(frozen=True)
class RuleSetError:
    """One configuration problem; ``rule_index`` is ``None`` for rule-set level fields."""

    rule_index: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = "rule set" if self.rule_index is None else f"rule {self.rule_index}"
        return f"{where}, {self.field}: {self.message}"


class RuleSetInvalid(ValueError):
    def __init__(self, errors: Sequence[RuleSetError]) -> None:
        super().__init__("invalid rule set: " + "; ".join(str(e) for e in errors))
        self.errors = tuple(errors)


@dataclass(frozen=True)
class RuleSet:
    """The ordered rules bound to a scene. Order matters: put free, decisive rules first."""

    scene: Scene
    rules: Sequence[Rule]
    result_combination: ResultCombination = ResultCombination.ALL_PASS
    score_aggregation: Aggregation = Aggregation.SUM
    quota_aggregation: Aggregation = Aggregation.MIN

    def validate(self, catalog: Mapping[str, Indicator]) -> list[RuleSetError]:
        """All problems at once (unknown operators, empty expressions, type mismatches, …)."""
        return _compile_rule_set(self, catalog)[1]


class IndicatorProvider(Protocol):
    """A data source. Returns the requested values it has; absent or ``None`` means "no value"."""

    async def fetch(self, names: Sequence[str], subject: Mapping[str, Any]) -> Mapping[str, Any]: ...


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class ExpressionReport:
    indicator: str
    operator: str
    expected: Any
    actual: Any
    hit: bool | None
    note: str | None = None


@dataclass(frozen=True)
class RuleReport:
    index: int
    name: str
    mode: RuleMode
    status: RuleStatus
    skip_reason: str | None
    logic: Logic
    hit: bool | None
    outcome: Outcome | None
    score: Decimal | None
    quota: Decimal | None
    missing_policy_applied: MissingPolicy | None
    expressions: tuple[ExpressionReport, ...]


@dataclass(frozen=True)
class SourceUsage:
    source: str
    calls: int
    cost: Decimal


@dataclass(frozen=True)
class SourceFailure:
    source: str
    indicators: tuple[str, ...]
    error: str


@dataclass(frozen=True)
class RiskReport:
    scene: Scene
    result_combination: ResultCombination
    decision: Outcome
    score: Decimal | None
    quota: Decimal | None
    rules: tuple[RuleReport, ...]
    sources: tuple[SourceUsage, ...]
    total_cost: Decimal
    source_failures: tuple[SourceFailure, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: Decimals as plain strings (never floats), dates ISO, enums by value."""
        result = _jsonable(self)
        assert isinstance(result, dict)
        return result


def _jsonable(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return repr(value)  # an unreadable value from a source: keep it visible, never crash the report


# --------------------------------------------------------------------------- compilation

_E = TypeVar("_E", bound=StrEnum)


def _enum(cls: type[_E], value: Any) -> _E | None:
    try:
        return cls(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class _CompiledRule:
    index: int
    name: str
    mode: RuleMode
    logic: Logic
    outcome: Outcome | None
    score: Decimal | None
    quota: Decimal | None
    on_missing: MissingPolicy
    expressions: tuple[CompiledExpression, ...]

    @property
    def indicators(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e.indicator.name for e in self.expressions))

    def evaluate(self, values: Mapping[str, Any]) -> RuleReport:
        outcomes = [e.evaluate(values.get(e.indicator.name)) for e in self.expressions]
        hit = _combine(self.logic, [o.hit for o in outcomes])
        outcome: Outcome | None = None
        score = quota = None
        applied: MissingPolicy | None = None
        if hit is True:
            outcome, score, quota = self.outcome, self.score, self.quota
        elif hit is None:
            applied = self.on_missing
            if applied is MissingPolicy.FAIL:
                outcome = Outcome.REJECT
            elif applied is MissingPolicy.MANUAL_REVIEW:
                outcome = Outcome.MANUAL_REVIEW
            elif self.mode is RuleMode.RESULT:
                outcome = Outcome.PASS
        reports = tuple(
            ExpressionReport(e.indicator.name, e.operator.value, e.expected, o.actual, o.hit, o.note)
            for e, o in zip(self.expressions, outcomes, strict=True)
        )
        return RuleReport(self.index, self.name, self.mode, RuleStatus.EVALUATED, None, self.logic,
                          hit, outcome, score, quota, applied, reports)

    def skipped(self, reason: str) -> RuleReport:
        reports = tuple(
            ExpressionReport(e.indicator.name, e.operator.value, e.expected, None, None, "not evaluated")
            for e in self.expressions
        )
        return RuleReport(self.index, self.name, self.mode, RuleStatus.SKIPPED, reason, self.logic,
                          None, None, None, None, None, reports)


def _combine(logic: Logic, hits: Sequence[bool | None]) -> bool | None:
    decisive = logic is Logic.ANY  # ANY: one True decides; ALL: one False decides
    if decisive in hits:
        return decisive
    if None in hits:
        return None
    return not decisive


@dataclass(frozen=True)
class _CompiledRuleSet:
    scene: Scene
    rules: tuple[_CompiledRule, ...]
    result_combination: ResultCombination
    score_aggregation: Aggregation
    quota_aggregation: Aggregation


def _compile_rule_set(
    rule_set: RuleSet, catalog: Mapping[str, Indicator]
) -> tuple[_CompiledRuleSet | None, list[RuleSetError]]:
    errors: list[RuleSetError] = []
    settings: dict[str, Any] = {}
    for field, cls in (("scene", Scene), ("result_combination", ResultCombination),
                       ("score_aggregation", Aggregation), ("quota_aggregation", Aggregation)):
        raw = getattr(rule_set, field)
        settings[field] = _enum(cls, raw)
        if settings[field] is None:
            errors.append(RuleSetError(None, field, f"unknown value {raw!r}"))
    if not rule_set.rules:
        errors.append(RuleSetError(None, "rules", "a rule set needs at least one rule"))
    rules: list[_CompiledRule] = []
    for index, rule in enumerate(rule_set.rules):
        compiled, rule_errors = _compile_rule(index, rule, catalog)
        errors.extend(rule_errors)
        if compiled is not None:
            rules.append(compiled)
    if errors:
        return None, errors
    return _CompiledRuleSet(rules=tuple(rules), **settings), []


def _compile_rule(
    index: int, rule: Rule, catalog: Mapping[str, Indicator]
) -> tuple[_CompiledRule | None, list[RuleSetError]]:
    errors: list[RuleSetError] = []

    def error(field: str, message: str) -> None:
        errors.append(RuleSetError(index, field, message))

    if not isinstance(rule.name, str) or not rule.name.strip():
        error("name", "must not be empty")
    parsed: dict[str, Any] = {}
    for field, cls in (("mode", RuleMode), ("logic", Logic), ("on_missing", MissingPolicy)):
        parsed[field] = _enum(cls, getattr(rule, field))
        if parsed[field] is None:
            error(field, f"unknown value {getattr(rule, field)!r}")
    expressions = []
    if not rule.expressions:
        error("expressions", "a rule needs at least one expression")
    for j, expr in enumerate(rule.expressions or ()):
        try:
            expressions.append(compile_expression(expr, catalog))
        except ExpressionError as exc:
            error(f"expressions[{j}].{exc.field}", exc.message)
    payload = _check_mode_payload(rule, parsed["mode"], error)
    if errors:
        return None, errors
    return _CompiledRule(index, rule.name, expressions=tuple(expressions), **parsed, **payload), []


def _check_mode_payload(
    rule: Rule, mode: RuleMode | None, error: Callable[[str, str], None]
) -> dict[str, Any]:
    """Each mode uses exactly one of outcome / score / quota; a stray one is a configuration slip."""
    payload: dict[str, Any] = {"outcome": None, "score": None, "quota": None}
    wanted = {RuleMode.RESULT: "outcome", RuleMode.SCORE: "score", RuleMode.QUOTA: "quota"}.get(mode)
    for field in payload:
        raw = getattr(rule, field)
        if field != wanted:
            if raw is not None and mode is not None:
                error(field, f"not used by {mode.value} rules")
            continue
        if raw is None:
            error(field, f"a {mode.value} rule needs a {field}")
        elif field == "outcome":
            payload[field] = _enum(Outcome, raw)
            if payload[field] is None:
                error(field, f"unknown outcome {raw!r}")
        else:
            try:
                payload[field] = coerce_value(raw, IndicatorType.NUMBER)
            except ValueTypeError as exc:
                error(field, str(exc))
                continue
            if field == "quota" and payload[field] < 0:
                error(field, "a quota cannot be negative")
    return payload


# --------------------------------------------------------------------------- evaluation


@dataclass
class _Usage:
    calls: int = 0
    cost: Decimal = Decimal(0)


class _Fetcher:
    """Per-evaluation cache of indicator values plus the bill for getting them."""

    def __init__(self, engine: RiskEngine, subject: Mapping[str, Any]) -> None:
        self._engine = engine
        self._subject = MappingProxyType(dict(subject))  # a provider must not alter the subject
        self._values: dict[str, Any] = {}
        self.usage: dict[str, _Usage] = {}
        self.failures: list[SourceFailure] = []

    async def fetch(self, names: Sequence[str]) -> Mapping[str, Any]:
        groups: dict[str, list[str]] = {}
        for name in names:
            if name not in self._values:
                groups.setdefault(self._engine.catalog[name].source, []).append(name)
        if groups:
            await asyncio.gather(*(self._call(source, wanted) for source, wanted in groups.items()))
        return {name: self._values[name] for name in names}

    async def _call(self, source: str, names: list[str]) -> None:
        usage = self.usage.setdefault(source, _Usage())
        usage.calls += 1
        usage.cost += sum((self._engine.catalog[n].cost for n in names), Decimal(0))
        timeout = self._engine.fetch_timeout
        try:
            async with asyncio.timeout(timeout):
                result = await self._engine.providers[source].fetch(tuple(names), self._subject)
            if not isinstance(result, Mapping):
                raise TypeError(f"provider returned {type(result).__name__}, expected a mapping")
        except TimeoutError:
            self._fail(source, names, f"timed out after {timeout}s")
        except Exception as exc:  # a broken plugin must not break the evaluation (F-PLG-4)
            self._fail(source, names, f"{type(exc).__name__}: {exc}")
        else:
            for name in names:
                self._values[name] = result.get(name)

    def _fail(self, source: str, names: list[str], error: str) -> None:
        self.failures.append(SourceFailure(source, tuple(names), error))
        for name in names:
            self._values[name] = UNAVAILABLE


class RiskEngine:
    """Evaluates rule sets; stateless between evaluations, safe to share."""

    def __init__(
        self,
        indicators: Iterable[Indicator] | Mapping[str, Indicator],
        providers: Mapping[str, IndicatorProvider],
        *,
        fetch_timeout: float | None = 10.0,
    ) -> None:
        items = indicators.values() if isinstance(indicators, Mapping) else indicators
        catalog: dict[str, Indicator] = {}
        for indicator in items:
            if indicator.name in catalog:
                raise ValueError(f"duplicate indicator {indicator.name!r}")
            catalog[indicator.name] = indicator
        self.catalog: Mapping[str, Indicator] = MappingProxyType(catalog)
        self.providers: Mapping[str, IndicatorProvider] = MappingProxyType(dict(providers))
        self.fetch_timeout = fetch_timeout

    def check(self, rule_set: RuleSet) -> list[RuleSetError]:
        """Rule-set validation plus "every source used has a provider"."""
        return _compile_rule_set(rule_set, self.catalog)[1] + self._missing_providers(rule_set)

    def _missing_providers(self, rule_set: RuleSet) -> list[RuleSetError]:
        errors = []
        for index, rule in enumerate(rule_set.rules):
            for j, expr in enumerate(rule.expressions or ()):
                indicator = self.catalog.get(expr.indicator)
                if indicator is not None and indicator.source not in self.providers:
                    errors.append(RuleSetError(index, f"expressions[{j}].indicator",
                                               f"no provider for source {indicator.source!r}"))
        return errors

    async def evaluate(self, rule_set: RuleSet, subject: Mapping[str, Any]) -> RiskReport:
        """Run ``rule_set`` for ``subject``; raises :class:`RuleSetInvalid` before fetching anything."""
        compiled, errors = _compile_rule_set(rule_set, self.catalog)
        errors += self._missing_providers(rule_set)
        if errors or compiled is None:
            raise RuleSetInvalid(errors)
        fetcher = _Fetcher(self, subject)
        any_pass = compiled.result_combination is ResultCombination.ANY_PASS
        reports: list[RuleReport] = []
        reject_at: int | None = None
        pass_at: int | None = None
        for rule in compiled.rules:
            if reject_at is not None:
                reports.append(rule.skipped(f"short-circuited after reject at rule {reject_at}"))
                continue
            if pass_at is not None and rule.mode is RuleMode.RESULT:
                reports.append(rule.skipped(f"not needed: any-pass satisfied at rule {pass_at}"))
                continue
            report = rule.evaluate(await fetcher.fetch(rule.indicators))
            reports.append(report)
            if report.outcome is Outcome.REJECT and not any_pass:
                reject_at = rule.index
            elif report.outcome is Outcome.PASS and any_pass and pass_at is None:
                pass_at = rule.index
        return _build_report(compiled, reports, fetcher)


def _build_report(compiled: _CompiledRuleSet, reports: list[RuleReport], fetcher: _Fetcher) -> RiskReport:
    evaluated = [r for r in reports if r.status is RuleStatus.EVALUATED]
    decision = _decide(compiled.result_combination, [r.outcome for r in evaluated if r.outcome])
    score = _aggregate(compiled.score_aggregation, [r for r in evaluated if r.mode is RuleMode.SCORE], "score")
    quota = _aggregate(compiled.quota_aggregation, [r for r in evaluated if r.mode is RuleMode.QUOTA], "quota")
    sources = tuple(SourceUsage(s, u.calls, u.cost) for s, u in fetcher.usage.items())
    return RiskReport(
        scene=compiled.scene,
        result_combination=compiled.result_combination,
        decision=decision,
        score=score,
        quota=None if decision is Outcome.REJECT else quota,
        rules=tuple(reports),
        sources=sources,
        total_cost=sum((s.cost for s in sources), Decimal(0)),
        source_failures=tuple(fetcher.failures),
    )


def _decide(combination: ResultCombination, outcomes: Sequence[Outcome]) -> Outcome:
    if combination is ResultCombination.ANY_PASS and Outcome.PASS in outcomes:
        return Outcome.PASS
    if Outcome.REJECT in outcomes:
        return Outcome.REJECT
    if Outcome.MANUAL_REVIEW in outcomes or combination is ResultCombination.ANY_PASS:
        return Outcome.MANUAL_REVIEW
    return Outcome.PASS


def _aggregate(how: Aggregation, rules: Sequence[RuleReport], field: str) -> Decimal | None:
    values: list[Decimal] = [getattr(r, field) for r in rules if getattr(r, field) is not None]
    if how is Aggregation.SUM:
        return sum(values, Decimal(0)) if rules else None
    if not values:
        return None
    return max(values) if how is Aggregation.MAX else min(values)
