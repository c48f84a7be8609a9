"""Rule sets as stored JSON ↔ the risk engine's `RuleSet`, with validation errors named by input path.

The stored document is the engine's shape with the GraphQL input's camelCase keys, so an error the
engine reports for "rule 2, expressions[0].operator" reaches the user as
``rules[2].expressions[0].operator`` — the path of the field in the form they filled in::

    {"resultCombination": "all_pass", "scoreAggregation": "sum", "quotaAggregation": "min",
     "rules": [{"name": "blacklisted", "mode": "result", "logic": "all", "outcome": "reject",
                "score": null, "quota": null, "onMissing": "manual_review",
                "expressions": [{"indicator": "own_data.blacklist_hit", "operator": "==", "value": true}]}]}

Structure (lists, objects, unknown keys, duplicate rule names) is checked here; meaning (enums,
operators against indicator types, values, each mode's payload) by ``RuleSet.validate``, so both
paths report every problem at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from core.errors import ErrorCode, ErrorCollector
from core.risk.engine import Aggregation, Logic, MissingPolicy, ResultCombination, Rule, RuleSet, Scene
from core.risk.expressions import Expression, Indicator

MAX_RULES = 200
MAX_EXPRESSIONS = 50
SET_KEYS = ("resultCombination", "scoreAggregation", "quotaAggregation", "rules")
RULE_KEYS = ("name", "mode", "logic", "outcome", "score", "quota", "onMissing", "expressions")
EXPRESSION_KEYS = ("indicator", "operator", "value")
DEFAULTS = {"resultCombination": ResultCombination.ALL_PASS.value, "scoreAggregation": Aggregation.SUM.value,
            "quotaAggregation": Aggregation.MIN.value}
RULE_DEFAULTS = {"logic": Logic.ALL.value, "onMissing": MissingPolicy.MANUAL_REVIEW.value, "outcome": None,
                 "score": None, "quota": None}


def _camel(segment: str) -> str:
    head, *rest = segment.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def engine_path(rule_index: int | None, field: str) -> str:
    """``rules[2].expressions[0].operator`` for the engine's (2, "expressions[0].operator")."""
    path = ".".join(_camel(part) for part in field.split("."))
    return path if rule_index is None else f"rules[{rule_index}].{path}"


