"""http_risk against a fake paid provider: typed values, cost per call, failures isolated."""

from __future__ import annotations

from decimal import Decimal

import pytest

from plugins import PluginConfigError, PluginFailure, PluginUnavailable
from plugins.testkit import host_from_dict, make_subject, running_host
from plugins.types import IndicatorType, RiskRequest


def risk_config(url: str, **overrides) -> dict:
    settings = {"base_url": url, "api_key": "env:RISK_KEY",
                "costs": {"multi_platform_count": "0.80", "court_records": "1.25"}, **overrides}
    return {"plugins": {"http_risk": settings}, "timeouts": {"risk": 2}}


@pytest.fixture
async def risk_host(risk_provider):
    fake, url = risk_provider
    async with running_host(risk_config(url), env={"RISK_KEY": fake.api_key}) as (host, incidents):
        yield host, fake, incidents


async def test_catalogue_declares_types_and_costs(risk_host):
    host, _, _ = risk_host
    specs = {s.name: s for s in (await host.risk_catalogue())["http_risk"]}
    assert specs["multi_platform_count"].type is IndicatorType.INTEGER
    assert specs["court_records"].cost_per_call == Decimal("1.25")
    assert specs["blacklist_hit"].cost_per_call == Decimal("0.50")  # default price
    assert specs["credit_score"].type is IndicatorType.DECIMAL
    assert host.risk_sources() == ["http_risk"]


async def test_fetch_returns_typed_values_and_the_cost_of_the_call(risk_host):
    host, fake, _ = risk_host
    request = RiskRequest(make_subject(), ("multi_platform_count", "court_records", "credit_score"), scene="credit")
    result = await host.fetch_risk("http_risk", request)
    assert result.values == {"multi_platform_count": 7, "court_records": 0, "credit_score": Decimal("712.5")}
    assert result.cost == Decimal("0.80") + Decimal("1.25") + Decimal("2.00")
    assert fake.calls[-1]["subject"]["id_number"] == "110101199003074518"


async def test_no_data_is_none_and_not_billed(risk_host):
    host, _, _ = risk_host
    subject = make_subject(id_number="310101198512120021")
    result = await host.fetch_risk("http_risk", RiskRequest(subject, ("blacklist_hit", "credit_score")))
    assert result.values == {"blacklist_hit": True, "credit_score": None}
    assert result.cost == Decimal("0.50")
    unknown = await host.fetch_risk("http_risk", RiskRequest(make_subject(id_number="X"), ("court_records",)))
    assert unknown.values == {"court_records": None} and unknown.cost == Decimal("0.00")


async def test_running_cost_total_in_health(risk_host):
    host, _, _ = risk_host
    plugin = host.plugin("http_risk")
    before = plugin.total_cost
    await host.fetch_risk("http_risk", RiskRequest(make_subject(), ("court_records",)))
    assert plugin.total_cost == before + Decimal("1.25")
    status = {s.name: s for s in await host.plugin_statuses()}["http_risk"]
    assert f"cost to date {plugin.total_cost} CNY" in status.health.detail


async def test_undeclared_indicator_and_provider_errors(risk_host):
    host, fake, incidents = risk_host
    with pytest.raises(PluginUnavailable, match="does not declare indicator"):
        await host.fetch_risk("http_risk", RiskRequest(make_subject(), ("zodiac_sign",)))
    fake.fail_status = 502
    try:
        with pytest.raises(PluginFailure, match="HTTP 502"):
            await host.fetch_risk("http_risk", RiskRequest(make_subject(), ("age",)))
    finally:
        fake.fail_status = None
    assert [i.kind for i in incidents.incidents] == ["unavailable", "failure"]


async def test_wrong_api_key_is_a_failure(risk_provider):
    _, url = risk_provider
    async with running_host(risk_config(url), env={"RISK_KEY": "wrong"}) as (host, _):
        with pytest.raises(PluginFailure, match="HTTP 401"):
            await host.fetch_risk("http_risk", RiskRequest(make_subject(), ("age",)))


def test_cost_for_an_unknown_indicator_is_a_config_error():
    with pytest.raises(PluginConfigError) as info:
        host_from_dict(risk_config("http://x", costs={"zodiac": "1"}), env={"RISK_KEY": "k"})
    assert (info.value.plugin, info.value.key) == ("http_risk", "costs.zodiac")
