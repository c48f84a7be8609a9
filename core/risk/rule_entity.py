"""Risk scenes and their rule sets as a reviewed entity (maker-checker, F-REV-1; SPEC §11).

One change request carries a scene's settings and its whole rule set: rules are ordered and judged
together (combination, aggregation, short-circuit), so they are reviewed together. Validation runs
the engine's own `RuleSet.validate` against the indicator catalogue of the running sources, with
errors named by input path (``rules[2].expressions[0].operator``). It runs again on approval, since
a source may have been switched off while the change waited.

Approving an update that touches the rules adds a new rule-set version; stored risk reports keep
pointing at the version that decided them. The review service writes the operation log and, through
`core.ledger.review_hook`, the ledger. Scenes are platform configuration, not one bank's data, so the
change requests are untagged (seen by everyone holding the risk rules page).
"""

from __future__ import annotations

from typing import Any

from tortoise.exceptions import IntegrityError

from core.actor import Actor
from core.errors import ErrorCode, ErrorCollector, UserError, not_found
from core.products.models import Product
from core.review.models import ChangeAction
from core.review.registry import Proposal, register, review_stamp
from core.risk import rule_codec
from core.risk.engine import Scene
from core.risk.expressions import Indicator
from core.risk.rule_models import RiskRuleSet, RiskScene
from core.risk.sources import live_catalog
from plugins.runtime import PluginHostMissing, current_host

SCENE_FIELDS = ("key", "name", "kind", "description", "enabled")
RULE_SET_FIELDS = ("resultCombination", "scoreAggregation", "quotaAggregation", "rules")


async def indicator_catalog() -> dict[str, Indicator]:
    """The indicators rules may use now (own data and every running plugin source)."""
    try:
        host = current_host()
    except PluginHostMissing:
        raise UserError.of("rules", ErrorCode.PLUGIN_ERROR, "No risk data sources are running, so rules cannot "
                           "be checked; start the platform with its plugins") from None
    return await live_catalog(host)


async def scene_snapshot(scene: RiskScene) -> dict[str, Any]:
    """The scene and its rule set in force, in the proposal's shape (for merging edits)."""
    out: dict[str, Any] = {"key": scene.key, "name": scene.name, "kind": scene.kind.value,
                           "description": scene.description, "enabled": scene.enabled}
    rule_set = await RiskRuleSet.get_or_none(scene_id=scene.id, version=scene.rule_set_version)
    definition = rule_set.definition if rule_set else {}
    out |= {k: definition.get(k) for k in RULE_SET_FIELDS}
    return out


