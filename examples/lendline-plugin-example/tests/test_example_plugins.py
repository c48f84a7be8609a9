"""The example plugins, tested through a real PluginHost with the Lendline test kit."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from decimal import Decimal

from lendline_plugin_example.pay import SIGNATURE_HEADER, TIMESTAMP_HEADER

from plugins.testkit import assert_abstains, assert_classifies, assert_idempotent, make_order
from plugins.types import PaymentKind, PaymentStatus, RawCallback

CONFIG = {"plugins": {"example_pay": {"identifier": "example", "callback_secret": "env:EXAMPLE_SECRET"},
                      "example_keyword_detector": {}}}
ENV = {"EXAMPLE_SECRET": "s3cret"}


async def test_found_by_entry_point_and_routed_by_identifier(plugin_host_factory):
    host = await plugin_host_factory(CONFIG, env=ENV)
    assert host.payment_providers() == {"example": "example_pay"}
    statuses = {s.name: s for s in await host.plugin_statuses()}
    assert statuses["example_pay"].source.startswith("entry-point:lendline-plugin-example")
    assert statuses["example_pay"].version == "0.1.0"


async def test_disbursement_is_idempotent_under_concurrent_repeats(plugin_host_factory):
    host = await plugin_host_factory(CONFIG, env=ENV)
    result = await assert_idempotent(host, "example", make_order(amount=Decimal("1234.56")), repeats=30)
    assert result.status is PaymentStatus.SUCCEEDED
    assert (await host.balance("example", "DISB-001")).available == Decimal("500000.00") - Decimal("1234.56")


async def test_deduct_without_funds_fails_with_reason(plugin_host_factory):
    host = await plugin_host_factory(CONFIG, env=ENV)
    order = make_order(debit_account="BORROWER-9", credit_account="REPAY-001")
    result = await host.deduct("example", order)
    assert result.status is PaymentStatus.FAILED and result.reason_code == "INSUFFICIENT_FUNDS"
    await assert_idempotent(host, "example", order, kind=PaymentKind.DEDUCT, repeats=5)


async def test_callback_signature_is_checked(plugin_host_factory):
    host = await plugin_host_factory(CONFIG, env=ENV)
    order = make_order()
    await host.disburse("example", order)
    body = json.dumps({"idempotency_key": order.idempotency_key, "status": "succeeded",
                       "serial": "EX00000001", "amount": "1000.00"}).encode()
    ts = str(int(dt.datetime.now(dt.UTC).timestamp()))
    good = hmac.new(b"s3cret", ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    ok = await host.verify_callback("example", RawCallback(
        "POST", "/cb", {SIGNATURE_HEADER: good, TIMESTAMP_HEADER: ts}, body))
    forged = await host.verify_callback("example", RawCallback(
        "POST", "/cb", {SIGNATURE_HEADER: "0" * 64, TIMESTAMP_HEADER: ts}, body))
    assert ok.accepted and ok.payment.idempotency_key == order.idempotency_key
    assert not forged.accepted and forged.reason == "bad signature"


async def test_detector_by_channel_and_memo(plugin_host_factory, txn_factory):
    host = await plugin_host_factory(CONFIG, env=ENV)
    await assert_classifies(host, txn_factory(channel="securities_transfer"), "GS",
                            detector="example_keyword_detector", min_confidence=Decimal("0.9"))
    await assert_classifies(host, txn_factory(memo="首付款 房号 3-1201"), "FDC", detector="example_keyword_detector")
    await assert_abstains(host, txn_factory(memo="午餐"), detector="example_keyword_detector")
