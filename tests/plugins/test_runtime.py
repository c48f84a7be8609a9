"""The process's plugin host: started by the app, reachable by services, its failures become alerts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from core import clock
from core.system.alerts import raise_alert
from core.system.models import SystemAlert
from plugins import PluginDefinition, PluginFailure, Secret, hookimpl
from plugins.config import ENV_CONFIG_PATH
from plugins.runtime import PluginAlerts, PluginHostMissing, announce_alert, current_host, plugin_runtime, using_host
from plugins.testkit import host_from_dict, make_order
from schema.app import create_app

API_KEY = "sk-live-9f8e7d6c5b"


@dataclass
class FlakySettings:
    api_key: Secret = field(default_factory=lambda: Secret(""))


class FlakyPay:
    """A provider whose gateway refuses every payment, quoting the credentials it was sent."""

    def __init__(self, settings: FlakySettings) -> None:
        self.settings = settings

    @hookimpl
    def lendline_payment_identifier(self) -> str:
        return "flaky"

    @hookimpl
    async def lendline_payment_disburse(self, order):
        raise ConnectionError(f"gateway said 403 for key {self.settings.api_key.reveal()} "
                              f"(Authorization: Bearer tok-abc123)")


class AlertListener:
    def __init__(self) -> None:
        self.events = []

    @hookimpl
    async def lendline_on_alert_raised(self, event):
        self.events.append(event)


class BrokenAlertListener:
    @hookimpl
    async def lendline_on_alert_raised(self, event):
        raise RuntimeError("pager is down")


EXTRA = [PluginDefinition("flaky_pay", FlakyPay, FlakySettings), PluginDefinition("alert_listener", AlertListener),
         PluginDefinition("broken_alert_listener", BrokenAlertListener)]
ENV = {"FLAKY_KEY": API_KEY}


def flaky_host(*listeners: str):
    plugins = {"flaky_pay": {"api_key": "env:FLAKY_KEY"}} | {name: {} for name in listeners}
    return host_from_dict({"plugins": plugins}, extra=EXTRA, env=ENV, entry_points=False)


async def alerts() -> list[SystemAlert]:
    return await SystemAlert.all().order_by("id")


async def test_a_failing_plugin_call_raises_exactly_one_alert_without_the_secret(db: str) -> None:
    async with plugin_runtime(flaky_host()) as host:
        with pytest.raises(PluginFailure):
            await current_host().disburse("flaky", make_order())
        assert current_host() is host
    (alert,) = await alerts()
    assert (alert.code, alert.source, alert.read) == ("PLUGIN_FAILURE", "plugin:flaky_pay", False)
    assert "flaky_pay" in alert.message and "lendline_payment_disburse" in alert.message
    assert "gateway said 403" in alert.message and "ConnectionError" in alert.message
    assert API_KEY not in alert.message and "tok-abc123" not in alert.message
    assert API_KEY not in str(alert.detail) and "tok-abc123" not in str(alert.detail)
    assert alert.detail["plugin"] == "flaky_pay" and alert.detail["hook"] == "lendline_payment_disburse"
    assert alert.detail["kind"] == "failure" and alert.detail["family"] == "payment"


async def test_repeats_within_a_minute_are_counted_into_the_next_alert(db: str) -> None:
    async with plugin_runtime(flaky_host()) as host:
        for _ in range(3):
            with pytest.raises(PluginFailure):
                await host.disburse("flaky", make_order())
        assert len(await alerts()) == 1
        clock.travel(timedelta(seconds=61))
        with pytest.raises(PluginFailure):
            await host.disburse("flaky", make_order())
    first, second = await alerts()
    assert second.detail["suppressed_since_last_alert"] == 2 and "+2 similar" in second.message
    assert first.detail["suppressed_since_last_alert"] == 0


async def test_alerts_are_announced_to_plugins_and_a_failing_listener_cannot_loop(db: str) -> None:
    # quiet_seconds=0: no folding of repeats, so only the loop guard stands between us and a storm
    async with plugin_runtime(flaky_host("alert_listener", "broken_alert_listener"), quiet_seconds=0) as host:
        with pytest.raises(PluginFailure):
            await host.disburse("flaky", make_order())
        alerts_of: PluginAlerts = host.on_failure  # type: ignore[assignment]
        await asyncio.wait_for(alerts_of.drain(), 5)  # an event loop of alerts would never drain
        listener: AlertListener = host.plugin("alert_listener")  # type: ignore[assignment]
        payment_alert, listener_alert = await alerts()
        assert [e.error_code for e in listener.events] == ["PLUGIN_FAILURE"]
        assert listener.events[0].event_id == f"alert:{payment_alert.id}"
        assert (listener_alert.source, listener_alert.detail["hook"]) == (
            "plugin:broken_alert_listener", "lendline_on_alert_raised")
        # an alert raised elsewhere is announced too, through announce_alert
        announce_alert(await raise_alert("BALANCE_LOW", "余额低于预警线", source="balance_monitor"))
        await asyncio.wait_for(alerts_of.drain(), 5)  # an event loop of alerts would never drain
        assert [e.error_code for e in listener.events] == ["PLUGIN_FAILURE", "BALANCE_LOW"]
    codes = [(a.code, a.source) for a in await alerts()]
    assert codes == [("PLUGIN_FAILURE", "plugin:flaky_pay"), ("PLUGIN_FAILURE", "plugin:broken_alert_listener"),
                     ("BALANCE_LOW", "balance_monitor"), ("PLUGIN_FAILURE", "plugin:broken_alert_listener")]


async def test_without_a_running_host_services_get_a_clear_error_and_tests_can_install_one() -> None:
    with pytest.raises(PluginHostMissing, match="plugin_runtime"):
        current_host()
    host = flaky_host()
    with using_host(host):
        assert current_host() is host
    with pytest.raises(PluginHostMissing):
        current_host()


async def test_the_app_lifespan_starts_one_host_and_closes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "plugins.toml"
    config.write_text("[plugins.sandbox_pay]\n[plugins.sandbox_sms]\n", encoding="utf-8")
    monkeypatch.setenv(ENV_CONFIG_PATH, str(config))
    app = create_app(manage_db=False)
    async with app.router.lifespan_context(app):
        host = current_host()
        assert host.enabled_plugins() == ["sandbox_pay", "sandbox_sms"]
        assert host.payment_providers() == {"sandbox": "sandbox_pay"}
        assert isinstance(host.on_failure, PluginAlerts)
        result = await host.send_sms("13800138000", "balance_low",
                                     {"account": "A", "balance": "1.00", "threshold": "2.00"}, idempotency_key="x")
        assert result.message_id
    assert host.closed
    with pytest.raises(PluginHostMissing):
        current_host()


class SickPay(FlakyPay):
    @hookimpl
    def lendline_health(self):
        raise PermissionError(f"login refused for api_key={self.settings.api_key.reveal()}")


async def test_a_failing_health_check_shows_down_without_the_secret() -> None:
    host = host_from_dict({"plugins": {"sick_pay": {"api_key": "env:FLAKY_KEY"}}},
                          extra=[PluginDefinition("sick_pay", SickPay, FlakySettings)], env=ENV, entry_points=False)
    async with host:
        (status,) = await host.plugin_statuses(only=["sick_pay"])
    assert status.health is not None and status.health.state == "down"
    assert "login refused" in status.health.detail and API_KEY not in status.health.detail
