"""The plugin admin page over GraphQL, as an SPA calls it: what runs, its version, health, what it serves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from core.oplog.models import OperationLog
from plugins import PluginDefinition, hookimpl
from plugins.facade import PluginHost
from plugins.runtime import plugin_runtime
from plugins.testkit import host_from_dict
from plugins.types import HealthReport, HealthState
from tests.support import Api


class CountingHealth:
    """A plugin whose health checks are counted, to see when the page really asks."""

    def __init__(self) -> None:
        self.checks = 0

    @hookimpl
    def lendline_health(self) -> HealthReport:
        self.checks += 1
        return HealthReport(HealthState.DEGRADED, f"check #{self.checks}")


CONFIG = {"plugins": {"sandbox_pay": {}, "example_pay": {}, "sandbox_sms": {}, "own_data": {}, "counting": {},
                      "http_risk": {"enabled": False, "base_url": "http://127.0.0.1:1", "api_key": "env:K"}}}

PLUGINS = """query($n:String){plugins(name:$n){name version source families enabled blocked installed running
  health{state detail checkedAt} paymentIdentifiers notificationChannels riskIndicators{name type costPerCall}}}"""
CHECK = """mutation($n:String){checkPluginHealth(name:$n){plugins{name health{state detail}} errors{field code}}}"""


@pytest_asyncio.fixture
async def host(db: str) -> AsyncIterator[PluginHost]:
    built = host_from_dict(CONFIG, extra=[PluginDefinition("counting", CountingHealth)])
    async with plugin_runtime(built) as running:
        yield running


async def test_admin_sees_versions_health_and_what_each_plugin_serves(
        api: Api, people: dict[str, Any], host: PluginHost) -> None:
    token = await api.login(people["admin"].account)
    body = await api(PLUGINS, token=token)
    assert "errors" not in body, body
    plugins = {p["name"]: p for p in body["data"]["plugins"]}
    example = plugins["example_pay"]
    assert (example["version"], example["source"]) == ("0.1.0", "entry-point:lendline-plugin-example")
    assert example["health"]["state"] == "OK" and example["health"]["detail"] == "0 payments"
    assert example["paymentIdentifiers"] == ["example"] and example["families"] == ["PAYMENT"]
    assert example["enabled"] and example["running"] and example["health"]["checkedAt"]
    assert plugins["sandbox_sms"]["notificationChannels"] == ["sms"]
    assert plugins["sandbox_sms"]["families"] == ["NOTIFY"]
    own = {i["name"]: i for i in plugins["own_data"]["riskIndicators"]}
    assert set(own) == {"age", "id_number_valid", "requested_amount", "blacklist_hit", "loans_in_progress",
                        "overdue_history"}
    assert own["age"] == {"name": "age", "type": "INTEGER", "costPerCall": "0"}
    http_risk = plugins["http_risk"]
    assert (http_risk["enabled"], http_risk["running"], http_risk["health"]) == (False, False, None)
    catalogue = (await api("{riskIndicatorCatalogue{source name}}", token=token))["data"]["riskIndicatorCatalogue"]
    assert {(i["source"], i["name"]) for i in catalogue} >= {("own_data", "age"), ("own_data", "blacklist_hit")}


async def test_health_is_reused_while_fresh_and_checked_again_on_request(
        api: Api, people: dict[str, Any], host: PluginHost) -> None:
    token = await api.login(people["admin"].account)
    counting: CountingHealth = host.plugin("counting")  # type: ignore[assignment]
    for _ in range(3):
        one = (await api(PLUGINS, {"n": "counting"}, token))["data"]["plugins"]
        assert [p["health"] for p in one] == [{"state": "DEGRADED", "detail": "check #1",
                                                "checkedAt": one[0]["health"]["checkedAt"]}]
    out = (await api(CHECK, {"n": "counting"}, token))["data"]["checkPluginHealth"]
    assert out == {"plugins": [{"name": "counting", "health": {"state": "DEGRADED", "detail": "check #2"}}],
                   "errors": []}
    assert counting.checks == 2
    log = await OperationLog.get(module="plugins", action="check_health")
    assert log.detail == {"plugins": {"counting": "degraded"}} and log.operator_name == people["admin"].name
    missing = (await api(CHECK, {"n": "acme_pay"}, token))["data"]["checkPluginHealth"]
    assert missing == {"plugins": [], "errors": [{"field": "name", "code": "NOT_FOUND"}]}


async def test_people_without_the_plugins_page_see_nothing(
        api: Api, people: dict[str, Any], host: PluginHost) -> None:
    viewer = await api.login(people["viewer"].account)
    refused = await api(PLUGINS, token=viewer)
    assert refused["data"] is None and refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    out = (await api(CHECK, token=viewer))["data"]["checkPluginHealth"]
    assert out["errors"] == [{"field": None, "code": "FORBIDDEN"}]
    counting: CountingHealth = host.plugin("counting")  # type: ignore[assignment]
    assert counting.checks == 0  # a refused caller makes no plugin call
