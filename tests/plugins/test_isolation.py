"""A broken or slow plugin is isolated: typed errors, incidents, and no delay for unrelated calls."""

from __future__ import annotations

import asyncio
import threading
import time
from decimal import Decimal
from typing import ClassVar

import pytest

from plugins import (
    PluginBadResult,
    PluginDefinition,
    PluginFailure,
    PluginTimeout,
    PluginUnavailable,
    hookimpl,
)
from plugins.testkit import make_order, make_subject, make_transaction, running_host
from plugins.types import (
    Classification,
    HealthState,
    IndicatorSpec,
    IndicatorType,
    PaymentResult,
    PaymentStatus,
    RiskFetchResult,
    RiskRequest,
)

FAST = {"payment": 0.5, "detector": 0.3, "event": 0.3, "health": 0.3, "risk": 0.3}
RELEASE = threading.Event()  # lets blocked worker threads finish at teardown


@pytest.fixture(autouse=True)
def _release_blocked_threads():
    RELEASE.clear()
    yield
    RELEASE.set()


class SlowAsyncPay:
    @hookimpl
    def lendline_payment_identifier(self):
        return "slow-async"

    @hookimpl
    async def lendline_payment_disburse(self, order):
        await asyncio.sleep(30)


class BlockingSyncPay:
    """Blocks its worker thread; must not block the event loop."""

    @hookimpl
    def lendline_payment_identifier(self):
        return "blocking"

    @hookimpl
    def lendline_payment_disburse(self, order):
        RELEASE.wait(10)
        return PaymentResult(order.idempotency_key, PaymentStatus.SUCCEEDED)


class RaisingPay:
    @hookimpl
    def lendline_payment_identifier(self):
        return "raising"

    @hookimpl
    async def lendline_payment_disburse(self, order):
        raise ConnectionResetError("peer reset")

    @hookimpl
    async def lendline_payment_deduct(self, order):
        raise SystemExit(3)

    @hookimpl
    async def lendline_payment_query(self, idempotency_key):
        raise TimeoutError("the plugin's own timeout, not the host's")


class MalformedPay:
    @hookimpl
    def lendline_payment_identifier(self):
        return "malformed"

    @hookimpl
    async def lendline_payment_disburse(self, order):
        return {"status": "succeeded"}

    @hookimpl
    async def lendline_payment_deduct(self, order):
        return PaymentResult("someone-else", PaymentStatus.SUCCEEDED)

    @hookimpl
    def lendline_payment_query(self, idempotency_key):
        return PaymentResult(idempotency_key, PaymentStatus.SUCCEEDED, amount=12.5)  # float: raises inside

    @hookimpl
    def lendline_health(self):
        raise RuntimeError("health endpoint down")


class SlowDetector:
    @hookimpl
    async def lendline_detect_diversion(self, transaction):
        await asyncio.sleep(30)


class BrokenDetector:
    @hookimpl
    def lendline_detect_diversion(self, transaction):
        raise KeyError("category table missing")


class WrongDetector:
    @hookimpl
    async def lendline_detect_diversion(self, transaction):
        return "GS"


class AlwaysGS:
    @hookimpl
    async def lendline_detect_diversion(self, transaction):
        return Classification("GS", Decimal("0.5"), "always")


class BatchByAmount:
    """Batch detector: GS for amounts of 100.00 and more; counts its calls."""

    calls: ClassVar[list[int]] = []

    @hookimpl
    async def lendline_detect_diversion_batch(self, transactions):
        BatchByAmount.calls.append(len(transactions))
        return [Classification("GS", Decimal("0.7"), "large") if t.amount >= 100 else None for t in transactions]

    @hookimpl
    async def lendline_detect_diversion(self, transaction):  # never called: the batch form wins
        raise AssertionError("single form called although the batch form exists")


class ShortBatch:
    @hookimpl
    async def lendline_detect_diversion_batch(self, transactions):
        return [None] * (len(transactions) - 1)