def _check_scene_fields(errs: ErrorCollector, data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    key = data.get("key")
    if not isinstance(key, str) or not key.strip():
        errs.add("key", ErrorCode.REQUIRED, "Give the scene a key (what products name as their risk scene)")
    elif not rule_codec.KEY.fullmatch(key.strip()):
        errs.add("key", ErrorCode.INVALID, "A scene key is 1–50 letters, digits, '_', '-' or '.', starting with "
                 "a letter or digit")
    out["key"] = key.strip() if isinstance(key, str) else key
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        errs.add("name", ErrorCode.REQUIRED, "Give the scene a name")
    elif len(name.strip()) > 50:
        errs.add("name", ErrorCode.TOO_LONG, "name must be at most 50 characters")
    out["name"] = name.strip() if isinstance(name, str) else name
    kind = data.get("kind")
    if kind not in {s.value for s in Scene}:
        errs.add("kind", ErrorCode.REQUIRED if kind is None else ErrorCode.INVALID,
                 f"kind must be one of {', '.join(s.value for s in Scene)}")
    out["kind"] = kind
    description = data.get("description") or ""
    if not isinstance(description, str) or len(description) > 500:
        errs.add("description", ErrorCode.TOO_LONG, "description must be text of at most 500 characters")
    out["description"] = description
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        errs.add("enabled", ErrorCode.INVALID, "enabled is true or false")
    out["enabled"] = enabled
    return out


async def validate_scene(data: dict[str, Any], catalog: dict[str, Indicator]) -> dict[str, Any]:
    """The complete, normalised proposal (scene fields + rule set), or a UserError listing every problem."""
    errs = ErrorCollector()
    unknown = sorted(set(data) - set(SCENE_FIELDS) - set(RULE_SET_FIELDS))
    for key in unknown:
        errs.add(key, ErrorCode.INVALID, f"unknown setting {key!r}")
    out = _check_scene_fields(errs, data)
    definition = rule_codec.validate(out["kind"] or Scene.CREDIT, {k: data.get(k) for k in RULE_SET_FIELDS
                                                                 if data.get(k) is not None}, catalog, errs)
    errs.raise_if_any()
    assert definition is not None
    return out | {"ruleSet": definition}


async def _products_using(key: str) -> list[str]:
    return list(await Product.filter(risk_scene_key=key, risk_event_enabled=True).order_by("code")
                .values_list("code", flat=True))


class RiskSceneEntity:
    entity_type = "risk_scene"
    module = "risk_rules"
    page = "risk_rules"

    async def propose(self, action: ChangeAction, entity_id: int | None, data: dict[str, Any],
                      actor: Actor) -> Proposal:
        if action is ChangeAction.CREATE:
            out = await validate_scene(data, await indicator_catalog())
            if await RiskScene.filter(key=out["key"]).exists():
                raise UserError.of("key", ErrorCode.NOT_UNIQUE, f"A risk scene with key {out['key']!r} exists")
            return Proposal(out, None, f"{out['key']} {out['name']}")
        scene = await RiskScene.get_or_none(id=entity_id or 0)
        if scene is None:
            raise not_found("Risk scene")
        label = f"{scene.key} {scene.name}"
        if action is ChangeAction.DELETE:
            users = await _products_using(scene.key)
            if users:
                raise UserError.of("id", ErrorCode.CONFLICT, "Products run this scene at admission: "
                                   f"{', '.join(users)}; switch their risk event off or point them elsewhere first")
            return Proposal({}, scene.version, label)
        current = await scene_snapshot(scene)
        if data.get("key") is not None and data["key"] != scene.key:
            raise UserError.of("key", ErrorCode.IMMUTABLE, "A scene's key cannot be changed (products refer to it)")
        merged = current | {k: v for k, v in data.items() if k != "key"}
        out = await validate_scene(merged, await indicator_catalog())
        stored = {k: current[k] for k in SCENE_FIELDS} | {"ruleSet": {k: current[k] for k in RULE_SET_FIELDS}}
        if stored == out:
            raise UserError.of(None, ErrorCode.REQUIRED, "Nothing to change")
        return Proposal(out, scene.version, f"{out['key']} {out['name']}")

    async def current_version(self, entity_id: int) -> int | None:
        scene = await RiskScene.get_or_none(id=entity_id)
        return scene.version if scene else None

    async def apply(self, action: ChangeAction, entity_id: int | None, payload: dict[str, Any],
                    maker_id: int | None, checker_id: int | None) -> int:
        """Apply inside the caller's transaction (None maker/checker: demo data applied directly)."""
        stamp = review_stamp(action, maker_id, checker_id)
        if action is ChangeAction.DELETE:
            scene = await RiskScene.get(id=entity_id)
            if await _products_using(scene.key):
                raise UserError.of("changeId", ErrorCode.CONFLICT, "A product started using this scene meanwhile")
            await scene.delete()
            return scene.id
        catalog = await indicator_catalog()
        try:
            checked = await validate_scene({k: v for k, v in payload.items() if k != "ruleSet"}
                                           | payload["ruleSet"], catalog)
        except UserError as exc:
            raise UserError.of("changeId", ErrorCode.STALE, "The rules no longer fit the running data sources: "
                               + "; ".join(f"{e.field}: {e.message}" for e in exc.errors)) from None
        definition = checked["ruleSet"]
        columns = {k: checked[k] for k in ("name", "kind", "description", "enabled")}
        snapshot = rule_codec.snapshot(definition, catalog)
        if action is ChangeAction.CREATE:
            try:
                scene = await RiskScene.create(key=checked["key"], **columns, **stamp)
            except IntegrityError:
                raise UserError.of("key", ErrorCode.NOT_UNIQUE, "The scene key was taken meanwhile") from None
            await RiskRuleSet.create(scene=scene, version=1, definition=definition, indicators=snapshot,
                                     maker_id=maker_id, checker_id=checker_id)
            return scene.id
        scene = await RiskScene.get(id=entity_id)
        current = await RiskRuleSet.get_or_none(scene_id=scene.id, version=scene.rule_set_version)
        rule_set_version = scene.rule_set_version
        if current is None or current.definition != definition:
            rule_set_version += 1 if current is not None else 0
            await RiskRuleSet.create(scene=scene, version=rule_set_version, definition=definition,
                                     indicators=snapshot, maker_id=maker_id, checker_id=checker_id)
        updated = await RiskScene.filter(id=scene.id, version=scene.version).update(
            **columns, **stamp, rule_set_version=rule_set_version, version=scene.version + 1)
        if updated != 1:
            raise UserError.of("changeId", ErrorCode.STALE, "The scene changed meanwhile")
        return scene.id


RISK_SCENE = register(RiskSceneEntity())