def _json_value(value: Any) -> Any:
    """Expression values as JSON keeps them: Decimals become strings, lists stay lists."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def _number(value: Any) -> Any:
    """Scores and quotas are kept as decimal strings (never floats) once validated."""
    if value is None:
        return None
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        return format(Decimal(value), "f")
    return value.strip() if isinstance(value, str) else value


def _unknown_keys(errs: ErrorCollector, path: str, data: Mapping[str, Any], known: tuple[str, ...]) -> None:
    for key in data:
        if key not in known:
            errs.add(f"{path}.{key}" if path else str(key), ErrorCode.INVALID,
                     f"unknown setting {key!r} (known: {', '.join(known)})")


def normalize(raw: Any, errs: ErrorCollector) -> dict[str, Any] | None:
    """The document with defaults filled in, or None (problems added to `errs`) if its structure is wrong."""
    if not isinstance(raw, Mapping):
        errs.add("rules", ErrorCode.INVALID, "a rule set is an object with a list of rules")
        return None
    _unknown_keys(errs, "", raw, SET_KEYS)
    out: dict[str, Any] = {k: raw.get(k) if raw.get(k) is not None else v for k, v in DEFAULTS.items()}
    rules = raw.get("rules")
    if not isinstance(rules, list | tuple):
        errs.add("rules", ErrorCode.REQUIRED if rules is None else ErrorCode.INVALID, "give the rules as a list")
        return None
    if len(rules) > MAX_RULES:
        errs.add("rules", ErrorCode.OUT_OF_RANGE, f"a rule set has at most {MAX_RULES} rules")
    out["rules"] = []
    seen: dict[str, int] = {}
    ok = True
    for i, rule in enumerate(rules):
        path = f"rules[{i}]"
        if not isinstance(rule, Mapping):
            errs.add(path, ErrorCode.INVALID, "a rule is an object")
            ok = False
            continue
        _unknown_keys(errs, path, rule, RULE_KEYS)
        item = {k: rule.get(k) if rule.get(k) is not None else v for k, v in RULE_DEFAULTS.items()}
        item["name"] = rule.get("name").strip() if isinstance(rule.get("name"), str) else rule.get("name")
        item["mode"] = rule.get("mode")
        item["score"], item["quota"] = _number(rule.get("score")), _number(rule.get("quota"))
        if isinstance(item["name"], str) and item["name"]:
            if len(item["name"]) > 100:
                errs.add(f"{path}.name", ErrorCode.TOO_LONG, "a rule name has at most 100 characters")
            if item["name"] in seen:
                errs.add(f"{path}.name", ErrorCode.NOT_UNIQUE,
                         f"rule {seen[item['name']]} has the same name; reports refer to rules by name")
            seen.setdefault(item["name"], i)
        expressions = rule.get("expressions")
        if not isinstance(expressions, list | tuple):
            errs.add(f"{path}.expressions", ErrorCode.REQUIRED if expressions is None else ErrorCode.INVALID,
                     "give the rule's expressions as a list")
            ok = False
            continue
        if len(expressions) > MAX_EXPRESSIONS:
            errs.add(f"{path}.expressions", ErrorCode.OUT_OF_RANGE,
                     f"a rule has at most {MAX_EXPRESSIONS} expressions")
        item["expressions"] = []
        for j, expr in enumerate(expressions):
            epath = f"{path}.expressions[{j}]"
            if not isinstance(expr, Mapping):
                errs.add(epath, ErrorCode.INVALID, "an expression is an object {indicator, operator, value}")
                ok = False
                continue
            _unknown_keys(errs, epath, expr, EXPRESSION_KEYS)
            item["expressions"].append({"indicator": expr.get("indicator"), "operator": expr.get("operator"),
                                        "value": _json_value(expr.get("value"))})
        out["rules"].append(item)
    return out if ok else None


def to_rule_set(kind: Scene | str, definition: Mapping[str, Any]) -> RuleSet:
    """The engine's rule set for a stored (or normalised) document; enums stay raw for validation."""
    return RuleSet(
        scene=kind,  # type: ignore[arg-type]
        result_combination=definition["resultCombination"],
        score_aggregation=definition["scoreAggregation"],
        quota_aggregation=definition["quotaAggregation"],
        rules=tuple(
            Rule(name=r["name"], mode=r["mode"], logic=r["logic"], outcome=r["outcome"], score=r["score"],
                 quota=r["quota"], on_missing=r["onMissing"],
                 expressions=tuple(Expression(e["indicator"], e["operator"], e["value"]) for e in r["expressions"]))
            for r in definition["rules"]
        ),
    )


def validate(kind: Scene | str, raw: Any, catalog: Mapping[str, Indicator], errs: ErrorCollector
             ) -> dict[str, Any] | None:
    """The normalised document if it is a valid rule set for `catalog`; else None with every problem in `errs`."""
    before = len(errs.errors)
    definition = normalize(raw, errs)
    if definition is None:
        return None
    for error in to_rule_set(kind, definition).validate(catalog):
        if error.field == "scene":
            continue  # the scene kind is checked (and named) by the caller
        errs.add(engine_path(error.rule_index, error.field), ErrorCode.INVALID, error.message)
    return definition if len(errs.errors) == before else None


def indicators_used(definition: Mapping[str, Any]) -> list[str]:
    return list(dict.fromkeys(e["indicator"] for r in definition["rules"] for e in r["expressions"]))


def snapshot(definition: Mapping[str, Any], catalog: Mapping[str, Indicator]) -> dict[str, dict[str, str]]:
    """What the rule set needs to know of its indicators if their source goes away later."""
    return {name: {"type": catalog[name].type.value, "source": catalog[name].source,
                   "cost": format(catalog[name].cost, "f")} for name in indicators_used(definition)}


KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,49}$")
