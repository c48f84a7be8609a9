"""Events, lifecycle, the plugin list, and the hook documentation staying in sync."""

from __future__ import annotations

import datetime as dt
import inspect
from decimal import Decimal

import pytest

from plugins import PluginDefinition, hookimpl, hookspecs
from plugins.docgen import END, GUIDE, START, hook_functions, render
from plugins.testkit import running_host
from plugins.types import (
    AlertRaised,
    BlockSealed,
    Family,
    LoanStateChanged,
    PaymentKind,
    PaymentSettled,
    PaymentStatus,
    ViolationDetected,
)

NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
EVENTS = [
    ("emit_loan_state_changed", LoanStateChanged("ev-1", "LN001", "approved", "disbursed", NOW, actor="u1")),
    ("emit_payment_settled", PaymentSettled("ev-2", "sandbox", "k1", PaymentKind.DISBURSE, Decimal("10.00"),
                                            PaymentStatus.SUCCEEDED, NOW)),
    ("emit_violation_detected", ViolationDetected("ev-3", "V1", "90989", "100013503", "FDC", Decimal("2000.00"),
                                                  Decimal("1400.00"), NOW)),
    ("emit_block_sealed", BlockSealed("ev-4", 470912, "f947", "a1b2", 8, "c3d4", NOW)),
    ("emit_alert_raised", AlertRaised("ev-5", "A0001", "PLUGIN_TIMEOUT", "plugin timed out", NOW)),
]


class Recorder:
    def __init__(self):
        self.seen = []
        self.lifecycle = []

    @hookimpl
    async def lendline_startup(self):
        self.lifecycle.append("start")

    @hookimpl
    def lendline_shutdown(self):
        self.lifecycle.append("stop")

    @hookimpl
    async def lendline_on_loan_state_changed(self, event):
        self.seen.append(event)

    @hookimpl
    def lendline_on_payment_settled(self, event):  # sync listeners work too
        self.seen.append(event)

    @hookimpl
    async def lendline_on_violation_detected(self, event):
        self.seen.append(event)

    @hookimpl
    async def lendline_on_block_sealed(self, event):
        self.seen.append(event)

    @hookimpl
    async def lendline_on_alert_raised(self, event):
        self.seen.append(event)


class BrokenListener:
    @hookimpl
    async def lendline_startup(self):
        raise OSError("cannot reach the message bus")

    @hookimpl
    def lendline_on_block_sealed(self, event):
        raise ValueError("listener bug")


EXTRA = [PluginDefinition("recorder", Recorder), PluginDefinition("broken_listener", BrokenListener)]


async def test_events_reach_every_listener_and_failures_are_reported():
    config = {"plugins": {"recorder": {}, "broken_listener": {}}}
    async with running_host(config, extra=EXTRA) as (host, incidents):
        recorder = host.plugin("recorder")
        errors = [await getattr(host, method)(event) for method, event in EVENTS]
        with pytest.raises(TypeError, match="takes a BlockSealed"):
            await host.emit_block_sealed(EVENTS[0][1])
    assert recorder.seen == [event for _, event in EVENTS]
    assert [len(e) for e in errors] == [0, 0, 0, 1, 0]
    assert errors[3][0].plugin == "broken_listener"
    assert incidents.kinds() == [("broken_listener", "lendline_startup", "failure"),
                                 ("broken_listener", "lendline_on_block_sealed", "failure")]
    assert recorder.lifecycle == ["start", "stop"]


async def test_closed_host_cannot_restart():
    async with running_host({"plugins": {}}) as (host, _):
        pass
    with pytest.raises(RuntimeError, match="closed"):
        await host.start()


async def test_plugin_list_shows_every_known_plugin():
    config = {"plugins": {"sandbox_pay": {}, "recorder": {}, "http_pay": {"enabled": False, "base_url": "http://x",
                                                                         "merchant_id": "M", "secret": "env:S"}}}
    async with running_host(config, extra=EXTRA, entry_points=False) as (host, _):
        statuses = {s.name: s for s in await host.plugin_statuses()}
    assert {"sandbox_pay", "http_pay", "http_risk", "category_detector", "name_list_detector",
            "recorder", "broken_listener"} <= set(statuses)
    sandbox = statuses["sandbox_pay"]
    assert (sandbox.enabled, sandbox.source, sandbox.families, sandbox.payment_identifier) == (
        True, "builtin", (Family.PAYMENT,), "sandbox")
    assert sandbox.health.state == "ok" and sandbox.version
    http = statuses["http_pay"]
    assert (http.enabled, http.installed, http.health, http.families) == (False, True, None, (Family.PAYMENT,))
    assert statuses["recorder"].families == (Family.EVENT,) and statuses["recorder"].health is None


def test_every_hook_is_documented_and_has_a_family():
    names = [name for name, _ in hook_functions()]
    assert set(names) == set(hookspecs.HOOK_FAMILIES)
    for name, fn in hook_functions():
        doc = inspect.getdoc(fn) or ""
        assert doc.startswith("Called"), f"{name}: say when it is called"
        assert "Family:" in doc and ("Return" in doc or "return" in doc), name


def test_plugin_guide_hook_reference_is_current():
    text = GUIDE.read_text(encoding="utf-8")
    current = text[text.index(START): text.index(END) + len(END)]
    assert current == render(), "docs/plugins.md is stale: run `python -m plugins.docgen --write`"
