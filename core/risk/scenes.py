"""Running a risk scene for one subject (SPEC §11, F-RISK-1..3): what admission calls.

`evaluate_scene` loads the scene's approved rule set, runs the engine with one provider per data
source (all reached through the plugin facade, see `core.risk.sources`), stores the risk report and
returns the decision. The engine evaluates rules in order and stops after a reject (all-pass sets),
so a paid source whose rules come after a decisive free rule is never called — and never billed.

Failures are typed: an unknown or disabled scene, or a scene without an approved rule set, is a
`UserError` on ``riskSceneKey``; a source that fails, times out or has been switched off is "source
unavailable" for its indicators, and each affected rule's missing-data policy decides (manual review
by default). The report is stored in the caller's transaction when there is one, so an admission
that rolls back leaves no orphan report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from core import clock
from core.errors import ErrorCode, UserError
from core.risk import rule_codec
from core.risk.blacklist import mask, mask_name
from core.risk.engine import Outcome, RiskEngine, RiskReport, RuleReport, RuleStatus
from core.risk.rule_models import RiskReportRecord, RiskRuleSet, RiskScene
from core.risk.sources import CENT, Billing, SourceProvider, live_catalog, snapshot_catalog
from plugins.errors import PluginError
from plugins.runtime import PluginHostMissing, current_host

FIELD = "riskSceneKey"
SCORE = Decimal("0.0001")


@dataclass(frozen=True)
class SceneDecision:
    outcome: str  # "pass" | "reject" | "manual_review"
    score: Decimal | None
    quota: Decimal | None
    report_id: int
    reasons: tuple[str, ...]


def _amount(subject: Mapping[str, Any]) -> Decimal | None:
    raw = subject.get("amount")
    if raw is None:
        return None
    try:
        value = raw if isinstance(raw, Decimal) else Decimal(str(raw))
    except InvalidOperation:
        raise UserError.of("amount", ErrorCode.INVALID, f"amount {raw!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise UserError.of("amount", ErrorCode.INVALID, "amount must be a non-negative number")
    return value.quantize(CENT, ROUND_HALF_UP)


def subject_summary(subject: Mapping[str, Any], amount: Decimal | None) -> dict[str, Any]:
    """Who was evaluated, masked like every other read of identities (last four characters)."""
    return {
        "name": mask_name(str(subject.get("name") or "")),
        "idNumber": mask(str(subject.get("id_number") or "")),
        "phone": mask(str(subject.get("phone") or "")),
        "customerNo": str(subject.get("customer_no") or ""),
        "amount": format(amount, "f") if amount is not None else None,
        "term": subject.get("term"),
        "productCode": str(subject.get("product_code") or ""),
        "channel": str(subject.get("channel") or ""),
        "orderNo": str(subject.get("order_no") or ""),
    }


def _reason(rule: RuleReport) -> str:
    text = f"{rule.name}: {rule.outcome.value if rule.outcome else ''}"
    if rule.missing_policy_applied is not None:
        missing = [e.indicator for e in rule.expressions if e.hit is None]
        text += f" (data missing: {', '.join(missing)})"
    return text


def reasons_of(report: RiskReport) -> tuple[str, ...]:
    """The rules that objected (reject or manual review), in order, then the sources that failed."""
    out = [_reason(r) for r in report.rules if r.status is RuleStatus.EVALUATED
           and r.outcome in (Outcome.REJECT, Outcome.MANUAL_REVIEW)]
    out += [f"source {f.source} unavailable: {f.error}"[:300] for f in report.source_failures]
    return tuple(out)


async def load_scene(scene_key: str) -> tuple[RiskScene, RiskRuleSet]:
    """The enabled scene named `scene_key` and its rule set in force, or a UserError on riskSceneKey."""
    scene = await RiskScene.get_or_none(key=scene_key) if isinstance(scene_key, str) and scene_key else None
    if scene is None:
        raise UserError.of(FIELD, ErrorCode.NOT_FOUND, f"No risk scene {scene_key!r} exists")
    if not scene.enabled:
        raise UserError.of(FIELD, ErrorCode.INVALID_STATE, f"The risk scene {scene_key!r} is disabled")
    rule_set = await RiskRuleSet.get_or_none(scene_id=scene.id, version=scene.rule_set_version)
    if rule_set is None:
        raise UserError.of(FIELD, ErrorCode.NOT_FOUND, f"The risk scene {scene_key!r} has no approved rule set")
    return scene, rule_set


async def evaluate_scene(scene_key: str, subject: Mapping[str, Any], *, loan_id: int | None = None) -> SceneDecision:
    """Evaluate `subject` in the scene, store the risk report, return the decision.

    Subject keys: name, id_number, phone, customer_no, amount (Decimal), term, product_code, channel,
    order_no.
    """
    scene, rule_set = await load_scene(scene_key)
    amount = _amount(subject)
    try:
        host = current_host()
    except PluginHostMissing:
        raise UserError.of(FIELD, ErrorCode.PLUGIN_ERROR, "No risk data sources are running in this process") \
            from None
    try:
        live = await live_catalog(host)
    except PluginError as exc:  # a source that cannot declare is simply absent from `live`
        raise UserError.of(FIELD, ErrorCode.PLUGIN_ERROR, f"The risk data sources could not be listed: {exc}") \
            from None
    catalog = snapshot_catalog(rule_set.indicators, live)
    requested_at = clock.now()
    billing = Billing()
    providers = {source: SourceProvider(host, source, scene=scene.key, requested_at=requested_at, amount=amount,
                                        billing=billing)
                 for source in {i.source for i in catalog.values()}}
    engine = RiskEngine(catalog, providers)
    report = await engine.evaluate(rule_codec.to_rule_set(scene.kind, rule_set.definition), subject)
    document = report.to_dict() | {
        "sceneKey": scene.key, "ruleSetVersion": rule_set.version, "requestedAt": requested_at.isoformat(),
        "billed": {s: format(c, "f") for s, c in billing.billed.items()},
        "sourceNotes": billing.notes,
    }
    product_id = await _product_id(subject.get("product_code"))
    record = await RiskReportRecord.create(
        scene_id=scene.id, scene_key=scene.key, scene_kind=scene.kind.value, rule_set_version=rule_set.version,
        loan_id=loan_id, product_id=product_id, order_no=str(subject.get("order_no") or "")[:32],
        subject_summary=subject_summary(subject, amount), outcome=report.decision.value,
        score=report.score.quantize(SCORE, ROUND_HALF_UP) if report.score is not None else None,
        quota=report.quota.quantize(CENT, ROUND_HALF_UP) if report.quota is not None else None,
        total_cost=report.total_cost, report=document, created_at=requested_at)
    return SceneDecision(outcome=report.decision.value, score=report.score, quota=report.quota,
                         report_id=record.id, reasons=reasons_of(report))


async def _product_id(code: Any) -> int | None:
    from core.products.models import Product

    if not code:
        return None
    ids = await Product.filter(code=str(code)).limit(1).values_list("id", flat=True)
    return ids[0] if ids else None
