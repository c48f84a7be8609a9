"""Shared by the risk-scene tests: a paid data source that counts its calls, a running host, subjects."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest_asyncio
from tortoise.transactions import in_transaction

from core.actor import SYSTEM
from core.review.models import ChangeAction
from core.risk.idnumber import check_char
from core.risk.rule_entity import RISK_SCENE
from core.risk.rule_models import RiskScene
from plugins.definition import PluginDefinition
from plugins.facade import PluginHost
from plugins.markers import hookimpl
from plugins.runtime import plugin_runtime
from plugins.testkit import host_from_dict
from plugins.types import IndicatorSpec, IndicatorType, RiskFetchResult, RiskRequest

PRICES = {"credit_score": Decimal("2.00"), "multi_platform_count": Decimal("0.80")}
ADULT_ID = "11010519900307123" + check_char("11010519900307123")  # born 1990-03-07
TEEN_ID = "11010520100307123" + check_char("11010520100307123")  # born 2010-03-07


class Bureau:
    """A paid credit bureau: counts every request, bills what it answered, can be made to fail."""

    def __init__(self) -> None:
        self.requests: list[RiskRequest] = []
        self.values: dict[str, Any] = {"credit_score": Decimal("720"), "multi_platform_count": 1}
        self.fail = False

    @hookimpl
    def lendline_risk_indicators(self) -> list[IndicatorSpec]:
        return [IndicatorSpec("credit_score", IndicatorType.DECIMAL, PRICES["credit_score"]),
                IndicatorSpec("multi_platform_count", IndicatorType.INTEGER, PRICES["multi_platform_count"])]

    @hookimpl
    async def lendline_risk_fetch(self, request: RiskRequest) -> RiskFetchResult:
        self.requests.append(request)
        if self.fail:
            raise RuntimeError("bureau is down")
        values = {n: self.values.get(n) for n in request.indicators}
        return RiskFetchResult(values=values, cost=sum((PRICES[n] for n in request.indicators), Decimal(0)),
                               detail="bureau answered")


@pytest_asyncio.fixture
async def risk_host(db: str) -> AsyncIterator[PluginHost]:
    """own_data plus the paid bureau, installed as the process's host (with alerting)."""
    built = host_from_dict({"plugins": {"own_data": {}, "bureau": {}}}, extra=[PluginDefinition("bureau", Bureau)],
                           entry_points=False)
    async with plugin_runtime(built) as host:
        yield host


def bureau_of(host: PluginHost) -> Bureau:
    plugin = host.plugin("bureau")
    assert isinstance(plugin, Bureau)
    return plugin


def expr(indicator: str, operator: str, value: Any = None) -> dict[str, Any]:
    return {"indicator": indicator, "operator": operator, "value": value}


def scene_data(key: str = "admission", rules: list[dict[str, Any]] | None = None, **over: Any) -> dict[str, Any]:
    """A credit scene: blacklist → reject, age outside 18..60 → reject, then the paid bureau."""
    base: dict[str, Any] = {
        "key": key, "name": "准入风控", "kind": "credit", "description": "", "enabled": True,
        "rules": rules if rules is not None else [
            {"name": "blacklisted", "mode": "result", "outcome": "reject",
             "expressions": [expr("own_data.blacklist_hit", "==", True)]},
            {"name": "age out of range", "mode": "result", "outcome": "reject", "logic": "any",
             "expressions": [expr("own_data.age", "<", 18), expr("own_data.age", ">", 60)]},
            {"name": "low credit score", "mode": "result", "outcome": "reject",
             "expressions": [expr("bureau.credit_score", "<", 600)]},
        ],
    }
    return base | over


async def install_scene(data: dict[str, Any]) -> RiskScene:
    """A scene applied directly (these tests are about evaluation; review has its own tests)."""
    proposal = await RISK_SCENE.propose(ChangeAction.CREATE, None, data, SYSTEM)
    async with in_transaction():
        scene_id = await RISK_SCENE.apply(ChangeAction.CREATE, None, proposal.payload, None, None)
    return await RiskScene.get(id=scene_id)


def subject(id_number: str = ADULT_ID, **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "王小明", "id_number": id_number, "phone": "13800138000", "customer_no": "C0001",
                            "amount": Decimal("50000.00"), "term": 12, "product_code": "", "channel": "AST-001",
                            "order_no": "ORD-0001"}
    return base | over
