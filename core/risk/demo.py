"""Demo risk scenes for `lendline demo`: the admission scene the demo products with a risk event name.

`DEMO-SELF-EI` (core/products/demo.py) runs scene ``consumer_loan_admission`` at admission. Its rules
use the platform's own data only (free), ordered so the decisive checks come first:

1. invalid ID number → reject;  2. blacklisted → reject;  3. age outside 18–60 → reject;
4. amount above 200,000 → reject;  5. overdue history → manual review;  6. three or more loans in
progress → manual review; then quotas (max): 200,000 for ages 22–45, 50,000 for ages 18–60, and a
score (sum) that rewards a clean history.

Idempotent: a scene that exists (by key) is left alone. Given a maker and a checker the scene goes
through review like any rule change; without them it is applied directly and logged as demo data.
The rules are validated against the running risk sources; when no plugin host runs in the process
(the `lendline demo` command), a temporary one with just ``own_data`` is started for the check.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from tortoise.transactions import in_transaction

from core.actor import SYSTEM, Actor
from core.oplog import service as oplog
from core.oplog.models import OperatorKind
from core.review import service as review
from core.review.models import ChangeAction
from core.risk.rule_entity import RISK_SCENE
from core.risk.rule_models import RiskScene


def _e(indicator: str, operator: str, value: Any = None) -> dict[str, Any]:
    return {"indicator": f"own_data.{indicator}", "operator": operator, "value": value}


ADMISSION: dict[str, Any] = {
    "key": "consumer_loan_admission", "name": "消费贷准入", "kind": "credit", "enabled": True,
    "description": "演示: 身份、黑名单、年龄 18–60、金额 ≤ 200,000、逾期与多头, 额度取最大",
    "resultCombination": "all_pass", "scoreAggregation": "sum", "quotaAggregation": "max",
    "rules": [
        {"name": "身份证号无效", "mode": "result", "outcome": "reject", "onMissing": "pass",
         "expressions": [_e("id_number_valid", "==", False)]},
        {"name": "命中黑名单", "mode": "result", "outcome": "reject", "expressions": [_e("blacklist_hit", "==", True)]},
        {"name": "年龄不在 18–60", "mode": "result", "outcome": "reject", "logic": "any",
         "expressions": [_e("age", "<", 18), _e("age", ">", 60)]},
        {"name": "金额超过 200,000", "mode": "result", "outcome": "reject",
         "expressions": [_e("requested_amount", ">", "200000")]},
        {"name": "有逾期记录", "mode": "result", "outcome": "manual_review",
         "expressions": [_e("overdue_history", ">", 0)]},
        {"name": "在贷笔数 ≥ 3", "mode": "result", "outcome": "manual_review",
         "expressions": [_e("loans_in_progress", ">=", 3)]},
        {"name": "优质年龄段额度", "mode": "quota", "quota": "200000", "expressions": [_e("age", "between", [22, 45])]},
        {"name": "基础额度", "mode": "quota", "quota": "50000", "expressions": [_e("age", "between", [18, 60])]},
        {"name": "无逾期加分", "mode": "score", "score": "60", "expressions": [_e("overdue_history", "==", 0)]},
        {"name": "无在贷加分", "mode": "score", "score": "40", "expressions": [_e("loans_in_progress", "==", 0)]},
    ],
}
SCENES = (ADMISSION,)


@contextlib.asynccontextmanager
async def _risk_sources() -> AsyncIterator[None]:
    from plugins.runtime import PluginHostMissing, current_host

    try:
        current_host()
    except PluginHostMissing:
        from plugins.config import config_from_dict
        from plugins.manager import create_host
        from plugins.runtime import plugin_runtime

        host = create_host(config_from_dict({"plugins": {"own_data": {}}}, source="<risk demo>"), env={},
                           entry_points=False)
        async with plugin_runtime(host):
            yield
        return
    yield


async def load_demo_risk(maker: Actor | None = None, checker: Actor | None = None) -> list[str]:
    """Create the demo scenes that do not exist yet; returns what was done."""
    done: list[str] = []
    async with _risk_sources():
        for data in SCENES:
            if await RiskScene.filter(key=data["key"]).exists():
                continue
            if maker is not None and checker is not None:
                change = await review.submit(maker, RISK_SCENE.entity_type, ChangeAction.CREATE, None, data,
                                             checker.user_id)
                await review.approve(checker, change.id, "Demo: approved")
                done.append(f"risk scene {data['key']} proposed by {maker.account} and approved by "
                            f"{checker.account}")
                continue
            proposal = await RISK_SCENE.propose(ChangeAction.CREATE, None, data, SYSTEM)
            async with in_transaction():
                scene_id = await RISK_SCENE.apply(ChangeAction.CREATE, None, proposal.payload, None, None)
                await oplog.record(SYSTEM, kind=OperatorKind.SYSTEM, module=RISK_SCENE.module, action="demo",
                                   summary=f"demo risk scene {proposal.label}", detail={"sceneId": scene_id})
            done.append(f"risk scene {data['key']} (applied directly)")
    return done