class SlowBatch:
    @hookimpl
    async def lendline_detect_diversion_batch(self, transactions):
        await asyncio.sleep(30)


class SyncBatchFDC:
    """A blocking batch detector (runs on the plugin's worker thread): always FDC."""

    @hookimpl
    def lendline_detect_diversion_batch(self, transactions):
        return [Classification("FDC", Decimal("0.5"), "always") for _ in transactions]


EXTRA = [PluginDefinition(n, f) for n, f in [
    ("slow_async_pay", SlowAsyncPay), ("blocking_pay", BlockingSyncPay), ("raising_pay", RaisingPay),
    ("malformed_pay", MalformedPay), ("slow_detector", SlowDetector), ("broken_detector", BrokenDetector),
    ("wrong_detector", WrongDetector), ("always_gs", AlwaysGS), ("batch_by_amount", BatchByAmount),
    ("short_batch", ShortBatch), ("slow_batch", SlowBatch), ("sync_batch_fdc", SyncBatchFDC)]]


def config(*names: str) -> dict:
    return {"plugins": {"sandbox_pay": {}, **{n: {} for n in names}}, "timeouts": FAST}


async def timed(coro):
    started = time.monotonic()
    try:
        return await coro, time.monotonic() - started
    except Exception as exc:
        return exc, time.monotonic() - started


async def test_slow_async_plugin_times_out_without_delaying_unrelated_calls():
    async with running_host(config("slow_async_pay"), extra=EXTRA) as (host, incidents):
        (slow, slow_s), (fast, fast_s) = await asyncio.gather(
            timed(host.disburse("slow-async", make_order())), timed(host.disburse("sandbox", make_order())))
    assert isinstance(slow, PluginTimeout) and slow.plugin == "slow_async_pay"
    assert slow.hook == "lendline_payment_disburse" and 0.45 < slow_s < 2
    assert fast.status is PaymentStatus.SUCCEEDED and fast_s < 0.3
    assert incidents.kinds() == [("slow_async_pay", "lendline_payment_disburse", "timeout")]


async def test_blocking_sync_plugin_runs_in_a_thread_and_times_out():
    async with running_host(config("blocking_pay"), extra=EXTRA) as (host, incidents):
        blocked = asyncio.ensure_future(timed(host.disburse("blocking", make_order())))
        await asyncio.sleep(0.05)  # the blocking call is now sitting in its worker thread
        ticks = 0
        started = time.monotonic()
        while time.monotonic() - started < 0.2:  # the event loop keeps turning meanwhile
            await asyncio.sleep(0.01)
            ticks += 1
        fast, fast_s = await timed(host.disburse("sandbox", make_order()))
        error, blocked_s = await blocked
    assert ticks >= 5
    assert fast.status is PaymentStatus.SUCCEEDED and fast_s < 0.3
    assert isinstance(error, PluginTimeout) and error.plugin == "blocking_pay" and blocked_s < 2
    assert incidents.kinds() == [("blocking_pay", "lendline_payment_disburse", "timeout")]


async def test_exceptions_become_plugin_failures_with_cause_and_incident():
    async with running_host(config("raising_pay"), extra=EXTRA) as (host, incidents):
        with pytest.raises(PluginFailure) as info:
            await host.disburse("raising", make_order())
        with pytest.raises(PluginFailure, match="SystemExit"):
            await host.deduct("raising", make_order())
        with pytest.raises(PluginFailure, match="TimeoutError"):  # the plugin's own, not the host's
            await host.payment_status("raising", "k-1")
    assert info.value.plugin == "raising_pay" and info.value.hook == "lendline_payment_disburse"
    assert isinstance(info.value.__cause__, ConnectionResetError)
    assert [i.kind for i in incidents.incidents] == ["failure"] * 3
    assert incidents.incidents[0].message == "ConnectionResetError: peer reset"


