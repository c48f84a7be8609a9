"""The fund-control demo: rules approved through review, diversions into stocks and real estate, idempotent."""

from __future__ import annotations

from typing import Any

import pytest

from core.monitoring.demo import load_demo_monitoring
from core.monitoring.models import AmlRuleSetting, DiversionType, Violation
from core.review.models import ChangeRequest, ChangeStatus
from tests.monitoring.ingest_helpers import actor_for, detectors, make_loan, make_world

pytestmark = pytest.mark.asyncio


async def test_demo_without_loans_only_loads_rules(db: str, people: dict[str, Any]) -> None:
    maker, checker = await actor_for(people["maker"]), await actor_for(people["checker"])
    async with detectors():
        done = await load_demo_monitoring(maker, checker)
    assert done[-1].startswith("fund control transactions skipped")
    assert await DiversionType.all().count() == 7 and await AmlRuleSetting.all().count() == 3
    assert await ChangeRequest.filter(entity_type="diversion_type", status=ChangeStatus.APPROVED).count() == 7


async def test_demo_raises_stock_and_real_estate_violations_once(db: str, people: dict[str, Any]) -> None:
    w = await make_world("DMO")
    await make_loan(w, "50000.00")
    await make_loan(w, "20000.00")
    maker, checker = await actor_for(people["maker"]), await actor_for(people["checker"])
    async with detectors():
        done = await load_demo_monitoring(maker, checker)
        assert sum("ingested" in line for line in done) == 2
        assert await load_demo_monitoring(maker, checker) == []
    codes = sorted(await Violation.all().values_list("type_code", flat=True))
    assert codes == ["FDC", "FDC", "GS", "GS"]


async def test_demo_starts_a_plugin_host_when_none_runs(db: str, people: dict[str, Any]) -> None:
    w = await make_world("DMH")
    await make_loan(w, "50000.00")
    done = await load_demo_monitoring(await actor_for(people["maker"]), await actor_for(people["checker"]))
    assert any("ingested" in line for line in done)
    assert sorted(await Violation.all().values_list("type_code", flat=True)) == ["FDC", "GS"]
