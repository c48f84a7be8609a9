"""Demo risk scenes: reviewed (or applied directly), idempotent, and they decide as documented."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from core.review.models import ChangeRequest
from core.risk.demo import load_demo_risk
from core.risk.rule_models import RiskRuleSet, RiskScene
from core.risk.scenes import evaluate_scene
from plugins.facade import PluginHost
from tests.products.helpers import actor_of
from tests.risk.scene_support import ADULT_ID, TEEN_ID, subject


async def test_demo_scene_goes_through_review_once(people: dict[str, Any], risk_host: PluginHost) -> None:
    maker, checker = await actor_of(people["maker"]), await actor_of(people["checker"])
    done = await load_demo_risk(maker, checker)
    assert done == ["risk scene consumer_loan_admission proposed by maker1 and approved by checker1"]
    assert await ChangeRequest.filter(entity_type="risk_scene", status="approved").count() == 1
    assert await load_demo_risk(maker, checker) == []
    assert await RiskScene.all().count() == 1 and await RiskRuleSet.all().count() == 1

    adult = await evaluate_scene("consumer_loan_admission", subject(ADULT_ID))
    assert (adult.outcome, adult.quota, adult.score) == ("pass", Decimal("200000"), Decimal("100"))
    teen = await evaluate_scene("consumer_loan_admission", subject(TEEN_ID))
    assert (teen.outcome, teen.reasons) == ("reject", ("年龄不在 18–60: reject",))
    big = await evaluate_scene("consumer_loan_admission", subject(amount=Decimal("200000.01")))
    assert big.outcome == "reject"


async def test_demo_scene_without_accounts_or_a_running_host(db: str) -> None:
    done = await load_demo_risk()
    assert done == ["risk scene consumer_loan_admission (applied directly)"]
    assert await load_demo_risk() == []
    scene = await RiskScene.get(key="consumer_loan_admission")
    assert (scene.kind.value, scene.rule_set_version) == ("credit", 1)