async def test_malformed_results_are_refused():
    async with running_host(config("malformed_pay"), extra=EXTRA) as (host, incidents):
        with pytest.raises(PluginBadResult, match="expected PaymentResult, got dict"):
            await host.disburse("malformed", make_order())
        with pytest.raises(PluginBadResult, match="another idempotency key"):
            await host.deduct("malformed", make_order())
        with pytest.raises(PluginFailure, match="Decimal"):
            await host.payment_status("malformed", "k-1")
        status = {s.name: s for s in await host.plugin_statuses()}["malformed_pay"]
    assert status.health.state is HealthState.DOWN and "health endpoint down" in status.health.detail
    assert [i.kind for i in incidents.incidents] == ["bad_result", "bad_result", "failure", "failure"]


async def test_unknown_provider_identifier_is_unavailable_and_reported():
    async with running_host(config("slow_async_pay"), extra=EXTRA) as (host, incidents):
        with pytest.raises(PluginUnavailable, match="no enabled payment provider has identifier 'nope'"):
            await host.disburse("nope", make_order())
        with pytest.raises(PluginUnavailable, match="does not implement"):
            await host.balance("slow-async", "DISB-001")
    assert incidents.kinds() == [("nope", "lendline_payment_disburse", "unavailable"),
                                 ("slow_async_pay", "lendline_payment_balance", "unavailable")]


async def test_failing_detectors_do_not_hide_other_answers():
    names = ("slow_detector", "broken_detector", "wrong_detector", "always_gs")
    async with running_host(config(*names), extra=EXTRA) as (host, incidents):
        detections, seconds = await timed(host.classify(make_transaction()))
    assert [(d.detector, d.classification.code) for d in detections.items] == [("always_gs", "GS")]
    assert not detections.complete
    assert sorted((e.plugin, e.kind) for e in detections.errors) == [
        ("broken_detector", "failure"), ("slow_detector", "timeout"), ("wrong_detector", "bad_result")]
    assert seconds < 1  # detectors run concurrently: bounded by one detector timeout
    assert len(incidents.incidents) == 3


async def test_classify_many_answers_each_transaction_as_classify_does():
    names = ("slow_detector", "broken_detector", "wrong_detector", "always_gs")
    async with running_host(config(*names), extra=EXTRA) as (host, incidents):
        one = await host.classify(make_transaction())
        many, seconds = await timed(host.classify_many([make_transaction(), make_transaction(), make_transaction()]))
    assert len(many) == 3
    for detections in many:
        assert detections.items == one.items and not detections.complete
        assert [(e.plugin, e.kind) for e in detections.errors] == [(e.plugin, e.kind) for e in one.errors]
    assert seconds < 1  # every (transaction, detector) call at once: bounded by one detector timeout
    assert len(incidents.incidents) == 3 * 4  # each failed call reported, as one by one


async def test_batch_detectors_answer_per_transaction_in_one_call_each():
    BatchByAmount.calls.clear()
    names = ("always_gs", "batch_by_amount", "sync_batch_fdc")
    txs = [make_transaction(serial_no=f"S{i}", amount=Decimal(a)) for i, a in enumerate(("99.99", "100.00", "5.00"))]
    async with running_host(config(*names), extra=EXTRA) as (host, incidents):
        many = await host.classify_many(txs)
        one = await host.classify(txs[1])
    assert BatchByAmount.calls == [3, 1]  # one call for the three, one for `classify`
    assert [[(d.detector, d.classification.code) for d in m.items] for m in many] == [
        [("always_gs", "GS"), ("sync_batch_fdc", "FDC")],
        [("always_gs", "GS"), ("batch_by_amount", "GS"), ("sync_batch_fdc", "FDC")],
        [("always_gs", "GS"), ("sync_batch_fdc", "FDC")]]  # registration order, whichever hook answered
    assert one.items == many[1].items and one.complete
    assert all(m.complete for m in many) and not incidents.incidents


async def test_a_failed_batch_call_leaves_every_transaction_of_the_chunk_pending():
    names = ("always_gs", "short_batch", "slow_batch")
    txs = [make_transaction(serial_no=f"S{i}") for i in range(4)]
    async with running_host(config(*names), extra=EXTRA) as (host, incidents):
        many, seconds = await timed(host.classify_many(txs))
    for detections in many:
        assert [d.detector for d in detections.items] == ["always_gs"] and not detections.complete
        assert sorted((e.plugin, e.kind) for e in detections.errors) == [("short_batch", "bad_result"),
                                                                          ("slow_batch", "timeout")]
    assert "expected 4 answers" in next(e.message for e in many[0].errors if e.plugin == "short_batch")
    assert seconds < 1  # the whole batch call is bounded by one detector timeout
    assert incidents.kinds() == [("short_batch", "lendline_detect_diversion_batch", "bad_result"),
                                 ("slow_batch", "lendline_detect_diversion_batch", "timeout")]  # once per call


async def test_failure_callback_errors_are_contained_and_async_callbacks_awaited():
    seen = []

    async def async_callback(incident):
        await asyncio.sleep(0)
        seen.append(incident.kind)

    def raising_callback(incident):
        raise RuntimeError("alert store down")

    async with running_host(config("raising_pay"), extra=EXTRA) as (host, _):
        host.on_failure = async_callback
        with pytest.raises(PluginFailure):
            await host.disburse("raising", make_order())
        host.on_failure = raising_callback
        with pytest.raises(PluginFailure):  # the callback's own error does not replace the typed one
            await host.disburse("raising", make_order())
    assert seen == ["failure"]


class SloppyRiskSource:
    @hookimpl
    def lendline_risk_indicators(self):
        return [IndicatorSpec("age", IndicatorType.INTEGER), IndicatorSpec("score", IndicatorType.DECIMAL)]

    @hookimpl
    async def lendline_risk_fetch(self, request):
        if request.scene == "extra":
            return RiskFetchResult(values={"age": 30, "income": 1})
        if request.scene == "partial":
            return RiskFetchResult(values={"age": 30})
        return RiskFetchResult(values={"age": "thirty"})


class BrokenCatalogue:
    @hookimpl
    def lendline_risk_indicators(self):
        return ["age"]

    @hookimpl
    async def lendline_risk_fetch(self, request):
        return RiskFetchResult(values={})


async def test_risk_results_are_checked_against_the_declared_catalogue():
    extra = [PluginDefinition("sloppy", SloppyRiskSource), PluginDefinition("broken_catalogue", BrokenCatalogue)]
    async with running_host({"plugins": {"sloppy": {}, "broken_catalogue": {}}}, extra=extra) as (host, incidents):
        assert list(await host.risk_catalogue()) == ["sloppy"]  # the malformed declaration is left out
        with pytest.raises(PluginBadResult, match="'age' must be integer, got str"):
            await host.fetch_risk("sloppy", RiskRequest(make_subject(), ("age",)))
        with pytest.raises(PluginBadResult, match="not requested: income"):
            await host.fetch_risk("sloppy", RiskRequest(make_subject(), ("age",), scene="extra"))
        partial = await host.fetch_risk("sloppy", RiskRequest(make_subject(), ("age", "score"), scene="partial"))
        with pytest.raises(PluginUnavailable, match="does not declare"):
            await host.fetch_risk("broken_catalogue", RiskRequest(make_subject(), ("age",)))
    assert partial.values == {"age": 30, "score": None}
    # the broken declaration is asked again at start, on the catalogue call and before its fetch
    assert [k for k in incidents.kinds() if k[0] == "broken_catalogue"] == [
        ("broken_catalogue", "lendline_risk_indicators", "bad_result")] * 3 + [
        ("broken_catalogue", "lendline_risk_fetch", "unavailable")]
    assert [k[2] for k in incidents.kinds() if k[0] == "sloppy"] == ["bad_result", "bad_result"]
